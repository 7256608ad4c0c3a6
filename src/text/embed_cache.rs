//! Prompt embeddings cached on disk, so a repeated prompt never loads the text encoder again.
//!
//! An entry is named by a BLAKE3 hash of what decides the embeddings: the content of every graph
//! of the text encoder's chain, the device and ONNX Runtime library (the key the optimised-graph cache computes,
//! with its index of file hashes kept here), the package's text-encoder settings, and the token
//! ids and mask of the whole batch (prompt, then negative prompt), which carry the max length.
//! The batch is cached as encoded, so a cached run is bit-identical to an uncached one.
//!
//! An entry is `KINOEMB1`, its key, the shape `[B, L, D]` (u32 little-endian), the values (f32
//! little-endian) and a BLAKE3 checksum of all that; it is written through a temporary file and
//! a rename. An entry that is short, of another shape or fails its checksum is ignored (and
//! replaced by the next write), never trusted. The folder is bounded: past its budget the least
//! recently used entries are removed.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use ndarray::Array3;

use crate::runtime::{cache, Device};
use crate::text::TokenBatch;

/// The folder's size budget unless the caller gives another.
pub const DEFAULT_BUDGET: u64 = 256 << 20;
const MAGIC: &[u8; 8] = b"KINOEMB1";
const HEADER: usize = 8 + 32 + 12;
const SUFFIX: &str = ".emb";
/// Temporary files older than this belong to dead processes.
const STALE: Duration = Duration::from_secs(3600);

/// The on-disk cache of one folder.
pub struct EmbeddingStore {
    dir: PathBuf,
    budget: u64,
}

/// One batch's entry name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EmbeddingKey([u8; 32]);

impl EmbeddingStore {
    pub fn new(dir: PathBuf, budget: u64) -> Self {
        EmbeddingStore { dir, budget }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The key of `tokens` encoded by the chain of graphs `graphs` (in run order) on `device`
    /// with `library`; `settings` holds whatever else of the package changes the output (its
    /// text-encoder spec). `None` when a graph cannot be read (the load will say why).
    pub fn key(
        &self,
        graphs: &[PathBuf],
        device: Device,
        library: Option<&Path>,
        settings: &str,
        tokens: &TokenBatch,
    ) -> Option<EmbeddingKey> {
        let mut h = blake3::Hasher::new();
        for graph in graphs {
            let entry = match cache::entry(&self.dir, graph, device, library) {
                Ok(e) => e,
                Err(e) => {
                    log::debug!("prompt embeddings not cached: {e}");
                    return None;
                }
            };
            // The entry's name holds the hash of the graph's content, its data's, device and library.
            h.update(entry.graph.file_name().map(|n| n.as_encoded_bytes()).unwrap_or_default());
            h.update(b"\n");
        }
        h.update(settings.as_bytes());
        let (batch, len) = tokens.ids.dim();
        for n in [batch, len, tokens.ids.len()] {
            h.update(&(n as u64).to_le_bytes());
        }
        for v in tokens.ids.iter().chain(tokens.mask.iter()) {
            h.update(&v.to_le_bytes());
        }
        Some(EmbeddingKey(*h.finalize().as_bytes()))
    }

    fn path(&self, key: &EmbeddingKey) -> PathBuf {
        self.dir.join(format!("{}{SUFFIX}", blake3::Hash::from(key.0).to_hex()))
    }

    /// The cached embeddings `[batch, len, dim]` for `key`, if a sound entry of that shape is there.
    pub fn get(&self, key: &EmbeddingKey, batch: usize, len: usize, dim: usize) -> Option<Array3<f32>> {
        let path = self.path(key);
        let values = batch.checked_mul(len)?.checked_mul(dim)?;
        let size = HEADER.checked_add(values.checked_mul(4)?)?.checked_add(32)?;
        let meta = std::fs::metadata(&path).ok()?;
        if meta.len() != size as u64 {
            if meta.is_file() {
                log::warn!("ignoring the cached prompt embeddings {} (wrong size)", path.display());
            }
            return None;
        }
        let bytes = std::fs::read(&path).ok()?;
        match decode(&bytes, key, [batch, len, dim]) {
            Some(a) => {
                cache::touch(&path);
                Some(a)
            }
            None => {
                log::warn!("ignoring the cached prompt embeddings {} (damaged)", path.display());
                None
            }
        }
    }

    /// Saves `embeds` under `key`, then trims the folder to its budget. Failures only cost speed.
    pub fn put(&self, key: &EmbeddingKey, embeds: &Array3<f32>) {
        let bytes = encode(key, embeds);
        if bytes.len() as u64 > self.budget {
            return;
        }
        let path = self.path(key);
        if let Err(e) = write_atomic(&self.dir, &path, &bytes) {
            log::warn!("cannot cache prompt embeddings in {} ({e})", self.dir.display());
            return;
        }
        evict(&self.dir, self.budget, &path);
    }
}

fn encode(key: &EmbeddingKey, embeds: &Array3<f32>) -> Vec<u8> {
    let (b, l, d) = embeds.dim();
    let mut out = Vec::with_capacity(HEADER + 4 * embeds.len() + 32);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&key.0);
    for n in [b, l, d] {
        out.extend_from_slice(&(n as u32).to_le_bytes());
    }
    // Iterating in logical order writes standard layout whatever the array's strides.
    for v in embeds.iter() {
        out.extend_from_slice(&v.to_le_bytes());
    }
    let sum = blake3::hash(&out);
    out.extend_from_slice(sum.as_bytes());
    out
}

fn decode(bytes: &[u8], key: &EmbeddingKey, shape: [usize; 3]) -> Option<Array3<f32>> {
    let (body, sum) = bytes.split_at(bytes.len().checked_sub(32)?);
    if blake3::hash(body).as_bytes() != sum || body.get(..8)? != MAGIC || body.get(8..40)? != key.0 {
        return None;
    }
    let dims: Vec<usize> = body.get(40..HEADER)?.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as usize).collect();
    if dims != shape {
        return None;
    }
    let values: Vec<f32> = body[HEADER..].chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    Array3::from_shape_vec((shape[0], shape[1], shape[2]), values).ok()
}

fn write_atomic(dir: &Path, dest: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let name = dest.file_name().unwrap_or_default().to_string_lossy().into_owned();
    let tmp = dir.join(cache::temp_name(&name));
    let result = std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, dest));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Removes the least recently used entries until the folder's entries are within `budget`,
/// never `keep`; also stale temporary files.
fn evict(dir: &Path, budget: u64, keep: &Path) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    let now = SystemTime::now();
    let mut entries = Vec::new();
    for e in rd.flatten() {
        let (path, name) = (e.path(), e.file_name().to_string_lossy().into_owned());
        let Ok(meta) = e.metadata() else { continue };
        let used = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        if name.starts_with('.') && name.ends_with(".tmp") {
            if now.duration_since(used).unwrap_or_default() > STALE {
                let _ = std::fs::remove_file(&path);
            }
        } else if name.ends_with(SUFFIX) {
            entries.push((used, meta.len(), path));
        }
    }
    let mut total: u64 = entries.iter().map(|e| e.1).sum();
    entries.sort();
    for (_, bytes, path) in entries {
        if total <= budget {
            break;
        }
        if path != keep && std::fs::remove_file(&path).is_ok() {
            total = total.saturating_sub(bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("kino-embeds-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn tokens(ids: &[i64]) -> TokenBatch {
        TokenBatch {
            ids: ndarray::Array2::from_shape_vec((1, ids.len()), ids.to_vec()).unwrap(),
            mask: ndarray::Array2::ones((1, ids.len())),
            truncated: vec![],
        }
    }

    #[test]
    fn entries_round_trip_and_damage_is_ignored() {
        let dir = temp("round");
        let store = EmbeddingStore::new(dir.clone(), DEFAULT_BUDGET);
        let graph = [Path::new(env!("CARGO_MANIFEST_DIR")).join("models/kino-shapes/text_encoder.onnx")];
        let key = store.key(&graph, Device::Cpu, None, "spec", &tokens(&[1, 2, 3])).unwrap();
        assert_ne!(Some(key), store.key(&graph, Device::Cpu, None, "spec", &tokens(&[1, 2, 4])), "other ids, other entry");
        assert_ne!(Some(key), store.key(&graph, Device::Cpu, None, "other spec", &tokens(&[1, 2, 3])));
        let e = Array3::from_shape_fn((1, 3, 2), |(_, l, d)| l as f32 + 0.5 * d as f32);
        assert!(store.get(&key, 1, 3, 2).is_none());
        store.put(&key, &e);
        assert_eq!(store.get(&key, 1, 3, 2), Some(e.clone()));
        assert!(store.get(&key, 1, 2, 3).is_none(), "another shape is never trusted");
        // A flipped value, then a truncated file: both ignored, and the next write repairs them.
        let path = store.path(&key);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[HEADER + 1] ^= 0x40;
        std::fs::write(&path, &bytes).unwrap();
        assert!(store.get(&key, 1, 3, 2).is_none());
        std::fs::write(&path, &bytes[..bytes.len() - 5]).unwrap();
        assert!(store.get(&key, 1, 3, 2).is_none());
        store.put(&key, &e);
        assert_eq!(store.get(&key, 1, 3, 2), Some(e));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_key_covers_every_graph_of_the_chain() {
        let dir = temp("chain");
        let store = EmbeddingStore::new(dir.join("cache"), DEFAULT_BUDGET);
        let te = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/kino-shapes/text_encoder.onnx");
        let stage = dir.join("text_encoder_1.onnx");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(&te, &stage).unwrap();
        let key = |graphs: &[PathBuf]| store.key(graphs, Device::Cpu, None, "spec", &tokens(&[1, 2])).unwrap();
        let (one, two) = (key(std::slice::from_ref(&te)), key(&[te.clone(), stage.clone()]));
        assert_ne!(one, two, "a second graph changes the key");
        assert_eq!(two, key(&[te.clone(), stage.clone()]));
        // The later stage's content changes: another key.
        let mut bytes = std::fs::read(&stage).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&stage, &bytes).unwrap();
        assert_ne!(two, key(&[te, stage]));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_folder_keeps_to_its_budget_least_recently_used_first() {
        let dir = temp("budget");
        let e = Array3::<f32>::zeros((1, 16, 16)); // 1 KiB of values
        let size = (HEADER + 4 * e.len() + 32) as u64;
        let store = EmbeddingStore::new(dir.clone(), 2 * size);
        let keys: Vec<EmbeddingKey> = (0..3u8).map(|i| EmbeddingKey([i; 32])).collect();
        store.put(&keys[0], &e);
        store.put(&keys[1], &e);
        // Make entry 0 the older one, then use it: entry 1 is now the least recently used.
        let old = SystemTime::now() - Duration::from_secs(100);
        std::fs::File::options().write(true).open(store.path(&keys[1])).unwrap().set_modified(old).unwrap();
        assert!(store.get(&keys[0], 1, 16, 16).is_some());
        store.put(&keys[2], &e);
        let present: Vec<bool> = keys.iter().map(|k| store.path(k).exists()).collect();
        assert_eq!(present, [true, false, true]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
