//! Bridges: new footage that continues the frames before a gap and arrives at the frames after
//! it (two clips joined; a clip looped onto its own start). The last window holds clean context
//! at both ends; longer gaps are first filled forwards, window by window, as `extend` does.
//!
//! A bridge window of `k_a + m + k_b` latent frames: the end of the clip before (`k_a`), `m` to
//! make, the start of the clip after (`k_b`). Its `t * m` made frames may overshoot the gap by
//! `d < t` frames; the clip after is then read from its frame `d`, so the overshoot is the model's
//! own version of its first `d` frames, which are dropped for the real ones. A model that takes
//! context as extra tokens (`conditioning.context_tokens`, LTX-Video) gets the clip after the gap
//! that way instead, at its time, and the window's last latent frame is made.

use std::collections::VecDeque;

use super::blend::carry_residual;
use super::candidates::{best_draw, distance};
use super::context::{LatentContext, Slot};
use super::denoise::WindowStart;
use super::windows::window_seed;
use super::{emit, frame_count_error, ContextMode, EncodedPrompt, Pipeline, Placement, Progress, Prompts, Stage, Tracker};
use crate::error::{Error, Result};
use crate::frame::RgbFrame;
use crate::model::manifest::ContextAt;
use crate::pipeline::{GenerateRequest, MAX_LONG_FRAMES};

/// Latent frames of the clip after a gap that a bridge window holds.
const AFTER_LATENTS: usize = 1;

impl Pipeline {
    /// Frames a bridge reads from each side of the gap: (the last frames of the clip before,
    /// the first frames of the clip after). Fewer are fine when a clip is shorter.
    pub fn bridge_context_wanted(&self) -> (usize, usize) {
        let l = &self.package.manifest.latent;
        let t = l.temporal_compression.max(1) as usize;
        let (ctx_frames, window) = self.window_layout();
        let single = l.pixel_frames(window.saturating_sub(AFTER_LATENTS + 1));
        (ctx_frames.max(single), t * AFTER_LATENTS + t - 1)
    }

    /// The most frames a bridge makes in one window. A model that takes given frames as input
    /// channels holds one given frame after the gap, at the window's last frame (as
    /// `WanImageToVideoPipeline`'s last image); others hold a whole latent frame of it.
    pub fn bridge_in_one_window(&self) -> usize {
        let l = &self.package.manifest.latent;
        let t = l.temporal_compression.max(1) as usize;
        let (ctx_frames, window) = self.window_layout();
        if self.package.manifest.conditioning.context_channels {
            return l.pixel_frames(window).saturating_sub(l.valid_frames_up_to(ctx_frames).max(1) + 1);
        }
        t * window.saturating_sub(AFTER_LATENTS + 1)
    }

    /// The most frames a bridge of this model can have, where that is one window's worth (a
    /// model that sees the last frame of every window: Wan2.1 FLF2V); `None` where longer
    /// bridges are made window by window.
    pub fn longest_bridge(&self) -> Option<usize> {
        let image_frames = &self.package.manifest.conditioning.image_frames;
        image_frames.contains(&crate::model::manifest::ImageFrame::Last).then(|| self.bridge_in_one_window())
    }

    /// Generates `count` frames that continue `before` (frames up to the gap, at the request's
    /// size, in time order) and lead into `after` (frames from the gap on). Only the new frames
    /// are handed to `on_frame`, in time order; the given frames stay as they are, and the model's
    /// difference from them at both seams is carried into the new footage, fading out.
    #[allow(clippy::too_many_arguments)]
    pub fn bridge(
        &self,
        req: &GenerateRequest,
        before: &[RgbFrame],
        after: &[RgbFrame],
        count: usize,
        on_progress: &mut dyn FnMut(Progress) -> bool,
        on_frame: &mut dyn FnMut(RgbFrame) -> Result<()>,
    ) -> Result<()> {
        req.validate_settings(&self.package)?;
        self.require_encoder("bridge")?;
        let req = &self.with_context_mode(req, ContextAt::BothEnds)?;
        if count == 0 || count > MAX_LONG_FRAMES as usize {
            return Err(Error::InvalidRequest(format!("bridge with 1 to {MAX_LONG_FRAMES} frames, not {count}")));
        }
        for (side, frames) in [("before", before), ("after", after)] {
            if frames.is_empty() {
                return Err(Error::InvalidRequest(format!("nothing to bridge from: the clip {side} the gap has no frames")));
            }
            req.check_frame_sizes(frames, &format!("a frame of the clip {side} the gap"))?;
        }
        let (pre, last, pre_windows) = self.bridge_plan(count, before.len())?;
        let mut tracker = Tracker {
            callback: on_progress,
            steps_done: 0,
            steps_total: req.steps * (pre_windows + req.candidates),
            frames_done: 0,
            frames_total: count,
        };
        let job = self.job(req, true);
        let prompts = Prompts::single(self.encode_prompt(req, &job)?);
        let (keep, _) = self.bridge_context_wanted();
        let mut recent: VecDeque<RgbFrame> = before[before.len().saturating_sub(keep)..].iter().cloned().collect();
        if pre > 0 {
            // Up to the last window, the gap is filled forwards from the clip before it.
            let (ctx_frames, _) = self.window_layout();
            let n = self.package.manifest.latent.valid_frames_up_to(before.len().min(ctx_frames));
            let tail = before[before.len() - n..].to_vec();
            self.continue_after(&prompts, req, tail, pre, false, 0, &mut tracker, &mut |f| {
                recent.push_back(f.clone());
                if recent.len() > keep {
                    recent.pop_front();
                }
                on_frame(f)
            })?;
        }
        let recent: Vec<RgbFrame> = recent.into();
        self.bridge_window(prompts.at(0), req, &recent, after, last, window_seed(req.seed, pre_windows), &mut tracker, on_frame)
    }

    /// The request with the context mode a bridge uses: the one asked for, else native where the
    /// model was trained with context at both ends, else latent replacement.
    pub(super) fn with_context_mode(&self, req: &GenerateRequest, at: ContextAt) -> Result<GenerateRequest> {
        let best = self.context_mode(req)?;
        let conditioning = &self.package.manifest.conditioning;
        let mode = match req.context_mode {
            Some(ContextMode::Native) if !conditioning.supports(at) => {
                log::warn!(
                    "model {} does not declare context at {at} (conditioning.context_at); native context there is untested",
                    self.package.manifest.name
                );
                ContextMode::Native
            }
            Some(mode) => mode,
            None if best == ContextMode::Channels && !conditioning.supports(at) => {
                log::warn!(
                    "model {} was not trained with given frames at {at} (conditioning.context_at); expect weaker continuity there",
                    self.package.manifest.name
                );
                best
            }
            None if best == ContextMode::Native && !conditioning.supports(at) => {
                log::info!(
                    "model {} was not trained with context at {at} (conditioning.context_at); using latent replacement there",
                    self.package.manifest.name
                );
                ContextMode::Replace
            }
            None => best,
        };
        Ok(GenerateRequest { context_mode: Some(mode), ..req.clone() })
    }

    /// Whether context away from a window's start goes in as extra tokens: native context on a
    /// model that takes them (`conditioning.context_tokens`).
    pub(super) fn uses_context_tokens(&self, req: &GenerateRequest) -> Result<bool> {
        Ok(self.package.manifest.conditioning.context_tokens && self.context_mode(req)? == ContextMode::Native)
    }

    /// (frames filled forwards first, frames of the bridge window, forward windows).
    fn bridge_plan(&self, count: usize, before: usize) -> Result<(usize, usize, usize)> {
        let l = &self.package.manifest.latent;
        let t = l.temporal_compression.max(1) as usize;
        let (ctx_frames, window) = self.window_layout();
        let max_single = self.bridge_in_one_window();
        if max_single == 0 {
            return Err(self.layout_error(ctx_frames, window));
        }
        if count <= max_single {
            return Ok((0, count, 0));
        }
        let m = &self.package.manifest;
        if self.longest_bridge().is_some() {
            // Windows before the last would have no last frame to see.
            return Err(Error::InvalidRequest(format!(
                "model {} sees the last frame of every window, so it bridges in one window: at most {max_single} frames ({:.2} s at {} fps), not {count}",
                m.name,
                max_single as f64 / m.video.fps,
                m.video.fps
            )));
        }
        // The last window keeps room for two latent frames of new footage, and as much of the
        // forward context as fits besides.
        let k_a = l.latent_frames(ctx_frames as u32).min(window.saturating_sub(AFTER_LATENTS + 2)).max(1);
        let last = t * (window - AFTER_LATENTS - k_a);
        let pre = count - last;
        let n = l.valid_frames_up_to(before.min(ctx_frames));
        if n == 0 {
            return Err(Error::InvalidRequest(format!("the clip before the gap is too short to continue: it needs at least {t} frames")));
        }
        Ok((pre, last, self.chain_windows(pre, n, window, false)?))
    }

    /// The window with context at both ends: makes `count` (at most `t * (window - 2)`) frames.
    #[allow(clippy::too_many_arguments)]
    fn bridge_window(
        &self,
        prompt: &EncodedPrompt,
        req: &GenerateRequest,
        before: &[RgbFrame],
        after: &[RgbFrame],
        count: usize,
        seed: u64,
        tracker: &mut Tracker<'_>,
        on_frame: &mut dyn FnMut(RgbFrame) -> Result<()>,
    ) -> Result<()> {
        if self.package.manifest.conditioning.context_channels {
            return self.bridge_window_channels(prompt, req, before, after, count, seed, tracker, on_frame);
        }
        let l = &self.package.manifest.latent;
        let t = l.temporal_compression.max(1) as usize;
        let (_, window) = self.window_layout();
        let m = count.div_ceil(t);
        let overshoot = t * m - count;
        let room = window.checked_sub(AFTER_LATENTS + m).filter(|k| *k >= 1).ok_or_else(|| {
            Error::InvalidRequest(format!(
                "a bridge window makes at most {} frames, not {count}",
                t * window.saturating_sub(AFTER_LATENTS + 1)
            ))
        })?;
        let n_a = l.valid_frames_up_to(before.len().min(l.pixel_frames(room)));
        if n_a == 0 {
            return Err(Error::InvalidRequest(format!("the clip before the gap is too short to continue: it needs at least {t} frames")));
        }
        let n_b = t * AFTER_LATENTS;
        // A clip after the gap shorter than the frames the model reads there (a still image, a
        // few frames) is held on its last frame, as a still shown for that long would be.
        let held: Vec<RgbFrame>;
        let after = if after.len() < overshoot + n_b {
            log::info!(
                "the clip after the gap has {} frame(s); its last is held to make the {} the bridge reads",
                after.len(),
                overshoot + n_b
            );
            let last =
                after.last().ok_or_else(|| Error::InvalidRequest("nothing to bridge to: the clip after the gap has no frames".into()))?;
            held = after.iter().chain(std::iter::repeat(last)).take(overshoot + n_b).cloned().collect();
            &held[..]
        } else {
            after
        };
        let k_a = l.latent_frames(n_a as u32);
        let given_before = &before[before.len() - n_a..];
        let tokens = self.uses_context_tokens(req)?;
        let arrival = if tokens {
            // B's first frame as an image ahead of the window, at its time (LTX's conditions at
            // a frame_index; a longer clip would run past the window, which LTXConditionPipeline
            // trims to this one frame): the window's last latent frame is made, not held, and is
            // the model's version of B's start, as in latent replacement.
            let x = self.encode_context(&after[overshoot..overshoot + 1], Placement::After, tracker)?;
            x.at(Slot::Tokens { frame_index: n_a + t * m })
        } else {
            self.encode_context(&after[overshoot..overshoot + n_b], Placement::Before, tracker)?
        };
        let parts = [self.encode_context(given_before, Placement::After, tracker)?, arrival];
        let window = BridgeWindow { latent_frames: k_a + m + AFTER_LATENTS, frames: n_a + t * m + n_b, given_before: n_a, count };
        self.make_bridge_window(prompt, req, &parts, &window, (given_before, after), seed, tracker, on_frame)
    }

    /// Denoises and decodes a bridge window holding `parts` (drawn `req.candidates` times, the
    /// draw whose decode of the given frames comes nearest to them kept), and hands on its new
    /// frames, each seam's difference from the model's version of the given frame there carried
    /// into them. `given`: the frames the window holds before the gap, and the clip after the gap
    /// from its first frame on.
    #[allow(clippy::too_many_arguments)]
    fn make_bridge_window(
        &self,
        prompt: &EncodedPrompt,
        req: &GenerateRequest,
        parts: &[LatentContext],
        window: &BridgeWindow,
        given: (&[RgbFrame], &[RgbFrame]),
        seed: u64,
        tracker: &mut Tracker<'_>,
        on_frame: &mut dyn FnMut(RgbFrame) -> Result<()>,
    ) -> Result<()> {
        let t = self.package.manifest.latent.temporal_compression.max(1) as usize;
        let BridgeWindow { latent_frames, frames: total, given_before: n_a, count } = *window;
        let shape = self.window_shape(req, latent_frames);
        let mut draw = |seed: u64| {
            let latents = self.denoise(prompt, req, shape, parts, seed, WindowStart::Noise, tracker)?;
            self.decode(&latents, seed)
        };
        let misfit = |frames: &[RgbFrame]| {
            distance(&frames[..n_a.min(frames.len())], given.0) + distance(frames.get(n_a + count..).unwrap_or_default(), given.1)
        };
        let frames = best_draw(req.candidates, seed, &mut draw, &misfit)?;
        if frames.len() != total {
            return Err(frame_count_error(frames.len(), total));
        }
        let mut new: Vec<RgbFrame> = frames[n_a..n_a + count].to_vec();
        // Both seams: the given frame next to the gap against the model's version of it, the
        // difference carried into the bridge (full at the seam, fading over a latent frame's
        // span or half the bridge, so the two never pile up).
        let span = t.min(count.div_ceil(2)).max(1);
        let (Some(last_before), Some(first_after)) = (given.0.last(), given.1.first()) else {
            return Err(Error::InvalidRequest("a bridge needs frames on both sides of the gap".into()));
        };
        carry_residual(&mut new, last_before, &frames[n_a - 1], span);
        new.reverse();
        carry_residual(&mut new, first_after, &frames[n_a + count], span);
        new.reverse();
        for f in new {
            emit(tracker, on_frame, f)?;
        }
        Ok(())
    }

    /// [`Pipeline::bridge_window`] for a model that takes given frames as input channels: the
    /// clip before the gap's last frames at the window's start (as many as
    /// `conditioning.context_frames`: one for Wan2.1 I2V / FLF2V), `count` new frames, then the
    /// clip after the gap from its first frame on, of which the window's last frame alone is
    /// given (FLF2V's last image; with `count + 1` a multiple of the temporal compression that
    /// is the first frame after the gap, exactly as `WanImageToVideoPipeline` lays out a first
    /// and a last frame).
    #[allow(clippy::too_many_arguments)]
    fn bridge_window_channels(
        &self,
        prompt: &EncodedPrompt,
        req: &GenerateRequest,
        before: &[RgbFrame],
        after: &[RgbFrame],
        count: usize,
        seed: u64,
        tracker: &mut Tracker<'_>,
        on_frame: &mut dyn FnMut(RgbFrame) -> Result<()>,
    ) -> Result<()> {
        let l = &self.package.manifest.latent;
        let t = l.temporal_compression.max(1) as usize;
        let (ctx_frames, window) = self.window_layout();
        let n_a = l.valid_frames_up_to(before.len().min(ctx_frames));
        if n_a == 0 {
            return Err(Error::InvalidRequest("the clip before the gap has no frames to continue".into()));
        }
        let k_a = l.latent_frames(n_a as u32);
        // The new frames and the arrival, in whole latent frames; the window's frames past the
        // new ones are the model's version of the clip after the gap, up to the given one.
        let m = (count + 1).div_ceil(t);
        let over = t * m - (count + 1);
        if k_a + m > window {
            return Err(Error::InvalidRequest(format!(
                "a bridge window makes at most {} frames, not {count}",
                self.bridge_in_one_window()
            )));
        }
        let arrival = after
            .get(over)
            .or(after.last())
            .ok_or_else(|| Error::InvalidRequest("nothing to bridge to: the clip after the gap has no frames".into()))?;
        let given_before = &before[before.len() - n_a..];
        let total = n_a + t * m;
        let parts = [
            self.encode_context(given_before, Placement::After, tracker)?,
            self.encode_context(std::slice::from_ref(arrival), Placement::After, tracker)?.at(Slot::Frame(total - 1)),
        ];
        let window = BridgeWindow { latent_frames: k_a + m, frames: total, given_before: n_a, count };
        self.make_bridge_window(prompt, req, &parts, &window, (given_before, after), seed, tracker, on_frame)
    }

    /// Generates a clip of `req.frames` whose last frame leads into its first: the clip is made
    /// shorter, then bridged from its end back to its start.
    pub fn generate_loop(
        &self,
        req: &GenerateRequest,
        on_progress: &mut dyn FnMut(Progress) -> bool,
        on_frame: &mut dyn FnMut(RgbFrame) -> Result<()>,
    ) -> Result<()> {
        req.validate(&self.package)?;
        self.require_encoder("a loop")?;
        let bridge_req = self.with_context_mode(req, ContextAt::BothEnds)?;
        let l = &self.package.manifest.latent;
        let t = l.temporal_compression.max(1) as usize;
        let (_, window) = self.window_layout();
        // The bridge back to the start: half the window's new footage, whole latent frames.
        let m = (window.saturating_sub(AFTER_LATENTS) / 2).max(1);
        let bridge = t * m;
        let least = bridge + l.pixel_frames(window - AFTER_LATENTS - m).max(t * AFTER_LATENTS);
        let total = req.frames as usize;
        if total < least {
            return Err(Error::InvalidRequest(format!(
                "a loop needs at least {least} frames with model {}, not {total}",
                self.package.manifest.name
            )));
        }
        // The body's frames before the bridge. Where that count is not one the model makes in
        // one window (1 + 4k for kino-shapes), the body is made one valid count longer and the
        // extra frames are left out: the bridge leads on from the last frame shown.
        let shown = total - bridge;
        let v = &self.package.manifest.video;
        let made = if shown as u32 <= v.max_frames && !v.frames_valid(l, shown as u32) {
            (shown as u32..=v.max_frames).find(|&n| v.frames_valid(l, n)).unwrap_or(shown as u32)
        } else {
            shown as u32
        };
        // The body is made as from text, window by window; only the bridge back leads into given
        // frames (and takes their guidance). Guided at that 4 throughout, the body's later
        // windows grew second objects (kino-shapes, 24 loops of 51 frames: frames with stray
        // pixels 12.9% -> 5.5%, wraps at or under 1.5x the median step 17 -> 18).
        let body = GenerateRequest { frames: made, ..req.clone() };
        body.validate(&self.package)?;
        let (keep, _) = self.bridge_context_wanted();
        let mut head: Vec<RgbFrame> = Vec::new();
        let mut tail: VecDeque<RgbFrame> = VecDeque::new();
        let mut steps_total = 0usize;
        let (mut steps_done, mut frames_done) = (0usize, 0usize);
        {
            // The body's progress, counted against the whole loop.
            let mut progress = |p: Progress| {
                let p = match p.stage {
                    Stage::Denoise => {
                        (steps_total, steps_done) = (p.total, p.done);
                        Progress { total: p.total + req.steps * req.candidates, ..p }
                    }
                    _ => {
                        frames_done = p.done;
                        Progress { total, ..p }
                    }
                };
                on_progress(p)
            };
            let mut seen = 0usize;
            self.generate(&body, &mut progress, &mut |f| {
                seen += 1;
                if seen > shown {
                    return Ok(());
                }
                if head.len() < t * AFTER_LATENTS {
                    head.push(f.clone());
                }
                tail.push_back(f.clone());
                if tail.len() > keep {
                    tail.pop_front();
                }
                on_frame(f)
            })?;
        }
        let mut tracker = Tracker {
            callback: on_progress,
            steps_done,
            steps_total: steps_total + req.steps * req.candidates,
            frames_done,
            frames_total: total,
        };
        let job = self.job(&bridge_req, true);
        let prompt = self.encode_prompt(&bridge_req, &job)?;
        let windows = steps_total / req.steps.max(1);
        let tail: Vec<RgbFrame> = tail.into();
        self.bridge_window(&prompt, &bridge_req, &tail, &head, bridge, window_seed(req.seed, windows), &mut tracker, on_frame)
    }
}

/// A bridge window's layout: its latent frames, the pixel frames they decode to, how many of
/// those are the given frames before the gap (the window's first), and the new frames after them.
#[derive(Clone, Copy)]
struct BridgeWindow {
    latent_frames: usize,
    frames: usize,
    given_before: usize,
    count: usize,
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::model::ModelPackage;
    use crate::runtime::RuntimeOptions;

    fn clip(n: usize, shade: u8) -> Vec<RgbFrame> {
        (0..n)
            .map(|i| {
                let data = (0..32 * 32).flat_map(|p| [shade, (p % 32 * 8) as u8, (i * 20) as u8]).collect();
                RgbFrame { width: 32, height: 32, data }
            })
            .collect()
    }

    /// A model that takes context as extra tokens bridges and extends backwards natively (the
    /// frames after the new ones as tokens at their time): other frames than latent
    /// replacement, the same frames for the same seed.
    #[test]
    fn a_context_tokens_model_bridges_and_prepends_natively() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/fixtures/ltx-tiny");
        let pkg = ModelPackage::load(&dir).unwrap();
        assert!(pkg.manifest.conditioning.context_tokens && pkg.manifest.conditioning.supports(ContextAt::BothEnds));
        let pipe = Pipeline::from_package(pkg, &RuntimeOptions { threads: Some(2), ..RuntimeOptions::from_env() }).unwrap();
        let req = GenerateRequest {
            prompt: "a ball".into(),
            negative_prompt: None,
            width: 32,
            height: 32,
            frames: 9,
            steps: 2,
            guidance: 3.0,
            guidance_given_frames: None,
            guidance_interval: None,
            seed: 3,
            sampler: None,
            context_mode: None,
            storyboard: Vec::new(),
            candidates: 1,
        };
        assert_eq!(pipe.with_context_mode(&req, ContextAt::BothEnds).unwrap().context_mode, Some(ContextMode::Native));
        let run = |req: &GenerateRequest, after: &[RgbFrame]| {
            let mut out = Vec::new();
            pipe.bridge(req, &clip(9, 40), after, 6, &mut |_| true, &mut |f| {
                out.push(f);
                Ok(())
            })
            .unwrap();
            out
        };
        let native = run(&req, &clip(9, 200));
        assert_eq!(native.len(), 6);
        assert_eq!(native, run(&req, &clip(9, 200)), "same seed, same frames");
        let replace = run(&GenerateRequest { context_mode: Some(ContextMode::Replace), ..req.clone() }, &clip(9, 200));
        assert_ne!(native, replace, "native tokens and latent replacement gave the same frames");
        assert_ne!(native, run(&req, &clip(9, 90)), "the clip after the gap changed nothing");

        // Extending backwards holds the clip's first frames as tokens too.
        let prepend = |req: &GenerateRequest, clip: &[RgbFrame]| {
            let mut out = Vec::new();
            pipe.extend(req, clip, Placement::Before, 6, &mut |_| true, &mut |f| {
                out.push(f);
                Ok(())
            })
            .unwrap();
            out
        };
        let native = prepend(&req, &clip(9, 200));
        assert_eq!(native.len(), 6);
        assert_eq!(native, prepend(&req, &clip(9, 200)), "same seed, same frames");
        let replace = prepend(&GenerateRequest { context_mode: Some(ContextMode::Replace), ..req.clone() }, &clip(9, 200));
        assert_ne!(native, replace, "native tokens and latent replacement gave the same frames");
    }
}
