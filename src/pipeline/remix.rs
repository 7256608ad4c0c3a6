//! Remix (SDEdit): a clip redone under a new prompt. Its latents are noised to the level of a
//! step part way down the schedule and denoised from there: low strength keeps layout and motion,
//! high strength follows the new prompt. Clips longer than a window go window by window: at high
//! strength each continues (as clean context) from the remixed frames before it, at low strength
//! each redraws its own stretch of the clip.

use super::blend::carry_residual;
use super::denoise::WindowStart;
use super::windows::window_seed;
use super::{emit, frame_count_error, Pipeline, Placement, Progress, Tracker};
use crate::error::{Error, Result};
use crate::frame::RgbFrame;
use crate::pipeline::{GenerateRequest, MAX_LONG_FRAMES};

/// The strength up to which each window of a long remix follows the clip alone (see `remix`).
const FOLLOW_THE_CLIP: f32 = 0.5;

impl Pipeline {
    /// Remixes `clip` (frames at the request's size, in time order) under the request's prompt:
    /// `strength` 0 gives the clip back, 1 redraws it from pure noise. The request's `frames` is
    /// ignored: as many frames come out as went in, in order, to `on_frame`.
    pub fn remix(
        &self,
        req: &GenerateRequest,
        clip: &[RgbFrame],
        strength: f32,
        on_progress: &mut dyn FnMut(Progress) -> bool,
        on_frame: &mut dyn FnMut(RgbFrame) -> Result<()>,
    ) -> Result<()> {
        req.validate_settings(&self.package)?;
        self.require_encoder("remix")?;
        if self.package.manifest.conditioning.context_channels {
            return Err(Error::InvalidRequest(format!(
                "model {} cannot remix: it sees given frames only as input channels (conditioning.context_channels, an image-to-video model); remix needs a model that denoises the clip's own latents",
                self.package.manifest.name
            )));
        }
        self.context_mode(req)?;
        if !(0.0..=1.0).contains(&strength) {
            return Err(Error::InvalidRequest(format!("strength {strength}: use 0 (keep the clip) to 1 (redraw it from noise)")));
        }
        if clip.is_empty() || clip.len() > MAX_LONG_FRAMES as usize {
            return Err(Error::InvalidRequest(format!("remix 1 to {MAX_LONG_FRAMES} frames, not {}", clip.len())));
        }
        req.check_frame_sizes(clip, "a frame")?;
        let run = req.steps - req.remix_first_step(strength);
        let m = &self.package.manifest;
        let l = &m.latent;
        let t = l.temporal_compression.max(1) as usize;
        let (ctx_frames, window) = self.window_layout();
        let window_frames = l.valid_frames_up_to(m.video.default_frames as usize);
        // The first window covers the clip's start; each later one keeps `n` frames of context.
        let n = l.valid_frames_up_to(ctx_frames.min(window_frames.saturating_sub(t)));
        let per_window = window_frames.saturating_sub(n);
        if n == 0 || per_window == 0 {
            return Err(self.layout_error(ctx_frames, window));
        }
        let windows = 1 + clip.len().saturating_sub(window_frames).div_ceil(per_window);
        let mut tracker =
            Tracker { callback: on_progress, steps_done: 0, steps_total: run * windows, frames_done: 0, frames_total: clip.len() };
        if run == 0 {
            for f in clip {
                emit(&mut tracker, on_frame, f.clone())?;
            }
            return Ok(());
        }
        let job = self.job(req, true);
        let prompt = self.encode_prompt(req, &job)?;
        let first_step = req.remix_first_step(strength);
        // Above FOLLOW_THE_CLIP, later windows hold the remixed frames before them by latent
        // replacement: noised to each step's level like the rest of the window, so the whole
        // window is redrawn from one level of noise, as SDEdit does, and still continues what came
        // before. At or below it the clip itself fixes layout and motion, so each window redraws
        // its own stretch of the clip, overlap included, and the seam is hidden as after an
        // extended clip: holding the previous window's output there let the model's drift from
        // the clip accumulate (remix 0.3 on the demo model: the object 4.1 px from the clip's at
        // worst when chained, 3.5 px when each window follows the clip).
        let chained = GenerateRequest { context_mode: Some(super::ContextMode::Replace), ..req.clone() };
        // The clip's frame `i`, its last frame held past its end (a window is whole latent frames).
        let source = |i: usize| clip[i.min(clip.len() - 1)].clone();
        let mut made: Vec<RgbFrame> = Vec::new(); // the last `n` remixed frames
        let mut emitted = 0usize;
        for w in 0..windows {
            let seed = window_seed(req.seed, w);
            let (begin, ctx) = if w == 0 {
                (0, Vec::new())
            } else if strength <= FOLLOW_THE_CLIP {
                (emitted - n, Vec::new())
            } else {
                let begin = emitted - n;
                (begin, vec![self.encode_context(&made, Placement::After, &mut tracker)?])
            };
            let frames: Vec<RgbFrame> = (begin..begin + window_frames).map(source).collect();
            let clean = self.encode_context(&frames, Placement::After, &mut tracker)?;
            let shape = self.window_shape(req, clean.frames);
            let start = WindowStart::Renoised { clean: clean.latents.view(), step: first_step };
            let latents = self.denoise(&prompt, &chained, shape, &ctx, seed, start, &mut tracker)?;
            let decoded = self.decode(&latents, seed)?;
            if decoded.len() != window_frames {
                return Err(frame_count_error(decoded.len(), window_frames));
            }
            let skip = if w == 0 { 0 } else { n };
            let mut new: Vec<RgbFrame> = decoded[skip..].to_vec();
            if w > 0 {
                // As after an extended clip: the remixed frames before stay, and the model's
                // difference from them fades out over the new ones.
                carry_residual(&mut new, &made[n - 1], &decoded[n - 1], n);
            }
            let mut joined = std::mem::take(&mut made);
            for f in new {
                if emitted < clip.len() {
                    emit(&mut tracker, on_frame, f.clone())?;
                    emitted += 1;
                }
                joined.push(f);
            }
            made = joined.split_off(joined.len().saturating_sub(n));
            if emitted >= clip.len() {
                break;
            }
        }
        Ok(())
    }
}
