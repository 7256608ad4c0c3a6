//! The external data files an ONNX graph names, read from its protobuf without loading it.
//!
//! A graph over 2 GB keeps its weights in files beside it (`model.onnx.data`, Optimum's
//! `model.onnx_data`, or one file per tensor); each tensor says where in its `external_data`
//! entries. kino reads those names before ONNX Runtime opens anything, so a package can be
//! checked to stay inside its folder, a missing file is named, and the optimised-graph cache
//! can key on the data's content. The same walk counts the half-precision weights, which ONNX
//! Runtime holds as float32 on the CPU (the memory estimate counts them twice). Only the message
//! structure is walked: tensor bytes are skipped with seeks, so a 2 GB graph costs a few reads.

use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::Path;

/// Nesting kino follows (graphs inside attributes inside nodes inside graphs): far beyond real
/// models' If/Loop bodies, small enough that a hostile file cannot recurse without end.
const MAX_DEPTH: usize = 24;
/// Distinct external files one graph may name.
const MAX_FILES: usize = 4096;
/// Longest `external_data` entry kino reads (a key and a relative path).
const MAX_ENTRY: u64 = 64 * 1024;

/// Where each message kind keeps the fields that can hold tensors (onnx.proto3 field numbers).
#[derive(Clone, Copy)]
enum Kind {
    Model,
    Graph,
    Node,
    Attribute,
    Tensor,
    SparseTensor,
    Function,
}

impl Kind {
    fn child(self, field: u64) -> Option<Kind> {
        use Kind::*;
        match (self, field) {
            (Model, 7) => Some(Graph),
            (Model, 25) => Some(Function),
            (Graph, 1) | (Function, 7) => Some(Node),
            (Graph, 5) | (Attribute, 5) | (Attribute, 10) | (SparseTensor, 1) | (SparseTensor, 2) => Some(Tensor),
            (Graph, 15) | (Attribute, 22) | (Attribute, 23) => Some(SparseTensor),
            (Node, 5) => Some(Attribute),
            (Attribute, 6) | (Attribute, 11) => Some(Graph),
            _ => None,
        }
    }
}

struct Walker<R> {
    r: R,
    pos: u64,
    files: Vec<String>,
    half_bytes: u64,
}

/// TensorProto.DataType values of 2-byte floats: FLOAT16 and BFLOAT16.
const HALF_TYPES: [u64; 2] = [10, 16];

impl<R: Read + Seek> Walker<R> {
    fn byte(&mut self) -> Result<u8, String> {
        let mut b = [0u8];
        self.r.read_exact(&mut b).map_err(|e| format!("truncated protobuf at byte {} ({e})", self.pos))?;
        self.pos += 1;
        Ok(b[0])
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= ((b & 0x7f) as u64) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(format!("malformed varint at byte {}", self.pos))
    }

    fn skip(&mut self, n: u64, end: u64) -> Result<(), String> {
        if self.pos + n > end {
            return Err(format!("a field at byte {} runs past its message", self.pos));
        }
        let n = i64::try_from(n).map_err(|_| "field too long".to_string())?;
        // seek_relative keeps BufReader's buffer when the target is inside it.
        self.r.seek_relative(n).map_err(|e| e.to_string())?;
        self.pos += n as u64;
        Ok(())
    }

    /// Walks one message of `kind` that ends at byte `end`.
    fn message(&mut self, kind: Kind, end: u64, depth: usize) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err(format!("graphs nested deeper than {MAX_DEPTH}"));
        }
        let (mut location, mut external) = (None, false);
        let (mut data_type, mut elements) = (0u64, 1u64);
        while self.pos < end {
            let tag = self.varint()?;
            let (field, wire) = (tag >> 3, tag & 7);
            // Field 0 does not exist in protobuf: this is not an ONNX file (a run of zero bytes
            // would otherwise be walked two bytes at a time).
            if field == 0 {
                return Err(format!("not an ONNX protobuf (field number 0 at byte {})", self.pos));
            }
            match wire {
                0 => {
                    let v = self.varint()?;
                    // TensorProto: 14 data_location (1 is EXTERNAL), 2 data_type, 1 dims.
                    if matches!(kind, Kind::Tensor) {
                        match field {
                            14 => external = v == 1,
                            2 => data_type = v,
                            1 => elements = elements.saturating_mul(v),
                            _ => {}
                        }
                    }
                }
                1 => self.skip(8, end)?,
                5 => self.skip(4, end)?,
                2 => {
                    let len = self.varint()?;
                    let child_end = self
                        .pos
                        .checked_add(len)
                        .filter(|&e| e <= end)
                        .ok_or_else(|| format!("a field at byte {} runs past its message", self.pos))?;
                    if matches!(kind, Kind::Tensor) && field == 13 {
                        if let Some(l) = self.entry(len)? {
                            location = Some(l);
                        }
                    } else if matches!(kind, Kind::Tensor) && field == 1 {
                        // packed dims
                        while self.pos < child_end {
                            elements = elements.saturating_mul(self.varint()?);
                        }
                        if self.pos != child_end {
                            return Err(format!("packed dims end past byte {child_end}"));
                        }
                    } else if let Some(child) = kind.child(field) {
                        self.message(child, child_end, depth + 1)?;
                    } else {
                        self.skip(len, end)?;
                    }
                }
                _ => return Err(format!("unknown wire type {wire} at byte {}", self.pos)),
            }
        }
        if self.pos != end {
            return Err(format!("a message ends past byte {end}"));
        }
        if matches!(kind, Kind::Tensor) && HALF_TYPES.contains(&data_type) {
            self.half_bytes = self.half_bytes.saturating_add(elements.saturating_mul(2));
        }
        if let (true, Some(l)) = (external, location) {
            if !self.files.contains(&l) {
                if self.files.len() >= MAX_FILES {
                    return Err(format!("more than {MAX_FILES} external data files"));
                }
                self.files.push(l);
            }
        }
        Ok(())
    }

    /// One `StringStringEntryProto` of `external_data`: the value when the key is `location`.
    fn entry(&mut self, len: u64) -> Result<Option<String>, String> {
        if len > MAX_ENTRY {
            return Err(format!("an external_data entry of {len} bytes"));
        }
        let mut buf = vec![0u8; len as usize];
        self.r.read_exact(&mut buf).map_err(|e| format!("truncated protobuf ({e})"))?;
        self.pos += len;
        let mut e = Walker { r: std::io::Cursor::new(buf), pos: 0, files: Vec::new(), half_bytes: 0 };
        let (mut key, mut value) = (None, None);
        while e.pos < len {
            let tag = e.varint()?;
            match tag & 7 {
                0 => drop(e.varint()?),
                1 => e.skip(8, len)?,
                5 => e.skip(4, len)?,
                2 => {
                    let n = e.varint()?;
                    if e.pos.checked_add(n).is_none_or(|end| end > len) {
                        return Err("an external_data entry runs past its message".into());
                    }
                    let mut s = vec![0u8; n as usize];
                    e.r.read_exact(&mut s).map_err(|err| err.to_string())?;
                    e.pos += n;
                    let s = String::from_utf8(s).map_err(|_| "an external_data entry that is not UTF-8".to_string())?;
                    match tag >> 3 {
                        1 => key = Some(s),
                        2 => value = Some(s),
                        _ => {}
                    }
                }
                w => return Err(format!("unknown wire type {w} in an external_data entry")),
            }
        }
        Ok(if key.as_deref() == Some("location") { value } else { None })
    }
}

/// The external data files `graph` names (as written in it, relative to its folder), in order of
/// first use; empty for a self-contained graph. Errors say why the file is not a readable ONNX
/// protobuf.
pub fn external_data_files(graph: &Path) -> Result<Vec<String>, String> {
    Ok(walk(graph)?.files)
}

/// Bytes of `graph`'s float16 and bfloat16 tensors (initializers and constants, inline or
/// external): what ONNX Runtime's CPU provider holds again as float32 (twice as many bytes) once
/// it has optimised the graph.
pub fn half_precision_bytes(graph: &Path) -> Result<u64, String> {
    Ok(walk(graph)?.half_bytes)
}

fn walk(graph: &Path) -> Result<Walker<BufReader<File>>, String> {
    let file = File::open(graph).map_err(|e| e.to_string())?;
    let len = file.metadata().map_err(|e| e.to_string())?.len();
    let mut w = Walker { r: BufReader::with_capacity(64 * 1024, file), pos: 0, files: Vec::new(), half_bytes: 0 };
    w.message(Kind::Model, len, 0)?;
    Ok(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(name)
    }

    #[test]
    fn self_contained_graphs_name_no_files() {
        assert_eq!(external_data_files(&fixture("models/kino-shapes/denoiser.onnx")).unwrap(), Vec::<String>::new());
        assert_eq!(external_data_files(&fixture("models/fixtures/wan-tiny/vae_decoder_step.onnx")).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn finds_optimums_data_name() {
        assert_eq!(external_data_files(&fixture("tests/fixtures/external-data/model.onnx")).unwrap(), vec!["model.onnx_data".to_string()]);
    }

    fn varint(mut v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return out;
            }
            out.push(b | 0x80);
        }
    }

    fn scalar(field: u64, v: u64) -> Vec<u8> {
        [varint(field << 3), varint(v)].concat()
    }

    fn bytes(field: u64, b: &[u8]) -> Vec<u8> {
        [varint(field << 3 | 2), varint(b.len() as u64), b.to_vec()].concat()
    }

    /// A TensorProto: dims unpacked (proto2, as onnx writes them) or packed, inline or external.
    fn tensor(dims: &[u64], data_type: u64, packed: bool, external: Option<&str>) -> Vec<u8> {
        let mut t = if packed {
            bytes(1, &dims.iter().flat_map(|d| varint(*d)).collect::<Vec<_>>())
        } else {
            dims.iter().flat_map(|d| scalar(1, *d)).collect()
        };
        t.extend(scalar(2, data_type));
        t.extend(bytes(8, b"w"));
        let n: u64 = dims.iter().product::<u64>() * if data_type == 1 { 4 } else { 2 };
        match external {
            Some(loc) => {
                t.extend(bytes(13, &[bytes(1, b"location"), bytes(2, loc.as_bytes())].concat()));
                t.extend(scalar(14, 1));
            }
            None => t.extend(bytes(9, &vec![0u8; n as usize])),
        }
        t
    }

    #[test]
    fn counts_half_precision_weights_inline_and_external() {
        let graph = [
            bytes(5, &tensor(&[3, 4], 10, false, None)),         // float16, 24 bytes
            bytes(5, &tensor(&[5], 1, false, None)),             // float32: not counted
            bytes(5, &tensor(&[2, 2], 16, true, Some("w.bin"))), // bfloat16, external, 8 bytes
        ]
        .concat();
        let dir = std::env::temp_dir().join(format!("kino-half-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("g.onnx");
        std::fs::write(&p, bytes(7, &graph)).unwrap();
        assert_eq!(half_precision_bytes(&p).unwrap(), 32);
        assert_eq!(external_data_files(&p).unwrap(), vec!["w.bin".to_string()]);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(half_precision_bytes(&fixture("models/fixtures/wan-tiny/denoiser.onnx")).unwrap(), 0);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let dir = std::env::temp_dir().join(format!("kino-ext-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (i, bytes) in [&b"\x3a\xff\xff\xff\xff\x0f"[..], b"\x07", b"\x3a\x02\x2a\x80", b"not onnx at all"].iter().enumerate() {
            let p = dir.join(format!("{i}.onnx"));
            std::fs::write(&p, bytes).unwrap();
            assert!(external_data_files(&p).is_err(), "{bytes:?}");
        }
        // A sparse 1 TiB of zeros is refused at its first byte, not walked.
        let zeros = dir.join("zeros.onnx");
        std::fs::File::create(&zeros).unwrap().set_len(1 << 40).unwrap();
        assert!(external_data_files(&zeros).unwrap_err().contains("field number 0"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
