//! Several draws of a window that arrives at given frames, and the one that meets them best.
//!
//! A window whose new footage leads into given frames (a backward extension, a bridge, a loop's
//! wrap, footage into a keyframe) holds them as clean context, yet the model may still draw its
//! subject where the given frames do not have it and move it into them. The causal decoder then
//! re-draws the given frames off as well, and the difference carried across the seam to hide the
//! jump draws a second outline. How far the decode of the given frames is from the frames
//! themselves measures that disagreement, so a window drawn from several seeds keeps the draw
//! whose decode comes nearest (`candidates`: the package's `defaults.candidates`, `--candidates`).

use crate::error::Result;
use crate::frame::RgbFrame;

/// The most draws a window may take (each costs a whole window's denoising).
pub const MAX_CANDIDATES: usize = 16;

/// Draw `c`'s seed for a window seeded `seed`: draw 0 keeps the window's seed, so one draw is
/// exactly the window as it is made without candidates.
pub(super) fn candidate_seed(seed: u64, c: usize) -> u64 {
    if c == 0 {
        seed
    } else {
        seed ^ (c as u64).wrapping_mul(0xD1B5_4A32_D192_ED03)
    }
}

/// Mean absolute difference in levels (0-255) between decoded frames and the given frames they
/// should show ([`RgbFrame::mean_abs_diff`] averaged over the pairs, as many as the shorter list
/// has; the frames of a window all have one size).
pub(super) fn distance(decoded: &[RgbFrame], given: &[RgbFrame]) -> f64 {
    let pairs = decoded.len().min(given.len());
    if pairs == 0 {
        return 0.0;
    }
    decoded.iter().zip(given).map(|(a, b)| a.mean_abs_diff(b)).sum::<f64>() / pairs as f64
}

/// Draws a window `n` times (at least once) with the seeds [`candidate_seed`] gives and keeps the
/// draw `misfit` scores lowest (the earliest of equals).
pub(super) fn best_draw(
    n: usize,
    seed: u64,
    draw: &mut dyn FnMut(u64) -> Result<Vec<RgbFrame>>,
    misfit: &dyn Fn(&[RgbFrame]) -> f64,
) -> Result<Vec<RgbFrame>> {
    if n <= 1 {
        // One draw: nothing to choose between, so nothing to score.
        return draw(seed);
    }
    let mut best: Option<(f64, Vec<RgbFrame>)> = None;
    for c in 0..n {
        let frames = draw(candidate_seed(seed, c))?;
        let score = misfit(&frames);
        log::debug!("window draw {} of {n}: decode {score:.2} levels from the given frames", c + 1);
        if best.as_ref().is_none_or(|(b, _)| score < *b) {
            best = Some((score, frames));
        }
    }
    Ok(best.map(|(_, frames)| frames).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use crate::pipeline::Progress;

    fn grey(v: u8) -> RgbFrame {
        RgbFrame { width: 2, height: 1, data: vec![v; 6] }
    }

    #[test]
    fn the_first_draw_keeps_the_window_seed_and_the_others_differ() {
        assert_eq!(candidate_seed(42, 0), 42);
        let seeds: std::collections::HashSet<u64> = (0..MAX_CANDIDATES).map(|c| candidate_seed(42, c)).collect();
        assert_eq!(seeds.len(), MAX_CANDIDATES);
    }

    #[test]
    fn distance_is_the_mean_level_difference_over_the_pairs() {
        assert_eq!(distance(&[grey(10), grey(20)], &[grey(13), grey(20)]), 1.5);
        assert_eq!(distance(&[grey(10)], &[grey(13), grey(200)]), 3.0, "only whole pairs count");
        assert_eq!(distance(&[], &[grey(1)]), 0.0);
    }

    /// Runs [`best_draw`] with draws whose level depends on the seed; returns the seeds tried
    /// and the kept draw's level.
    fn pick(n: usize, seed: u64, target: u8) -> (Vec<u64>, u8) {
        let mut seen = Vec::new();
        let mut draw = |seed: u64| -> Result<Vec<RgbFrame>> {
            seen.push(seed);
            Ok(vec![grey((seed % 251) as u8)])
        };
        let misfit = |frames: &[RgbFrame]| distance(frames, &[grey(target)]);
        let kept = best_draw(n, seed, &mut draw, &misfit).unwrap();
        (seen, kept[0].data[0])
    }

    #[test]
    fn keeps_the_draw_nearest_the_given_frame_after_trying_each_seed_once() {
        let (seen, kept) = pick(5, 7, 100);
        assert_eq!(seen, (0..5).map(|c| candidate_seed(7, c)).collect::<Vec<_>>());
        let nearest = seen.iter().map(|&s| (s % 251) as u8).min_by_key(|v| v.abs_diff(100)).unwrap();
        assert_eq!(kept, nearest);
        assert_ne!(kept, 7, "the first draw (level 7) is far from 100; another seed is nearer");
        assert_eq!(pick(1, 7, 100), (vec![7], 7), "one draw is the window as ever");
        assert_eq!(pick(0, 7, 100).0.len(), 1, "zero is read as one draw");
    }

    #[test]
    fn a_failed_draw_is_the_window_error() {
        let mut draw = |seed: u64| -> Result<Vec<RgbFrame>> {
            if seed == 3 {
                Ok(vec![grey(0)])
            } else {
                Err(Error::InvalidRequest("stopped".into()))
            }
        };
        assert!(best_draw(3, 3, &mut draw, &|_| 0.0).is_err());
    }

    /// The shipped model: windows arriving at given frames keep one of their draws, each the
    /// very window one draw with that draw's seed makes, and progress counts every draw.
    #[test]
    fn backward_windows_and_bridges_keep_one_of_their_draws_and_count_each() {
        use crate::pipeline::test_support::{frames_of, pipeline};
        use crate::pipeline::{GenerateRequest, Placement, Stage};

        let pipe = pipeline("models/kino-shapes");
        let mut req = GenerateRequest::defaults_for(&pipe.package, "a green square moving right");
        assert_eq!(req.candidates, 8, "kino-shapes declares eight draws (defaults.candidates)");
        (req.steps, req.seed) = (4, 11);
        let clip = frames_of(|f| pipe.generate(&req, &mut |_| true, f));
        // (frames, the last denoising progress) of a job.
        type Job<'a> =
            dyn Fn(&GenerateRequest, &mut dyn FnMut(Progress) -> bool, &mut dyn FnMut(RgbFrame) -> Result<()>) -> Result<()> + 'a;
        let run = |job: &Job, req: &GenerateRequest| {
            let (mut out, mut last) = (Vec::new(), None);
            job(
                req,
                &mut |p| {
                    if p.stage == Stage::Denoise {
                        last = Some((p.done, p.total));
                    }
                    true
                },
                &mut |f| {
                    out.push(f);
                    Ok(())
                },
            )
            .unwrap();
            (out, last.unwrap())
        };
        let before: &Job = &|r, p, f| pipe.extend(r, &clip, Placement::Before, 5, p, f);
        let bridge: &Job = &|r, p, f| pipe.bridge(r, &clip[..9], &clip[12..], 6, p, f);
        for (name, job) in [("extend backwards", before), ("bridge", bridge)] {
            let req = GenerateRequest { candidates: 3, ..req.clone() };
            let (kept, progress) = run(job, &req);
            assert_eq!(progress, (3 * req.steps, 3 * req.steps), "{name}: one window, three draws");
            assert_eq!(run(job, &req).0, kept, "{name}: same seed, same frames");
            let alone: Vec<Vec<RgbFrame>> =
                (0..3).map(|c| run(job, &GenerateRequest { candidates: 1, seed: candidate_seed(req.seed, c), ..req.clone() }).0).collect();
            assert!(alone.contains(&kept), "{name}: the frames kept are no single draw's");
            assert!(alone.iter().any(|a| *a != alone[0]), "{name}: the draws were all the same");
        }
    }
}
