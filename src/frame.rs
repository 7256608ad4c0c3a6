//! Frames as the front doors see them: 8-bit RGB, row-major.

/// One RGB24 frame.
#[derive(Clone, Debug, PartialEq, Eq)]
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
    fn out_of_range_and_nan_are_clamped() {
        let f = RgbFrame::from_planar(1, 1, &[2.0, -3.0, f32::NAN]);
        assert_eq!(f.data, vec![255, 0, 0]);
    }
}
