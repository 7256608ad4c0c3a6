//! Where generated footage meets other frames: cross-fading a held-back tail into its re-decode,
//! and carrying a given frame's difference from its re-decode into new footage.

use crate::frame::RgbFrame;

/// Adds `given - redecoded` to `frames` (ordered from the seam outwards), fully at the seam and
/// fading to nothing over `span` frames, so a clip's untouched frames and the model's footage
/// meet without a jump in colour or rendering.
pub(super) fn carry_residual(frames: &mut [RgbFrame], given: &RgbFrame, redecoded: &RgbFrame, span: usize) {
    let diff: Vec<i16> = given.data.iter().zip(&redecoded.data).map(|(&a, &b)| a as i16 - b as i16).collect();
    for (i, f) in frames.iter_mut().take(span).enumerate() {
        let w = 1.0 - i as f32 / span as f32;
        for (x, d) in f.data.iter_mut().zip(&diff) {
            *x = (*x as f32 + w * *d as f32).round().clamp(0.0, 255.0) as u8;
        }
    }
}

/// `a` faded towards `b` by `w` in [0, 1].
pub(super) fn crossfade(a: &RgbFrame, b: &RgbFrame, w: f32) -> RgbFrame {
    let data = a.data.iter().zip(&b.data).map(|(&x, &y)| ((1.0 - w) * x as f32 + w * y as f32).round().clamp(0.0, 255.0) as u8).collect();
    RgbFrame { width: a.width, height: a.height, data }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn residual_is_carried_fully_at_the_seam_and_fades() {
        let px = |v: u8| RgbFrame { width: 1, height: 1, data: vec![v, v, v] };
        let mut frames = vec![px(100), px(100), px(100), px(100)];
        carry_residual(&mut frames, &px(120), &px(100), 2);
        assert_eq!(frames.iter().map(|f| f.data[0]).collect::<Vec<_>>(), vec![120, 110, 100, 100]);
    }

    #[test]
    fn crossfade_ends() {
        let a = RgbFrame { width: 1, height: 1, data: vec![0, 100, 255] };
        let b = RgbFrame { width: 1, height: 1, data: vec![255, 100, 0] };
        assert_eq!(crossfade(&a, &b, 0.0), a);
        assert_eq!(crossfade(&a, &b, 1.0), b);
        assert_eq!(crossfade(&a, &b, 0.5).data, vec![128, 100, 128]);
    }
}
