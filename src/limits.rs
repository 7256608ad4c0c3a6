//! Caps on what kino reads from users' files, so a small hostile file (a PNG whose header claims
//! 16000x16000, a clip of endless 8K frames held whole) cannot make kino or its host allocate
//! gigabytes. The caps are checked against a file's declared size before anything is decoded.

/// The largest width or height kino reads (8K). Larger frames are refused before decoding.
pub const MAX_INPUT_SIDE: u32 = 8192;

/// The largest frame in pixels (8192 x 8192); FFmpeg's decoders are told it too (`max_pixels`),
/// so they refuse a larger frame before allocating it.
pub const MAX_INPUT_PIXELS: u64 = MAX_INPUT_SIDE as u64 * MAX_INPUT_SIDE as u64;

/// The most RGB bytes `decode_video` holds at once (about 200 frames of 1920x1080). Longer clips
/// are read frame by frame with `VideoReader`, which holds one.
pub const MAX_DECODED_BYTES: u64 = 1 << 30;

/// `Err` with a one-line reason when a `width` x `height` frame is over the caps.
pub fn check_frame_size(width: u32, height: u32) -> Result<(), String> {
    if width > MAX_INPUT_SIDE || height > MAX_INPUT_SIDE {
        return Err(format!(
            "is {width}x{height} pixels, larger than kino reads (at most {MAX_INPUT_SIDE}x{MAX_INPUT_SIDE}); scale it down first"
        ));
    }
    Ok(())
}

/// The frame size a still image's header declares, read from its first bytes without decoding
/// anything: PNG, JPEG, GIF, BMP and WebP. `None` for other formats or a header too short to say.
/// FFmpeg decodes a still while probing it, so this is the only check before its allocation.
pub fn declared_image_size(head: &[u8]) -> Option<(u32, u32)> {
    let be32 = |i: usize| head.get(i..i + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    let le16 = |i: usize| head.get(i..i + 2).map(|b| u16::from_le_bytes([b[0], b[1]]) as u32);
    let le24 = |i: usize| head.get(i..i + 3).map(|b| u32::from_le_bytes([b[0], b[1], b[2], 0]));
    let le32 = |i: usize| head.get(i..i + 4).map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]).unsigned_abs());
    if head.starts_with(b"\x89PNG\r\n\x1a\n") && head.get(12..16) == Some(b"IHDR") {
        return Some((be32(16)?, be32(20)?));
    }
    if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
        return Some((le16(6)?, le16(8)?));
    }
    if head.starts_with(b"BM") {
        // An OS/2 core header holds 16-bit sizes; the others 32-bit, the height negative for
        // top-down bitmaps.
        if le32(14)? == 12 {
            return Some((le16(18)?, le16(20)?));
        }
        return Some((le32(18)?, le32(22)?));
    }
    if head.starts_with(b"RIFF") && head.get(8..12) == Some(b"WEBP") {
        return match head.get(12..16)? {
            b"VP8 " => Some((le16(26)? & 0x3fff, le16(28)? & 0x3fff)),
            b"VP8L" => {
                let b = le32(21)?;
                Some(((b & 0x3fff) + 1, ((b >> 14) & 0x3fff) + 1))
            }
            b"VP8X" => Some((le24(24)? + 1, le24(27)? + 1)),
            _ => None,
        };
    }
    if head.starts_with(&[0xff, 0xd8]) {
        return jpeg_size(head);
    }
    None
}

/// Walks a JPEG's marker segments to its start-of-frame, which holds the size.
fn jpeg_size(head: &[u8]) -> Option<(u32, u32)> {
    let mut i = 2;
    loop {
        // Markers may be padded with any number of 0xff bytes.
        while *head.get(i)? == 0xff && *head.get(i + 1)? == 0xff {
            i += 1;
        }
        if *head.get(i)? != 0xff {
            return None;
        }
        let marker = *head.get(i + 1)?;
        // Markers without a length; and the scan's start means no size came before it.
        if marker == 0x01 || (0xd0..=0xd9).contains(&marker) {
            i += 2;
            continue;
        }
        if marker == 0xda {
            return None;
        }
        let len = u16::from_be_bytes([*head.get(i + 2)?, *head.get(i + 3)?]) as usize;
        // SOF0..SOF15, except DHT (c4), JPG (c8) and DAC (cc).
        if (0xc0..=0xcf).contains(&marker) && ![0xc4, 0xc8, 0xcc].contains(&marker) {
            let h = u16::from_be_bytes([*head.get(i + 5)?, *head.get(i + 6)?]) as u32;
            let w = u16::from_be_bytes([*head.get(i + 7)?, *head.get(i + 8)?]) as u32;
            return Some((w, h));
        }
        if len < 2 {
            return None;
        }
        i += 2 + len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_are_8k() {
        assert!(check_frame_size(8192, 8192).is_ok());
        assert!(check_frame_size(1, 1).is_ok());
        let e = check_frame_size(16000, 16000).unwrap_err();
        assert!(e.contains("16000x16000") && e.contains("8192x8192"), "{e}");
        assert!(check_frame_size(8193, 10).is_err());
        assert!(check_frame_size(10, 8193).is_err());
    }

    #[test]
    fn headers_declare_sizes_without_decoding() {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        png.extend_from_slice(&16000u32.to_be_bytes());
        png.extend_from_slice(&9000u32.to_be_bytes());
        assert_eq!(declared_image_size(&png), Some((16000, 9000)));
        assert_eq!(declared_image_size(&png[..20]), None);
        assert_eq!(declared_image_size(b"GIF89a\x21\x00\x11\x00"), Some((33, 17)));
        // A JPEG with an APP0 segment before its baseline start-of-frame.
        let jpeg = [0xff, 0xd8, 0xff, 0xe0, 0, 4, 0, 0, 0xff, 0xc0, 0, 11, 8, 0x01, 0x00, 0x02, 0x00];
        assert_eq!(declared_image_size(&jpeg), Some((512, 256)));
        assert_eq!(declared_image_size(&jpeg[..14]), None);
        assert_eq!(declared_image_size(b"not an image at all"), None);
        assert_eq!(declared_image_size(b""), None);
    }

    #[test]
    fn sizes_read_from_real_files_match() {
        let dir = std::env::temp_dir().join(format!("kino-limits-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, extra) in [("a.png", ""), ("a.jpg", ""), ("a.gif", ""), ("a.bmp", ""), ("a.webp", ""), ("b.webp", "-lossless 1")] {
            let path = dir.join(name);
            let ok = std::process::Command::new("ffmpeg")
                .args(["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=33x17", "-frames:v", "1"])
                .args(extra.split_whitespace())
                .arg(&path)
                .status()
                .expect("ffmpeg is installed (scripts/setup.sh)");
            assert!(ok.success(), "{name}");
            assert_eq!(declared_image_size(&std::fs::read(&path).unwrap()), Some((33, 17)), "{name}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
