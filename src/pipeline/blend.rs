//! Where generated footage meets other frames: cross-fading a held-back tail into its re-decode,
//! and carrying a given frame's difference from its re-decode into new footage.

use crate::frame::RgbFrame;

/// In [`carry_residual_where_unmoved`], a pixel of new footage that differs from the re-decoded
/// frame by this many levels (its largest channel) or more takes none of the residual; nearer,
/// a share that grows as the difference shrinks.
const RESIDUAL_MATCH_LEVELS: f32 = 40.0;

/// Adds `given - redecoded` to `frames` (ordered from the seam outwards), fully at the seam and
/// fading to nothing over `span` frames, so a clip's untouched frames and the model's footage
/// meet without a jump in colour or rendering. For footage that arrives at a given frame (a
/// backward extension, a loop's wrap, both ends of a bridge): the frames there are meant to
/// become it.
pub(super) fn carry_residual(frames: &mut [RgbFrame], given: &RgbFrame, redecoded: &RgbFrame, span: usize) {
    carry(frames, given, redecoded, span, None);
}

/// [`carry_residual`] for footage that leaves a given frame (animate's still, the end of a clip
/// extended forwards): only where a frame still shows what the re-decoded frame showed. The
/// residual sits where the picture was, and where something has moved on it drew a second
/// outline of it there (a ring around a still's object for a second of `animate`: on the demo
/// model, frames with stray pixels 15.3% -> 12.6% in animate's first window, 5.9% -> 3.8% after
/// an extended clip's end, its seam 1.29 -> 1.21 the median step). Footage that arrives at a
/// given frame keeps the whole residual: there the masked one left the seam (a loop's wrap,
/// median 0.94 -> 2.81 the median step).
pub(super) fn carry_residual_where_unmoved(frames: &mut [RgbFrame], given: &RgbFrame, redecoded: &RgbFrame, span: usize) {
    carry(frames, given, redecoded, span, Some(RESIDUAL_MATCH_LEVELS));
}

/// The residual at each pixel, times the frame's fade and, with `match_levels`, times how close
/// the pixel still is to the re-decoded frame's.
fn carry(frames: &mut [RgbFrame], given: &RgbFrame, redecoded: &RgbFrame, span: usize, match_levels: Option<f32>) {
    let diff: Vec<i16> = given.data.iter().zip(&redecoded.data).map(|(&a, &b)| a as i16 - b as i16).collect();
    for (i, f) in frames.iter_mut().take(span).enumerate() {
        let w = 1.0 - i as f32 / span as f32;
        for ((px, d), again) in f.data.chunks_exact_mut(3).zip(diff.chunks_exact(3)).zip(redecoded.data.chunks_exact(3)) {
            let share = match match_levels {
                None => w,
                Some(levels) => {
                    let apart = px.iter().zip(again).map(|(&a, &b)| (a as f32 - b as f32).abs()).fold(0.0, f32::max);
                    w * (1.0 - apart / levels).max(0.0)
                }
            };
            for (x, &d) in px.iter_mut().zip(d) {
                *x = (*x as f32 + share * d as f32).round().clamp(0.0, 255.0) as u8;
            }
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
    fn residual_stays_off_pixels_that_moved_on() {
        let px = |v: u8| RgbFrame { width: 1, height: 1, data: vec![v, v, v] };
        // The re-decode showed 100 there; new footage shows 100 (same), 120 (half), 140 or 200 (moved).
        let mut frames = vec![px(100), px(120), px(140), px(200)];
        carry_residual_where_unmoved(&mut frames, &px(80), &px(100), 4);
        let got: Vec<u8> = frames.iter().map(|f| f.data[0]).collect();
        assert_eq!(got, vec![80, 113, 140, 200], "all of -20 at the seam; 3/4 x 1/2 of it 20 levels apart; none 40 or more apart");
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
