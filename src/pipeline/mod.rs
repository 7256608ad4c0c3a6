//! Text to video, top to bottom: tokenize, encode the prompt, prepare latents, denoise, decode,
//! emit frames. Reads like diffusers' `__call__`; everything model-specific comes from the manifest.

mod noise;

use std::path::Path;

pub use noise::gaussian_noise;

use crate::error::{Error, Result};
use crate::frame::RgbFrame;
use crate::model::components::DenoiserInputs;
use crate::model::{Denoiser, ModelPackage, TextEncoder, VaeDecoder, VaeEncoder};
use crate::runtime::{resolve_device, Device, RuntimeOptions};
use crate::scheduler::build_scheduler;
use crate::text::PromptTokenizer;

/// Largest width or height anyone may ask for, whatever the manifest says (guards allocation).
const ABSOLUTE_MAX_SIZE: u32 = 8192;

/// What to generate.
#[derive(Clone, Debug, PartialEq)]
pub struct GenerateRequest {
    pub prompt: String,
    /// `None` uses the package's default negative prompt.
    pub negative_prompt: Option<String>,
    pub width: u32,
    pub height: u32,
    pub frames: u32,
    pub steps: usize,
    /// Classifier-free guidance scale; 1.0 (or less) runs the prompt alone.
    pub guidance: f32,
    pub seed: u64,
}

impl GenerateRequest {
    /// The package's defaults, with this prompt.
    pub fn defaults_for(pkg: &ModelPackage, prompt: impl Into<String>) -> Self {
        let m = &pkg.manifest;
        GenerateRequest {
            prompt: prompt.into(),
            negative_prompt: None,
            width: m.video.default_width,
            height: m.video.default_height,
            frames: m.video.default_frames,
            steps: m.defaults.steps,
            guidance: m.defaults.guidance,
            seed: 0,
        }
    }

    /// Checks the request against the package, with messages that name the valid values.
    pub fn validate(&self, pkg: &ModelPackage) -> Result<()> {
        let m = &pkg.manifest;
        let v = &m.video;
        for (what, size) in [("width", self.width), ("height", self.height)] {
            if size == 0 || size > ABSOLUTE_MAX_SIZE || size < v.min_size || size > v.max_size || size % v.size_multiple != 0 {
                return Err(Error::InvalidRequest(format!(
                    "{what} {size} is not supported by model {}: use a multiple of {} between {} and {} (default {}x{})",
                    m.name, v.size_multiple, v.min_size, v.max_size, v.default_width, v.default_height
                )));
            }
        }
        if !v.frames_valid(&m.latent, self.frames) || self.frames > v.max_frames {
            let near = m.latent.nearest_valid_frames(self.frames as f64).min(v.max_frames);
            return Err(Error::InvalidRequest(format!(
                "{} frames is not supported by model {}: frame counts are 1 + {}*k up to {} (nearest: {near})",
                self.frames, m.name, m.latent.temporal_compression, v.max_frames
            )));
        }
        if self.steps == 0 || self.steps > 1000 {
            return Err(Error::InvalidRequest(format!("steps must be between 1 and 1000, got {}", self.steps)));
        }
        if !self.guidance.is_finite() || !(0.0..=50.0).contains(&self.guidance) {
            return Err(Error::InvalidRequest(format!("guidance must be a number between 0 and 50, got {}", self.guidance)));
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    Denoise,
    Decode,
}

/// Progress of one generation: `done` of `total` units of `stage`.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    pub stage: Stage,
    pub done: usize,
    pub total: usize,
}

/// A loaded model, ready to generate. Load once, generate many times.
pub struct Pipeline {
    pub package: ModelPackage,
    pub device: Device,
    tokenizer: PromptTokenizer,
    text_encoder: TextEncoder,
    denoiser: Denoiser,
    decoder: VaeDecoder,
    pub encoder: Option<VaeEncoder>,
}

impl Pipeline {
    pub fn load(dir: &Path, opts: &RuntimeOptions) -> Result<Self> {
        let package = ModelPackage::load(dir)?;
        let device = resolve_device(opts)?;
        let tok_path = package.dir.join(&package.manifest.tokenizer.file);
        let tokenizer = PromptTokenizer::load(&tok_path, &package.manifest.tokenizer)
            .map_err(|e| Error::package_file(&package.dir, &package.manifest.tokenizer.file, e.to_string()))?;
        Ok(Pipeline {
            text_encoder: TextEncoder::load(&package, device, opts)?,
            denoiser: Denoiser::load(&package, device, opts)?,
            decoder: VaeDecoder::load(&package, device, opts)?,
            encoder: VaeEncoder::load(&package, device, opts)?,
            tokenizer,
            package,
            device,
        })
    }

    /// Latent shape `[1, C, F, h, w]` for a request.
    pub fn latent_shape(&self, req: &GenerateRequest) -> [usize; 5] {
        let l = &self.package.manifest.latent;
        let s = l.spatial_compression;
        [1, l.channels, l.latent_frames(req.frames), (req.height / s) as usize, (req.width / s) as usize]
    }

    /// Generates a clip, handing frames to `on_frame` in order as they are decoded.
    /// `on_progress` returning `false` cancels (the result is then `Error::Cancelled`).
    pub fn generate(
        &self,
        req: &GenerateRequest,
        on_progress: &mut dyn FnMut(Progress) -> bool,
        on_frame: &mut dyn FnMut(RgbFrame) -> Result<()>,
    ) -> Result<()> {
        req.validate(&self.package)?;
        let m = &self.package.manifest;

        // 1. Encode the prompt (and the negative prompt when guidance is on) in one batch.
        let guided = req.guidance > 1.0;
        let negative = req.negative_prompt.clone().unwrap_or_else(|| m.defaults.negative_prompt.clone());
        let prompts: Vec<&str> = if guided { vec![&req.prompt, &negative] } else { vec![&req.prompt] };
        let tokens = self.tokenizer.encode(&prompts)?;
        if !tokens.truncated.is_empty() {
            eprintln!("kino: prompt longer than the model's {} tokens; the rest is ignored", m.tokenizer.max_length);
        }
        let embeds = self.text_encoder.encode(&tokens)?;

        // 2. Initial noise from the seed: same seed, same model, same request -> same frames.
        let shape = self.latent_shape(req);
        let [_, c, f, h, w] = shape;
        let mut latents = gaussian_noise(req.seed, shape.iter().product());

        // 3. Denoise.
        let seq_len = f * h * w;
        let mut scheduler = build_scheduler(&m.scheduler, req.steps, seq_len)?;
        let timesteps = scheduler.timesteps().to_vec();
        let batched = guided && self.denoiser.spec.max_batch >= 2;
        let d = m.text_encoder.text_dim;
        let l = tokens.len;
        let n = latents.len();
        let mut doubled = if batched { vec![0f32; 2 * n] } else { Vec::new() };
        for (i, &t) in timesteps.iter().enumerate() {
            let velocity = if batched {
                doubled[..n].copy_from_slice(&latents);
                doubled[n..].copy_from_slice(&latents);
                let s2 = [2, c, f, h, w];
                let ts = vec![t; self.denoiser.timestep_shape(s2, seq_len).iter().product()];
                let v = self.denoiser.predict(
                    &DenoiserInputs { latents: &doubled, latent_shape: s2, timestep: &ts, text_embeds: &embeds, text_shape: [2, l, d], text_mask: &tokens.mask },
                    seq_len,
                )?;
                combine_guidance(&v[..n], &v[n..], req.guidance)
            } else {
                let ts = vec![t; self.denoiser.timestep_shape(shape, seq_len).iter().product()];
                let run = |k: usize| {
                    self.denoiser.predict(
                        &DenoiserInputs {
                            latents: &latents,
                            latent_shape: shape,
                            timestep: &ts,
                            text_embeds: &embeds[k * l * d..(k + 1) * l * d],
                            text_shape: [1, l, d],
                            text_mask: &tokens.mask[k * l..(k + 1) * l],
                        },
                        seq_len,
                    )
                };
                let cond = run(0)?;
                if guided { combine_guidance(&cond, &run(1)?, req.guidance) } else { cond }
            };
            scheduler.step(&velocity, &mut latents, i);
            if !on_progress(Progress { stage: Stage::Denoise, done: i + 1, total: timesteps.len() }) {
                return Err(Error::Cancelled);
            }
        }

        // 4. Back to raw latents and decode, chunk by chunk.
        let lat = &m.latent;
        let plane = f * h * w;
        for ch in 0..c {
            let (mean, std) = (lat.mean[ch], lat.std[ch]);
            for x in &mut latents[ch * plane..(ch + 1) * plane] {
                *x = *x * std / lat.scaling_factor + mean;
            }
        }
        let mut emitted = 0usize;
        let total = req.frames as usize;
        self.decoder.decode(&latents, shape, &mut |chunk, cshape| {
            let (nf, hh, ww) = (cshape[2], cshape[3], cshape[4]);
            let fplane = hh * ww;
            for k in 0..nf {
                // [1, 3, n, H, W] -> frame k's three planes.
                let mut planes = Vec::with_capacity(3 * fplane);
                for ch in 0..3 {
                    let base = ch * nf * fplane + k * fplane;
                    planes.extend_from_slice(&chunk[base..base + fplane]);
                }
                on_frame(RgbFrame::from_planar(ww as u32, hh as u32, &planes))?;
                emitted += 1;
            }
            if !on_progress(Progress { stage: Stage::Decode, done: emitted.min(total), total }) {
                return Err(Error::Cancelled);
            }
            Ok(())
        })?;
        if emitted != total {
            return Err(Error::Inference {
                component: "VAE decoder".into(),
                file: String::new(),
                reason: format!("decoded {emitted} frames, expected {total}; the manifest's latent compression does not match the decoder"),
            });
        }
        Ok(())
    }
}

/// `v = v_uncond + g * (v_cond - v_uncond)`.
fn combine_guidance(cond: &[f32], uncond: &[f32], g: f32) -> Vec<f32> {
    cond.iter().zip(uncond).map(|(c, u)| u + g * (c - u)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guidance_of_one_is_the_conditional_prediction() {
        assert_eq!(combine_guidance(&[1.0, 2.0], &[5.0, -1.0], 1.0), vec![1.0, 2.0]);
        assert_eq!(combine_guidance(&[1.0], &[0.0], 3.0), vec![3.0]);
    }
}
