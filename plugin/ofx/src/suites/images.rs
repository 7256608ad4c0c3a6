//! Parameters, clips and images: the host's memory behind safe handles.

use std::ffi::{c_char, c_int, CStr, CString};

use super::{check, Props, Suites};
use crate::abi::*;

/// A parameter instance.
#[derive(Clone, Copy)]
pub struct Param {
    pub(super) s: Suites,
    pub(super) h: OfxParamHandle,
}

impl Param {
    pub fn int_at(&self, time: f64) -> Result<i32, OfxStatus> {
        let mut v: c_int = 0;
        // SAFETY: integer and choice parameters take one `int*` after the time (ofxParam.h).
        check(unsafe { (self.s.param.paramGetValueAtTime)(self.h, time, &mut v as *mut c_int) })?;
        Ok(v)
    }

    pub fn double_at(&self, time: f64) -> Result<f64, OfxStatus> {
        let mut v: f64 = 0.0;
        // SAFETY: double parameters take one `double*` after the time.
        check(unsafe { (self.s.param.paramGetValueAtTime)(self.h, time, &mut v as *mut f64) })?;
        Ok(v)
    }

    pub fn string_at(&self, time: f64) -> Result<String, OfxStatus> {
        let mut p: *const c_char = std::ptr::null();
        // SAFETY: string parameters take one `char**`; the host keeps the string alive at least
        // until the next call on this parameter (ofxParam.h).
        check(unsafe { (self.s.param.paramGetValueAtTime)(self.h, time, &mut p as *mut *const c_char) })?;
        if p.is_null() {
            return Ok(String::new());
        }
        // SAFETY: non-null and NUL-terminated.
        Ok(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
    }

    pub fn set_int(&self, v: i32) -> Result<(), OfxStatus> {
        // SAFETY: integer parameters take one `int` (ofxParam.h paramSetValue).
        check(unsafe { (self.s.param.paramSetValue)(self.h, v as c_int) })
    }

    pub fn set_string(&self, v: &str) -> Result<(), OfxStatus> {
        let c = CString::new(v.replace('\0', "")).unwrap_or_default();
        // SAFETY: string parameters take one `const char*`, which the host copies.
        check(unsafe { (self.s.param.paramSetValue)(self.h, c.as_ptr()) })
    }
}

/// A clip instance.
#[derive(Clone, Copy)]
pub struct Clip {
    pub(super) s: Suites,
    pub(super) h: OfxImageClipHandle,
    pub props: Props,
}

impl Clip {
    /// The image at `time` (whole region), released when dropped; `None` when the clip has no
    /// image there (kOfxStatFailed: "assume black and transparent").
    pub fn image(&self, time: f64) -> Result<Option<Image>, OfxStatus> {
        let mut p = std::ptr::null_mut();
        // SAFETY: the clip handle; a null region asks for the whole image (ofxImageEffect.h).
        let status = unsafe { (self.s.effect.clipGetImage)(self.h, time, std::ptr::null(), &mut p) };
        if status == kOfxStatOK && !p.is_null() {
            Ok(Some(Image { s: self.s, props: Props::new(self.s, p) }))
        } else if status == kOfxStatOK || status == kOfxStatFailed {
            Ok(None)
        } else {
            Err(status)
        }
    }

    pub fn region_of_definition(&self, time: f64) -> Result<OfxRectD, OfxStatus> {
        let mut r = OfxRectD::default();
        // SAFETY: the clip handle and a writable rectangle.
        check(unsafe { (self.s.effect.clipGetRegionOfDefinition)(self.h, time, &mut r) })?;
        Ok(r)
    }
}

/// Pixel depth of an image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Depth {
    Byte,
    Short,
    Float,
}

impl Depth {
    pub fn from_name(s: &str) -> Option<Depth> {
        match s.as_bytes() {
            b"OfxBitDepthByte" => Some(Depth::Byte),
            b"OfxBitDepthShort" => Some(Depth::Short),
            b"OfxBitDepthFloat" => Some(Depth::Float),
            _ => None,
        }
    }

    pub fn bytes_per_channel(self) -> usize {
        match self {
            Depth::Byte => 1,
            Depth::Short => 2,
            Depth::Float => 4,
        }
    }
}

/// An image fetched from a clip: its pixels are host memory, described by its properties.
pub struct Image {
    s: Suites,
    pub props: Props,
}

/// A view of an image's pixel memory: RGBA, `bounds` in pixel coordinates, rows `row_bytes`
/// apart starting at the bottom row (`row_bytes` may be negative, ofxImageEffect.h).
pub struct Pixels {
    pub data: *mut u8,
    pub bounds: OfxRectI,
    pub row_bytes: isize,
    pub depth: Depth,
}

impl Image {
    /// The shape of the image's pixels (kOfxImagePropPixelAspectRatio; square when unsaid).
    pub fn pixel_aspect(&self) -> kino::frame::PixelAspect {
        kino::frame::PixelAspect::from_ratio(self.props.double(kOfxImagePropPixelAspectRatio, 0).unwrap_or(1.0))
    }

    pub fn pixels(&self) -> Result<Pixels, String> {
        let p = &self.props;
        let data = p.pointer(kOfxImagePropData, 0).map_err(|e| format!("image data: status {e}"))? as *mut u8;
        let b = p.ints::<4>(kOfxImagePropBounds).map_err(|e| format!("image bounds: status {e}"))?;
        let row_bytes = p.int(kOfxImagePropRowBytes, 0).map_err(|e| format!("image row bytes: status {e}"))? as isize;
        let depth_name = p.string(kOfxImageEffectPropPixelDepth, 0).unwrap_or_default();
        let depth =
            Depth::from_name(&depth_name).ok_or_else(|| format!("pixel depth {depth_name:?} is not supported (byte, short or float)"))?;
        let comps = p.string(kOfxImageEffectPropComponents, 0).unwrap_or_default();
        if comps.as_bytes() != kOfxImageComponentRGBA.to_bytes() {
            return Err(format!("components {comps:?} are not supported (RGBA only)"));
        }
        let bounds = OfxRectI { x1: b[0], y1: b[1], x2: b[2], y2: b[3] };
        if data.is_null() || bounds.x2 < bounds.x1 || bounds.y2 < bounds.y1 {
            return Err("the host gave an empty image".into());
        }
        if (row_bytes.unsigned_abs()) < (bounds.x2 - bounds.x1) as usize * 4 * depth.bytes_per_channel() {
            return Err(format!("row bytes {row_bytes} are fewer than a row of pixels"));
        }
        Ok(Pixels { data, bounds, row_bytes, depth })
    }
}

impl Drop for Image {
    fn drop(&mut self) {
        // SAFETY: an image handle from clipGetImage, released exactly once.
        unsafe {
            (self.s.effect.clipReleaseImage)(self.props.handle());
        }
    }
}

impl Pixels {
    /// Pointer to pixel (x, y) in pixel coordinates, which must lie inside `bounds`.
    fn at(&self, x: i32, y: i32) -> *mut u8 {
        let px = 4 * self.depth.bytes_per_channel();
        let offset = (y - self.bounds.y1) as isize * self.row_bytes + ((x - self.bounds.x1) as usize * px) as isize;
        self.data.wrapping_offset(offset)
    }

    /// RGBA of pixel (x, y) as 8-bit values.
    pub fn get(&self, x: i32, y: i32) -> [u8; 4] {
        let p = self.at(x, y);
        let mut out = [0u8; 4];
        // SAFETY: (x, y) lies inside bounds (callers clip to them), so the pixel is inside the
        // host's buffer; unaligned reads because rows may start anywhere.
        unsafe {
            match self.depth {
                Depth::Byte => std::ptr::copy_nonoverlapping(p, out.as_mut_ptr(), 4),
                Depth::Short => {
                    for (c, o) in out.iter_mut().enumerate() {
                        let v = (p as *const u16).add(c).read_unaligned();
                        *o = ((v as u32 + 128) / 257) as u8;
                    }
                }
                Depth::Float => {
                    for (c, o) in out.iter_mut().enumerate() {
                        let v = (p as *const f32).add(c).read_unaligned();
                        *o = if v.is_nan() { 0 } else { (v.clamp(0.0, 1.0) * 255.0).round() as u8 };
                    }
                }
            }
        }
        out
    }

    /// Writes RGBA (8-bit values) to pixel (x, y), converted to the image's depth.
    pub fn put(&mut self, x: i32, y: i32, rgba: [u8; 4]) {
        let p = self.at(x, y);
        // SAFETY: as in `get`; the output image is the host's, writable during Render.
        unsafe {
            match self.depth {
                Depth::Byte => std::ptr::copy_nonoverlapping(rgba.as_ptr(), p, 4),
                Depth::Short => {
                    for (c, v) in rgba.iter().enumerate() {
                        (p as *mut u16).add(c).write_unaligned(*v as u16 * 257);
                    }
                }
                Depth::Float => {
                    for (c, v) in rgba.iter().enumerate() {
                        (p as *mut f32).add(c).write_unaligned(*v as f32 / 255.0);
                    }
                }
            }
        }
    }

    /// Copies the row span [x1, x2) of row `y` from `src` (same depth) byte for byte.
    pub fn copy_span_from(&mut self, src: &Pixels, x1: i32, x2: i32, y: i32) {
        if x2 <= x1 {
            return;
        }
        let n = (x2 - x1) as usize * 4 * self.depth.bytes_per_channel();
        // SAFETY: callers clip the span to both images' bounds and check the depths are equal;
        // the two buffers are different host images.
        unsafe { std::ptr::copy_nonoverlapping(src.at(x1, y), self.at(x1, y), n) };
    }
}
