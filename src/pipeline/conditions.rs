//! Conditions: given frames placed anywhere in one window, as LTX-Video's
//! `LTXConditionPipeline` takes them (an image or a clip at a `frame_index`, with a strength).
//! At frame 0 they are the window's first latent frames; elsewhere (a `context_tokens` model)
//! extra tokens ahead of the window, positioned at their frame's time, with a clip's latent
//! frames past the first two written into the window itself.

use ndarray::Array5;

use super::context::{LatentContext, Slot};
use super::denoise::WindowStart;
use super::{Pipeline, Placement, Tracker};
use crate::error::{Error, Result};
use crate::frame::RgbFrame;
use crate::model::components::{concat_frames, latent_frames};
use crate::pipeline::GenerateRequest;

/// A clip's leading latent frames that become extra tokens (the rest go into the window):
/// `LTXConditionPipeline`'s `num_prefix_latent_frames` default.
const PREFIX_LATENT_FRAMES: usize = 2;

/// Frames a window is conditioned on: an image (one frame) or a clip (`1 + t*k` frames with a
/// causal VAE), its first frame at pixel frame `frame_index` of the window, held by `strength`
/// (1: exactly; below 1: mixed with noise and released as the noise level falls below
/// `1 - strength`).
#[derive(Clone, Debug)]
pub struct Condition {
    pub frames: Vec<RgbFrame>,
    pub frame_index: usize,
    pub strength: f32,
}

impl Pipeline {
    /// The latent context parts of `conditions` for a window of `frames` pixel frames.
    fn encode_conditions(
        &self,
        req: &GenerateRequest,
        conditions: &[Condition],
        frames: usize,
        tracker: &mut Tracker<'_>,
    ) -> Result<Vec<LatentContext>> {
        let m = &self.package.manifest;
        let t = m.latent.temporal_compression.max(1) as usize;
        let mut parts = Vec::new();
        for (i, c) in conditions.iter().enumerate() {
            let which = format!("condition {}", i + 1);
            if c.frames.is_empty() {
                return Err(Error::InvalidRequest(format!("{which} has no frames")));
            }
            if !(c.strength > 0.0 && c.strength <= 1.0) {
                return Err(Error::InvalidRequest(format!("{which}: strength {} is outside (0, 1]", c.strength)));
            }
            if c.frame_index + c.frames.len() > frames {
                return Err(Error::InvalidRequest(format!(
                    "{which}: {} frames from frame {} run past the window's {frames} frames",
                    c.frames.len(),
                    c.frame_index
                )));
            }
            if !m.video.frames_valid(&m.latent, c.frames.len() as u32) {
                return Err(Error::InvalidRequest(format!(
                    "{which}: {} frames is not a length the VAE encodes (1 + {t}k frames)",
                    c.frames.len()
                )));
            }
            req.check_frame_sizes(&c.frames, &format!("a frame of {which}"))?;
            let mut x = self.encode_context(&c.frames, Placement::After, tracker)?;
            x.strength = c.strength;
            if m.conditioning.context_channels {
                // The frames go in as they are, at their frame; the latents hold no context.
                if c.strength < 1.0 {
                    return Err(Error::InvalidRequest(format!(
                        "{which}: model {} takes given frames as input channels, which hold them exactly: strength 1 only",
                        m.name
                    )));
                }
                parts.push(if c.frame_index == 0 { x } else { x.at(Slot::Frame(c.frame_index)) });
                continue;
            }
            if c.frame_index == 0 {
                parts.push(x);
                continue;
            }
            if !m.conditioning.context_tokens {
                return Err(Error::InvalidRequest(format!(
                    "{which} is at frame {}: model {} takes conditions at frame 0 only (it does not declare conditioning.context_tokens)",
                    c.frame_index, m.name
                )));
            }
            if c.frames.len() > 1 && x.frames < PREFIX_LATENT_FRAMES {
                return Err(Error::InvalidRequest(format!(
                    "{which}: a clip away from frame 0 needs at least {} frames",
                    1 + t * (PREFIX_LATENT_FRAMES - 1)
                )));
            }
            if x.frames > PREFIX_LATENT_FRAMES {
                // The clip's later latent frames sit in the window itself, where they fall.
                let rest = x.frames_from(PREFIX_LATENT_FRAMES);
                let n = rest.dim().2;
                parts.push(LatentContext {
                    latents: rest,
                    frames: n,
                    slot: Slot::At(c.frame_index / t + PREFIX_LATENT_FRAMES),
                    strength: c.strength,
                    own: x.own,
                    pixels: None,
                });
                // Its first latent frames go ahead as tokens, with its slot, strength and origin.
                x = LatentContext { latents: latent_frames(x.latents.view(), 0, PREFIX_LATENT_FRAMES), frames: PREFIX_LATENT_FRAMES, ..x };
            }
            parts.push(x.at(Slot::Tokens { frame_index: c.frame_index }));
        }
        Ok(parts)
    }

    /// One window from the given initial latents (normalised, `[1, C, f, h, w]` as
    /// [`Pipeline::latent_shape`] says; `None` draws them from the seed) under `conditions`,
    /// returned as float frames `[1, 3, F, H, W]` clamped to [-1, 1]: what diffusers' pipelines
    /// compute before quantising. The output holds the window's own version of conditioned
    /// frames. For parity checks against reference implementations and for tools that want raw
    /// output.
    pub fn generate_conditioned(
        &self,
        req: &GenerateRequest,
        initial: Option<ndarray::ArrayView5<'_, f32>>,
        conditions: &[Condition],
    ) -> Result<Array5<f32>> {
        req.validate(&self.package)?;
        if req.frames > self.package.manifest.video.max_frames {
            return Err(Error::InvalidRequest(format!(
                "raw output is one window: at most {} frames",
                self.package.manifest.video.max_frames
            )));
        }
        let shape = self.latent_shape(req);
        if let Some(x) = initial.filter(|x| x.shape() != shape) {
            return Err(Error::InvalidRequest(format!("initial latents of shape {:?}; the request needs {shape:?}", x.shape())));
        }
        let mut ignore = |_: super::Progress| true;
        let mut tracker =
            Tracker { callback: &mut ignore, steps_done: 0, steps_total: req.steps, frames_done: 0, frames_total: req.frames as usize };
        let job = self.job(req, !conditions.is_empty());
        let prompt = self.encode_prompt(req, &job)?;
        if !conditions.is_empty() {
            self.context_mode(req)?;
        }
        let ctx = self.encode_conditions(req, conditions, req.frames as usize, &mut tracker)?;
        let start = initial.map_or(WindowStart::Noise, WindowStart::Latents);
        let latents = self.denoise(&prompt, req, shape, &ctx, req.seed, start, &mut tracker)?;
        job.denoising_done();
        let mut chunks = Vec::new();
        self.decode_chunks(&latents, req.seed, &mut |chunk| {
            chunks.push(chunk.to_owned());
            Ok(())
        })?;
        let mut out = concat_frames("VAE decoder", &chunks.iter().map(|c| c.view()).collect::<Vec<_>>())?;
        out.mapv_inplace(|x| x.clamp(-1.0, 1.0));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::test_support::pipeline as pipe;

    fn req(size: u32, frames: u32) -> GenerateRequest {
        GenerateRequest {
            prompt: "a red circle moving left".into(),
            negative_prompt: None,
            width: size,
            height: size,
            frames,
            steps: 2,
            guidance: 3.0,
            guidance_given_frames: None,
            guidance_interval: None,
            seed: 1,
            sampler: None,
            context_mode: None,
            storyboard: Vec::new(),
            candidates: 1,
        }
    }

    fn still(size: u32, n: usize) -> Vec<RgbFrame> {
        vec![RgbFrame { width: size, height: size, data: vec![90; (size * size * 3) as usize] }; n]
    }

    /// Conditions a window cannot take are errors that say why, never a panic.
    #[test]
    fn bad_conditions_are_clear_errors() {
        let ltx = pipe("models/fixtures/ltx-tiny");
        let r = req(32, 17);
        let at = |frames: Vec<RgbFrame>, frame_index: usize, strength: f32| vec![Condition { frames, frame_index, strength }];
        for (conditions, want) in [
            (at(Vec::new(), 0, 1.0), "has no frames"),
            (at(still(32, 1), 4, 1.5), "outside (0, 1]"),
            (at(still(32, 1), 4, 0.0), "outside (0, 1]"),
            (at(still(32, 5), 14, 1.0), "run past the window's 17 frames"),
            (at(still(32, 2), 4, 1.0), "not a length the VAE encodes"),
            (at(still(16, 1), 4, 1.0), "condition 1"),
        ] {
            match ltx.generate_conditioned(&r, None, &conditions) {
                Err(Error::InvalidRequest(m)) => assert!(m.contains(want), "{want}: {m}"),
                other => panic!("{want}: {:?}", other.map(|a| a.shape().to_vec())),
            }
        }
        assert!(ltx.generate_conditioned(&r, None, &at(still(32, 1), 16, 1.0)).is_ok());
        // The demo model places context inside its window only.
        let demo = pipe("models/kino-shapes");
        let m = &demo.package.manifest;
        let r = req(m.video.default_width, m.video.default_frames);
        match demo.generate_conditioned(&r, None, &at(still(m.video.default_width, 1), 8, 1.0)) {
            Err(Error::InvalidRequest(m)) => assert!(m.contains("takes conditions at frame 0 only"), "{m}"),
            other => panic!("{:?}", other.map(|a| a.shape().to_vec())),
        }
    }
}
