//! Frames as the front doors see them: 8-bit RGB, row-major.

use crate::error::{Error, Result};

/// One RGB24 frame: `data` holds exactly `width * height * 3` bytes. [`RgbFrame::new`] checks
/// that; frames built field by field must keep it, or [`RgbFrame::resized`] panics.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RgbFrame {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

/// Bytes of RGB in a `width` x `height` frame; `None` when that overflows.
fn rgb_len(width: u32, height: u32) -> Option<usize> {
    (width as usize).checked_mul(height as usize)?.checked_mul(3)
}

impl RgbFrame {
    /// A frame of `data` (RGB, row-major), or an error when its length does not match the size.
    pub fn new(width: u32, height: u32, data: Vec<u8>) -> Result<Self> {
        let frame = RgbFrame { width, height, data };
        frame.check()?;
        Ok(frame)
    }

    /// `Err` when `data` does not hold exactly `width * height` RGB pixels.
    pub fn check(&self) -> Result<()> {
        match rgb_len(self.width, self.height) {
            Some(n) if n == self.data.len() => Ok(()),
            _ => Err(Error::Frame(format!("a {}x{} frame holds {} bytes; RGB needs {}", self.width, self.height, self.data.len(), 3 * self.width as u64 * self.height as u64))),
        }
    }

    /// Converts one frame of a `[3, H, W]` planar float image in `[-1, 1]` (the VAE's output),
    /// or an error when `planes` is not `3 * width * height` long.
    pub fn try_from_planar(width: u32, height: u32, planes: &[f32]) -> Result<Self> {
        let n = match rgb_len(width, height) {
            Some(len) if len == planes.len() => len / 3,
            _ => return Err(Error::Frame(format!("a {width}x{height} frame needs {} planar values, got {}", 3 * width as u64 * height as u64, planes.len()))),
        };
        let mut data = vec![0u8; 3 * n];
        for c in 0..3 {
            for (i, v) in planes[c * n..(c + 1) * n].iter().enumerate() {
                data[3 * i + c] = to_u8(*v);
            }
        }
        Ok(RgbFrame { width, height, data })
    }

    /// [`RgbFrame::try_from_planar`] for planes whose length the caller has checked.
    ///
    /// # Panics
    /// When `planes` is not `3 * width * height` long.
    pub fn from_planar(width: u32, height: u32, planes: &[f32]) -> Self {
        Self::try_from_planar(width, height, planes).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Planar `[3, H, W]` floats in `[-1, 1]` (the VAE encoder's input).
    pub fn to_planar(&self) -> Vec<f32> {
        let n = (self.width * self.height) as usize;
        let mut out = vec![0f32; 3 * n];
        for i in 0..n {
            for c in 0..3 {
                out[c * n + i] = self.data[3 * i + c] as f32 / 127.5 - 1.0;
            }
        }
        out
    }
}

impl RgbFrame {
    /// This frame scaled to `width` x `height` (Catmull-Rom); a copy when the size is the same.
    /// An error when this frame's data does not match its size.
    pub fn try_resized(&self, width: u32, height: u32) -> Result<RgbFrame> {
        self.check()?;
        if (width, height) == (self.width, self.height) {
            return Ok(self.clone());
        }
        let img = image::RgbImage::from_raw(self.width, self.height, self.data.clone()).ok_or_else(|| Error::Frame(format!("a {}x{} frame is too large to resize", self.width, self.height)))?;
        let out = image::imageops::resize(&img, width, height, image::imageops::FilterType::CatmullRom);
        Ok(RgbFrame { width, height, data: out.into_raw() })
    }

    /// [`RgbFrame::try_resized`] for a frame known to be consistent (every frame kino decodes).
    ///
    /// # Panics
    /// When this frame's data does not match its size: a frame built field by field wrongly.
    pub fn resized(&self, width: u32, height: u32) -> RgbFrame {
        self.try_resized(width, height).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Peak signal-to-noise ratio against another frame of the same size, in dB (infinite when equal).
    pub fn psnr(&self, other: &RgbFrame) -> f64 {
        let mse = self.data.iter().zip(&other.data).map(|(&a, &b)| (a as f64 - b as f64).powi(2)).sum::<f64>() / self.data.len().max(1) as f64;
        if mse == 0.0 { f64::INFINITY } else { 10.0 * (255.0f64 * 255.0 / mse).log10() }
    }

    /// Mean absolute difference per channel value, in 0..=255.
    pub fn mean_abs_diff(&self, other: &RgbFrame) -> f64 {
        self.data.iter().zip(&other.data).map(|(&a, &b)| (a as f64 - b as f64).abs()).sum::<f64>() / self.data.len().max(1) as f64
    }
}

fn to_u8(v: f32) -> u8 {
    // NaN maps to 0 rather than poisoning the frame.
    let x = ((v.clamp(-1.0, 1.0) + 1.0) * 127.5).round();
    if x.is_nan() { 0 } else { x as u8 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planar_round_trip_is_exact_for_8_bit_values() {
        let f = RgbFrame { width: 2, height: 1, data: vec![0, 128, 255, 10, 20, 30] };
        let back = RgbFrame::from_planar(2, 1, &f.to_planar());
        assert_eq!(back, f);
    }

    #[test]
    fn resize_round_trip_and_metrics() {
        let f = RgbFrame { width: 4, height: 2, data: (0..24).map(|x| (x * 10) as u8).collect() };
        assert_eq!(f.resized(4, 2), f);
        let big = f.resized(8, 4);
        assert_eq!((big.width, big.height, big.data.len()), (8, 4, 96));
        assert_eq!(f.psnr(&f), f64::INFINITY);
        let mut g = f.clone();
        g.data[0] += 24;
        assert_eq!(f.mean_abs_diff(&g), 1.0);
        assert!((f.psnr(&g) - 10.0 * (255.0f64 * 255.0 / 24.0).log10()).abs() < 1e-9);
    }

    #[test]
    fn inconsistent_frames_are_errors() {
        assert!(RgbFrame::new(2, 1, vec![0; 6]).is_ok());
        let e = RgbFrame::new(2, 2, vec![0; 6]).unwrap_err().to_string();
        assert!(e.contains("2x2") && e.contains("6 bytes") && e.contains("12"), "{e}");
        // A size whose byte count overflows is refused, not wrapped.
        assert!(RgbFrame::new(u32::MAX, u32::MAX, vec![]).is_err());
        assert!(RgbFrame::try_from_planar(2, 1, &[0.0; 5]).is_err());
        assert!(RgbFrame::try_from_planar(2, 1, &[0.0; 7]).is_err());
        let short = RgbFrame { width: 4, height: 4, data: vec![1; 10] };
        assert!(short.try_resized(2, 2).is_err());
        assert!(short.try_resized(4, 4).is_err());
        assert!(std::panic::catch_unwind(|| short.resized(2, 2)).is_err());
    }

    #[test]
    fn checked_and_unchecked_paths_agree_on_valid_frames() {
        let f = RgbFrame::new(5, 3, (0..45).map(|x| (x * 37 % 256) as u8).collect()).unwrap();
        assert_eq!(f.try_resized(9, 7).unwrap(), f.resized(9, 7));
        let planes = f.to_planar();
        assert_eq!(RgbFrame::try_from_planar(5, 3, &planes).unwrap(), RgbFrame::from_planar(5, 3, &planes));
        assert_eq!(RgbFrame::from_planar(5, 3, &planes), f);
    }

    #[test]
    fn out_of_range_and_nan_are_clamped() {
        let f = RgbFrame::from_planar(1, 1, &[2.0, -3.0, f32::NAN]);
        assert_eq!(f.data, vec![255, 0, 0]);
    }
}
