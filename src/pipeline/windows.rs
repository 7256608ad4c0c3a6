//! Windows after windows: extending a clip forwards or backwards, and chaining windows into
//! clips longer than one, each window continuing from the last frames made so far.

use super::blend::{carry_residual, carry_residual_where_unmoved, crossfade};
use super::candidates::{best_draw, distance};
use super::context::Slot;
use super::denoise::WindowStart;
use super::spool::FrameSpool;
use super::{emit, frame_count_error, Pipeline, Placement, Progress, Prompts, Tracker};
use crate::error::{Error, Result};
use crate::frame::RgbFrame;
use crate::pipeline::{GenerateRequest, MAX_LONG_FRAMES};

impl Pipeline {
    /// Generates `count` frames that continue `context` (frames at the request's size, in time
    /// order) after its end or before its start. Only the new frames are handed to `on_frame`,
    /// in time order. The request's `frames` is ignored; `count` may be any number.
    #[allow(clippy::too_many_arguments)]
    pub fn extend(
        &self,
        req: &GenerateRequest,
        context: &[RgbFrame],
        placement: Placement,
        count: usize,
        on_progress: &mut dyn FnMut(Progress) -> bool,
        on_frame: &mut dyn FnMut(RgbFrame) -> Result<()>,
    ) -> Result<()> {
        req.validate_settings(&self.package)?;
        self.require_encoder("extend")?;
        self.context_mode(req)?;
        if count == 0 || count > MAX_LONG_FRAMES as usize {
            return Err(Error::InvalidRequest(format!("extend by 1 to {MAX_LONG_FRAMES} frames, not {count}")));
        }
        if context.is_empty() {
            return Err(Error::InvalidRequest("nothing to extend: the clip has no frames".into()));
        }
        req.check_frame_sizes(context, "context frame")?;
        let (ctx_frames, window) = self.window_layout();
        let t = self.package.manifest.latent.temporal_compression.max(1) as usize;
        let causal = self.package.manifest.latent.causal_first_frame;
        let job = self.job(req, true);
        let prompt = self.encode_prompt(req, &job)?;
        let prompts = Prompts::single(prompt);
        match placement {
            Placement::After => {
                // The longest valid context the clip has, up to the model's context length.
                let n = self.package.manifest.latent.valid_frames_up_to(context.len().min(ctx_frames));
                if n == 0 {
                    return Err(Error::InvalidRequest(format!("the clip is too short to extend: it needs at least {t} frames")));
                }
                let windows = self.chain_windows(count, n, window, false)?;
                let mut tracker =
                    Tracker { callback: on_progress, steps_done: 0, steps_total: req.steps * windows, frames_done: 0, frames_total: count };
                let tail = context[context.len() - n..].to_vec();
                self.continue_after(&prompts, req, tail, count, false, 0, &mut tracker, on_frame)
            }
            Placement::Before => {
                let k = self.package.manifest.latent.latent_frames(ctx_frames as u32).max(1);
                let need = t * k;
                if context.len() < need {
                    return Err(Error::InvalidRequest(format!(
                        "the clip is too short to extend backwards: it needs at least {need} frames"
                    )));
                }
                let m = window.checked_sub(k).filter(|m| *m >= 1).ok_or_else(|| self.layout_error(ctx_frames, window))?;
                let per_window = self.package.manifest.latent.pixel_frames(m);
                let windows = count.div_ceil(per_window);
                let mut tracker = Tracker {
                    callback: on_progress,
                    steps_done: 0,
                    steps_total: req.steps * windows * req.candidates,
                    frames_done: 0,
                    frames_total: count,
                };
                // Generated backwards, window by window, so they wait in a spool (memory, then
                // disk) and are emitted oldest first.
                let mut made = FrameSpool::new(self.spool_memory);
                let mut head: Vec<RgbFrame> = context[..need].to_vec();
                // The clip's frames among them (the latest ones), until new footage replaces them.
                let mut users = need;
                // The earliest frames made so far, held back until the next window has
                // re-decoded them (see below).
                let mut held: Vec<RgbFrame> = Vec::new();
                let tokens = causal && self.uses_context_tokens(req)?;
                for w in 0..windows {
                    let ctx = if tokens {
                        // The clip's first frames as a clip of their own ahead of the window, at
                        // their time (LTX's conditions); the window's last latent frames are made
                        // and give the model's version of the first given frame, as below.
                        let clip = &head[..1 + t * (k - 1)];
                        self.encode_context(clip, Placement::After, &mut tracker)?.at(Slot::Tokens { frame_index: per_window })
                    } else {
                        self.encode_context(&head, Placement::Before, &mut tracker)?
                    };
                    let ctx = if users == 0 { ctx.made_by_this_job() } else { ctx };
                    let shape = self.window_shape(req, m + k);
                    // Each draw's decode of the frames it holds (after its `per_window` new ones)
                    // against those frames: the draw that agrees with them best is kept.
                    let mut draw = |seed: u64| {
                        let latents =
                            self.denoise(prompts.at(0), req, shape, std::slice::from_ref(&ctx), seed, WindowStart::Noise, &mut tracker)?;
                        self.decode(&latents, seed)
                    };
                    let misfit = |frames: &[RgbFrame]| distance(frames.get(per_window..).unwrap_or_default(), &head);
                    let mut frames = best_draw(req.candidates, window_seed(req.seed, w), &mut draw, &misfit)?;
                    let redecoded = if frames.len() > per_window { frames.split_off(per_window) } else { Vec::new() };
                    if frames.len() != per_window {
                        return Err(frame_count_error(frames.len(), per_window));
                    }
                    let earlier = std::mem::take(&mut held);
                    if earlier.is_empty() {
                        // Next to the clip: as after a clip, the new frames nearest the seam
                        // take over the difference between the first given frame and its
                        // re-decode, faded out within the window over two frames, not the
                        // window's five: the difference stays where the given frame had the
                        // object while the new frames' object moves off it, and its outline
                        // showed beside the object in mid-window (kino-shapes, 120 scenes, 2 s,
                        // eight draws: frames with stray pixels 13.0% -> 6.4%, seams at or under
                        // 1.5x the median step 114 -> 115; over one frame 2.3% on 40 scenes, but
                        // the jump it left read squares as circles: shape 97.5% -> 92.5%).
                        if let Some(again) = redecoded.first() {
                            frames.reverse();
                            carry_residual(&mut frames, &head[0], again, per_window.min(ARRIVAL_FADE_FRAMES));
                            frames.reverse();
                        }
                    } else {
                        // Between two new windows: the last window's earliest frames, held
                        // back, fade from this window's re-decode of them (which its new frames
                        // continue) at the join to what the last window made. The difference
                        // carried instead, as at the clip, drew the outline of an edge the
                        // re-decode put elsewhere beside the object in the two frames before
                        // each join (120 scenes, 2 s: frames with stray pixels 6.4% -> 2.5%;
                        // clips with a step over twice the median 11 -> 22: the two versions
                        // of the frame now meet within two frames, where the outline hid it).
                        let n = earlier.len();
                        let faded: Vec<RgbFrame> = earlier
                            .iter()
                            .enumerate()
                            .map(|(j, old)| match redecoded.get(j) {
                                Some(again) => crossfade(again, old, (j + 1) as f32 / (n + 1) as f32),
                                None => old.clone(),
                            })
                            .collect();
                        head.splice(..n, faded.iter().cloned());
                        made.push_earlier(faded)?;
                    }
                    // The next context: the earliest `need` frames so far (a window may make
                    // fewer, then the context reaches into what came after, up to the clip).
                    head = frames.iter().chain(&head).take(need).cloned().collect();
                    users = users.saturating_sub(frames.len());
                    let later = frames.split_off(JOIN_FADE_FRAMES.min(frames.len()));
                    held = frames;
                    made.push_earlier(later)?;
                }
                made.push_earlier(held)?;
                let skip = made.len() - count;
                made.drain(skip, &mut |f| emit(&mut tracker, on_frame, f))
            }
        }
    }

    pub(super) fn layout_error(&self, ctx_frames: usize, window: usize) -> Error {
        Error::package_file(
            &self.package.dir,
            "kino.json",
            format!("conditioning.context_frames {ctx_frames} leaves no room for new frames in a window of {window} latent frames (video.default_frames)"),
        )
    }

    /// How many windows `continue_after` needs for `count` new frames after `ctx` context frames.
    pub(super) fn chain_windows(&self, count: usize, ctx: usize, window: usize, blend: bool) -> Result<usize> {
        let t = self.package.manifest.latent.temporal_compression.max(1) as usize;
        let k = self.package.manifest.latent.latent_frames(ctx as u32);
        let m = window.checked_sub(k).filter(|m| *m >= 1).ok_or_else(|| self.layout_error(ctx, window))?;
        // Blending holds back `ctx` frames of each window, so a window must make at least that many.
        if blend && t * m < ctx {
            return Err(self.layout_error(ctx, window));
        }
        Ok(count.div_ceil(t * m))
    }

    /// Window after window, each continuing from the last frames so far (`tail`), until `count`
    /// more frames have been emitted. With `blend`, `tail` has not been emitted yet: each window
    /// cross-fades its re-decoded context into it, and the last window's tail is emitted at the end.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn continue_after(
        &self,
        prompts: &Prompts,
        req: &GenerateRequest,
        mut tail: Vec<RgbFrame>,
        count: usize,
        blend: bool,
        first_window: usize,
        tracker: &mut Tracker<'_>,
        on_frame: &mut dyn FnMut(RgbFrame) -> Result<()>,
    ) -> Result<()> {
        let (_, window) = self.window_layout();
        let n = tail.len();
        let k = self.package.manifest.latent.latent_frames(n as u32);
        let m = window - k;
        let mut emitted = 0usize;
        let mut w = first_window;
        // How many of the context frames are the user's (the oldest ones): none when blending
        // (a long clip's earlier window), else the clip's until new footage has replaced them.
        let mut users = if blend { 0 } else { n };
        while emitted < count {
            let ctx = self.encode_context(&tail, Placement::After, tracker)?;
            let ctx = if users == 0 { ctx.made_by_this_job() } else { ctx };
            let shape = self.window_shape(req, k + m);
            let seed = window_seed(req.seed, w);
            // The prompt in effect at the window's first new frame (a storyboard changes it).
            let prompt = prompts.at(tracker.frames_done + if blend { n } else { 0 });
            let latents = self.denoise(prompt, req, shape, std::slice::from_ref(&ctx), seed, WindowStart::Noise, tracker)?;
            let frames = self.decode(&latents, seed)?;
            if frames.len() <= n {
                return Err(frame_count_error(frames.len(), n + 1));
            }
            let mut frames = frames.into_iter();
            let recon: Vec<RgbFrame> = frames.by_ref().take(n).collect();
            let new: Vec<RgbFrame> = frames.collect();
            let keep = if blend { new.len() - n } else { new.len() };
            let mut new = new;
            if !blend {
                // The given frames stay as they are; the new footage takes over the difference
                // between the last given frame and the model's re-decode of it, fading out.
                carry_residual_where_unmoved(&mut new, &tail[n - 1], &recon[n - 1], n);
            }
            if blend {
                for (i, (old, again)) in tail.iter().zip(&recon).enumerate() {
                    if emitted < count {
                        emit(tracker, on_frame, crossfade(old, again, (i + 1) as f32 / (n + 1) as f32))?;
                        emitted += 1;
                    }
                }
            }
            for f in new.iter().take(keep) {
                if emitted < count {
                    emit(tracker, on_frame, f.clone())?;
                    emitted += 1;
                }
            }
            // The next context: the last `n` frames so far (a window may make fewer than `n`).
            users = users.saturating_sub(new.len());
            let mut joined = std::mem::take(&mut tail);
            joined.extend(new);
            tail = joined.split_off(joined.len() - n);
            w += 1;
            if blend && emitted + n >= count {
                // The last window's held-back tail ends the clip.
                for f in tail.drain(..).take(count - emitted) {
                    emit(tracker, on_frame, f)?;
                    emitted += 1;
                }
            }
        }
        Ok(())
    }
}

/// Frames over which a backward window's new footage takes over the difference between the first
/// frame it holds and the model's re-decode of it (full at the seam, half on the next frame).
const ARRIVAL_FADE_FRAMES: usize = 2;

/// How many of a backward window's earliest frames fade into the next window's re-decode of
/// them (40 scenes, stray / steps over 2x the median: one frame 1.6% / 4 clips, two 1.6% / 3,
/// three 1.6% / 2 but shape 95.0%, four 1.1% / 6 and shape 92.5%).
const JOIN_FADE_FRAMES: usize = 2;

/// Window `w`'s seed: window 0 uses the request's seed, so a one-window clip is the same as ever.
pub(super) fn window_seed(seed: u64, w: usize) -> u64 {
    seed.wrapping_add((w as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_zero_keeps_the_request_seed_and_later_windows_differ() {
        assert_eq!(window_seed(42, 0), 42);
        assert_ne!(window_seed(42, 1), 42);
        assert_ne!(window_seed(42, 1), window_seed(42, 2));
    }

    /// The shipped model, backwards: every count of frames comes out whole, and at a join between
    /// two new windows the earlier window's first frames are faded into the later one's re-decode
    /// of them while the rest of it stays as it was made.
    #[test]
    fn backward_windows_fade_into_each_other_at_their_joins() {
        use crate::pipeline::test_support::{frames_of, pipeline};
        use crate::pipeline::{GenerateRequest, Placement};

        let pipe = pipeline("models/kino-shapes");
        let mut req = GenerateRequest::defaults_for(&pipe.package, "a yellow triangle moving down");
        (req.steps, req.seed, req.candidates) = (3, 5, 1);
        let clip = frames_of(|f| pipe.generate(&req, &mut |_| true, f));
        let before = |count: usize| {
            let out = frames_of(|f| pipe.extend(&req, &clip, Placement::Before, count, &mut |_| true, f));
            assert_eq!(out.len(), count, "extend backwards by {count}");
            out
        };
        for count in [1, 2, 4, 6, 11] {
            before(count);
        }
        // Five frames a window: one window, then two (frames 5-9 are the first window's).
        let (one, two) = (before(5), before(10));
        assert!(two[5 + JOIN_FADE_FRAMES..] == one[JOIN_FADE_FRAMES..], "the first window's later frames are kept");
        for j in 0..JOIN_FADE_FRAMES {
            assert!(two[5 + j] != one[j], "frame {j} of the first window was not faded into the second's re-decode");
        }
    }
}
