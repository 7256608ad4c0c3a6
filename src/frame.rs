//! Frames as the front doors see them: 8-bit RGB, row-major.

/// One RGB24 frame.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RgbFrame {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

impl RgbFrame {
    /// Converts one frame of a `[3, H, W]` planar float image in `[-1, 1]` (the VAE's output).
    pub fn from_planar(width: u32, height: u32, planes: &[f32]) -> Self {
        let n = (width * height) as usize;
        debug_assert_eq!(planes.len(), 3 * n);
        let mut data = vec![0u8; 3 * n];
        for c in 0..3 {
            for (i, v) in planes[c * n..(c + 1) * n].iter().enumerate() {
                data[3 * i + c] = to_u8(*v);
            }
        }
        RgbFrame { width, height, data }
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
    pub fn resized(&self, width: u32, height: u32) -> RgbFrame {
        if (width, height) == (self.width, self.height) {
            return self.clone();
        }
        let Some(img) = image::RgbImage::from_raw(self.width, self.height, self.data.clone()) else {
            return RgbFrame { width, height, data: vec![0; (width * height * 3) as usize] };
        };
        let out = image::imageops::resize(&img, width, height, image::imageops::FilterType::CatmullRom);
        RgbFrame { width, height, data: out.into_raw() }
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
    fn out_of_range_and_nan_are_clamped() {
        let f = RgbFrame::from_planar(1, 1, &[2.0, -3.0, f32::NAN]);
        assert_eq!(f.data, vec![255, 0, 0]);
    }
}
