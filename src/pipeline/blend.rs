//! Where generated footage meets other frames: cross-fading a held-back tail into its re-decode,
//! and carrying a given frame's difference from its re-decode into new footage.

use crate::frame::RgbFrame;

/// In [`carry_residual_where_unmoved`], a pixel of new footage that differs from the re-decoded
/// frame by this many levels (its largest channel) or more takes none of the residual; nearer,
/// a share that grows as the difference shrinks.
const RESIDUAL_MATCH_LEVELS: f32 = 40.0;

/// In [`carry_rendering_residual`], a residual up to this many levels (its largest channel) is
/// carried whole, one of twice as many or more not at all, linearly between.
const RENDERING_RESIDUAL_LEVELS: f32 = 40.0;

/// Which part of the residual a pixel of new footage takes (besides the fade).
#[derive(Clone, Copy)]
enum Share {
    /// All of it.
    Whole,
    /// Where the pixel still shows what the re-decoded frame showed (within the levels).
    WhereUnmoved(f32),
    /// Where the residual itself is small: a difference in rendering, not in content.
    SmallResidual(f32),
}

/// Adds `given - redecoded` to `frames` (ordered from the seam outwards), fully at the seam and
/// fading to nothing over `span` frames, so a clip's untouched frames and the model's footage
/// meet without a jump in colour or rendering. For footage that arrives at a given frame (a
/// backward extension, a loop's wrap, both ends of a bridge): the frames there are meant to
/// become it.
pub(super) fn carry_residual(frames: &mut [RgbFrame], given: &RgbFrame, redecoded: &RgbFrame, span: usize) {
    carry(frames, given, redecoded, span, Share::Whole);
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
    carry(frames, given, redecoded, span, Share::WhereUnmoved(RESIDUAL_MATCH_LEVELS));
}

/// [`carry_residual`] for a join between two windows of new footage: only the small part of the
/// residual, where the two decodes of a frame differ in rendering (shading, a softer edge). A
/// large one is content: the re-decode has an edge elsewhere, and carried whole it drew the
/// frame's outline beside the new footage's object (a backward extension's joins on the demo
/// model). No user's frame is on either side, so the small jump left there is the model's own.
pub(super) fn carry_rendering_residual(frames: &mut [RgbFrame], given: &RgbFrame, redecoded: &RgbFrame, span: usize) {
    carry(frames, given, redecoded, span, Share::SmallResidual(RENDERING_RESIDUAL_LEVELS));
}

/// The residual at each pixel, times the frame's fade and the pixel's [`Share`].
fn carry(frames: &mut [RgbFrame], given: &RgbFrame, redecoded: &RgbFrame, span: usize, share: Share) {
    let mut diff: Vec<f32> = given.data.iter().zip(&redecoded.data).map(|(&a, &b)| a as f32 - b as f32).collect();
    if let Share::SmallResidual(levels) = share {
        for d in diff.chunks_exact_mut(3) {
            let largest = d.iter().fold(0.0f32, |m, x| m.max(x.abs()));
            let keep = (2.0 - largest / levels).clamp(0.0, 1.0);
            d.iter_mut().for_each(|x| *x *= keep);
        }
    }
    for (i, f) in frames.iter_mut().take(span).enumerate() {
        let w = 1.0 - i as f32 / span as f32;
        for ((px, d), again) in f.data.chunks_exact_mut(3).zip(diff.chunks_exact(3)).zip(redecoded.data.chunks_exact(3)) {
            let share = match share {
                Share::Whole | Share::SmallResidual(_) => w,
                Share::WhereUnmoved(levels) => {
                    let apart = px.iter().zip(again).map(|(&a, &b)| (a as f32 - b as f32).abs()).fold(0.0, f32::max);
                    w * (1.0 - apart / levels).max(0.0)
                }
            };
            for (x, &d) in px.iter_mut().zip(d) {
                *x = (*x as f32 + share * d).round().clamp(0.0, 255.0) as u8;
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
    fn only_small_residuals_are_carried_between_windows() {
        let px = |v: u8| RgbFrame { width: 1, height: 1, data: vec![v, v, v] };
        let carried = |given: u8| {
            let mut frames = vec![px(100), px(100)];
            carry_rendering_residual(&mut frames, &px(given), &px(100), 2);
            frames.iter().map(|f| f.data[0]).collect::<Vec<_>>()
        };
        assert_eq!(carried(130), vec![130, 115], "30 levels: rendering, carried whole and faded");
        assert_eq!(carried(160), vec![130, 115], "60 levels: half of it (30) carried");
        assert_eq!(carried(190), vec![100, 100], "90 levels: content (an edge elsewhere), not carried");
        assert_eq!(carried(40), vec![70, 85], "the same for a darker frame");
        // One channel far apart is enough to hold the whole pixel back.
        let mut frames = vec![px(100)];
        let given = RgbFrame { width: 1, height: 1, data: vec![110, 110, 250] };
        carry_rendering_residual(&mut frames, &given, &px(100), 1);
        assert_eq!(frames[0].data, vec![100, 100, 100]);
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
