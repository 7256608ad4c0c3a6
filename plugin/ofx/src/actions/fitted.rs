//! Source frames fitted to the model's size, remembered by their content. Hosts render the same
//! times again and again, and Kino Remix reads every model frame of its clip (Bridge and Extend
//! their context) at each rendered time: fitting a large frame down to the model's size is the
//! costly part of that read, so it is done once per distinct frame. The key is the frame's own
//! pixels (a hash), so a source that changed upstream is never served stale.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use kino::frame::{Fit, PixelAspect};
use kino::RgbFrame;

/// (hash of the pixels, source size, the shape of its pixels, target size, fit).
type Key = ([u8; 32], (u32, u32), PixelAspect, (u32, u32), Fit);

/// At most this many bytes of fitted frames are kept; past it the cache starts over.
const MAX_BYTES: usize = 256 << 20;

#[derive(Default)]
struct Fitted {
    frames: HashMap<Key, RgbFrame>,
    bytes: usize,
}

fn cache() -> &'static Mutex<Fitted> {
    static CACHE: OnceLock<Mutex<Fitted>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// `frame`, whose pixels are `par` wide, fitted into `w` x `h` square pixels as
/// [`RgbFrame::try_fitted_pixels`] does, from the cache when the same pixels were fitted the
/// same way before.
pub fn fitted(frame: &RgbFrame, par: PixelAspect, w: u32, h: u32, fit: Fit) -> Result<RgbFrame, String> {
    let key: Key = (*blake3::hash(&frame.data).as_bytes(), (frame.width, frame.height), par, (w, h), fit);
    if let Some(f) = cache().lock().unwrap_or_else(|e| e.into_inner()).frames.get(&key) {
        return Ok(f.clone());
    }
    let out = frame.try_fitted_pixels(w, h, fit, par, PixelAspect::SQUARE).map_err(|e| e.to_string())?;
    let mut c = cache().lock().unwrap_or_else(|e| e.into_inner());
    if c.bytes + out.data.len() > MAX_BYTES {
        *c = Fitted::default();
    }
    c.bytes += out.data.len();
    c.frames.insert(key, out.clone());
    Ok(out)
}

/// An image file decoded and fitted into `w` x `h`; decoded again only when the file's size or
/// modification time changes (Kino Generate's Keyframes are read at every rendered time).
pub fn image_file(path: &std::path::Path, w: u32, h: u32, fit: Fit) -> Result<RgbFrame, String> {
    type FileKey = (std::path::PathBuf, u64, Option<std::time::SystemTime>, (u32, u32), Fit);
    static FILES: OnceLock<Mutex<HashMap<FileKey, RgbFrame>>> = OnceLock::new();
    let meta = std::fs::metadata(path).ok();
    let key: FileKey = (path.to_path_buf(), meta.as_ref().map_or(0, |m| m.len()), meta.and_then(|m| m.modified().ok()), (w, h), fit);
    let files = FILES.get_or_init(Default::default);
    if let Some(f) = files.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Ok(f.clone());
    }
    let image = kino::video::decode_image(path).map_err(|e| e.to_string())?;
    let out = fitted(&image, PixelAspect::SQUARE, w, h, fit)?;
    let mut f = files.lock().unwrap_or_else(|e| e.into_inner());
    if f.len() >= 64 {
        f.clear();
    }
    f.insert(key, out.clone());
    Ok(out)
}

/// Forgets every fitted frame (kOfxActionPurgeCaches).
pub fn purge() {
    *cache().lock().unwrap_or_else(|e| e.into_inner()) = Fitted::default();
}

#[cfg(test)]
fn len() -> usize {
    cache().lock().unwrap_or_else(|e| e.into_inner()).frames.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(shade: u8) -> RgbFrame {
        let data = (0..96 * 54).flat_map(|i| [shade, (i % 96) as u8, (i / 96) as u8]).collect();
        RgbFrame { width: 96, height: 54, data }
    }

    #[test]
    fn fits_as_the_engine_does_and_remembers_by_content() {
        let a = frame(10);
        let want = a.try_fitted(32, 32, Fit::Letterbox).unwrap();
        assert_eq!(fitted(&a, PixelAspect::SQUARE, 32, 32, Fit::Letterbox).unwrap(), want);
        let before = len();
        assert_eq!(fitted(&a, PixelAspect::SQUARE, 32, 32, Fit::Letterbox).unwrap(), want, "served again");
        assert_eq!(len(), before, "the same pixels are fitted once");
        // Other pixels, another fit: their own results, never the remembered one.
        let b = frame(200);
        assert_eq!(fitted(&b, PixelAspect::SQUARE, 32, 32, Fit::Letterbox).unwrap(), b.try_fitted(32, 32, Fit::Letterbox).unwrap());
        assert_eq!(fitted(&a, PixelAspect::SQUARE, 32, 32, Fit::Crop).unwrap(), a.try_fitted(32, 32, Fit::Crop).unwrap());
        assert!(fitted(&a, PixelAspect::SQUARE, 0, 32, Fit::Crop).is_err());
        // The same pixels shown twice as wide (anamorphic): fitted by their shape as shown.
        let wide = PixelAspect::new(2, 1);
        let got = fitted(&a, wide, 32, 32, Fit::Letterbox).unwrap();
        assert_eq!(got, a.try_fitted_pixels(32, 32, Fit::Letterbox, wide, PixelAspect::SQUARE).unwrap());
        assert_ne!(got, want, "a pixel shape of its own is not served the square pixels' fit");
        purge();
        assert_eq!(len(), 0);
    }
}
