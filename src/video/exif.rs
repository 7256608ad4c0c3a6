//! The EXIF orientation of a PNG (its `eXIf` chunk), which FFmpeg's PNG decoder does not export
//! (its JPEG decoder does, as a display matrix). Phones and editors write it; browsers honour it.

use std::io::Read;
use std::path::Path;

use super::decode::Orientation;

/// Bytes read from a PNG's start: `eXIf` must come before the image data, and is small.
const HEAD_BYTES: u64 = 1 << 20;

/// The orientation a PNG file's `eXIf` chunk declares, if it is a PNG with one (before its
/// first `IDAT`, as the PNG spec requires). Anything malformed reads as none.
pub(super) fn png_orientation(path: &Path) -> Option<Orientation> {
    let mut head = Vec::new();
    std::fs::File::open(path).ok()?.take(HEAD_BYTES).read_to_end(&mut head).ok()?;
    let mut rest = head.strip_prefix(b"\x89PNG\r\n\x1a\n")?;
    while rest.len() >= 8 {
        let len = u32::from_be_bytes(rest[..4].try_into().ok()?) as usize;
        let (kind, body) = (&rest[4..8], rest.get(8..8 + len)?);
        match kind {
            b"eXIf" => return tiff_orientation(body).and_then(Orientation::from_exif),
            b"IDAT" | b"IEND" => return None,
            _ => rest = rest.get(8 + len + 4..)?,
        }
    }
    None
}

/// Tag 0x0112 of a TIFF structure's first IFD (EXIF's layout), if it is there as one SHORT.
fn tiff_orientation(tiff: &[u8]) -> Option<u16> {
    let little = match tiff.get(..4)? {
        b"II*\0" => true,
        b"MM\0*" => false,
        _ => return None,
    };
    let u16_at =
        |i: usize| tiff.get(i..i + 2).map(|b| if little { u16::from_le_bytes([b[0], b[1]]) } else { u16::from_be_bytes([b[0], b[1]]) });
    let u32_at = |i: usize| {
        tiff.get(i..i + 4).map(|b| {
            if little {
                u32::from_le_bytes([b[0], b[1], b[2], b[3]])
            } else {
                u32::from_be_bytes([b[0], b[1], b[2], b[3]])
            }
        })
    };
    let ifd = u32_at(4)? as usize;
    let entries = u16_at(ifd)? as usize;
    (0..entries).map(|k| ifd + 2 + 12 * k).find_map(|e| {
        // tag, type 3 (SHORT), count 1, the value in the first two bytes of the value field.
        (u16_at(e)? == 0x0112 && u16_at(e + 2)? == 3 && u32_at(e + 4)? == 1).then(|| u16_at(e + 8)).flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A TIFF header and IFD0 with one Orientation entry.
    fn tiff(value: u16, little: bool) -> Vec<u8> {
        let w16 = |v: u16| if little { v.to_le_bytes() } else { v.to_be_bytes() };
        let w32 = |v: u32| if little { v.to_le_bytes() } else { v.to_be_bytes() };
        let mut t = if little { b"II*\0".to_vec() } else { b"MM\0*".to_vec() };
        t.extend(
            w32(8).into_iter().chain(w16(1)).chain(w16(0x0112)).chain(w16(3)).chain(w32(1)).chain(w16(value)).chain([0, 0]).chain(w32(0)),
        );
        t
    }

    #[test]
    fn orientation_is_read_from_either_byte_order_and_malformed_data_is_none() {
        assert_eq!(tiff_orientation(&tiff(6, true)), Some(6));
        assert_eq!(tiff_orientation(&tiff(8, false)), Some(8));
        assert_eq!(Orientation::from_exif(6), Some(Orientation::Clockwise));
        assert_eq!(Orientation::from_exif(9), None);
        let t = tiff(6, true);
        for cut in 0..t.len() - 6 {
            assert_eq!(tiff_orientation(&t[..cut]), None, "cut at {cut}");
        }
        assert_eq!(tiff_orientation(b"JUNKJUNKJUNK"), None);
    }
}
