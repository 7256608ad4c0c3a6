//! Encoding the inputs of a window: the prompt (and negative prompt) to text embeddings, given
//! frames to normalised context latents.

use super::context::{self, LatentContext};
use super::residency::JobScope;
use super::{EncodedPrompt, Pipeline, Placement, Prompts, Stage, Tracker};
use crate::error::{Error, Result};
use crate::frame::RgbFrame;
use crate::pipeline::GenerateRequest;

impl Pipeline {
    pub(super) fn encode_prompt(&self, req: &GenerateRequest, job: &JobScope<'_>) -> Result<EncodedPrompt> {
        let m = &self.package.manifest;
        // The prompt and the negative prompt (when guidance is on) in one batch.
        let guided = req.guided();
        let negative = req.negative_prompt.clone().unwrap_or_else(|| m.defaults.negative_prompt.clone());
        let prompts: Vec<&str> = if guided { vec![&req.prompt, &negative] } else { vec![&req.prompt] };
        let tokens = self.tokenizer.encode(&prompts)?;
        if !tokens.truncated.is_empty() {
            log::warn!("prompt longer than the model's {} tokens; the rest is ignored", m.tokenizer.max_length);
        }
        let embeds = self.text_embeddings(&tokens, job)?;
        Ok(EncodedPrompt { embeds, mask: tokens.mask, guided })
    }

    /// The request's prompt and its storyboard's, each encoded once.
    pub(super) fn encode_prompts(&self, req: &GenerateRequest, job: &JobScope<'_>) -> Result<Prompts> {
        let mut spans = vec![(0, self.encode_prompt(req, job)?)];
        for p in &req.storyboard {
            let one = GenerateRequest { prompt: p.prompt.clone(), storyboard: Vec::new(), ..req.clone() };
            spans.push((p.frame as usize, self.encode_prompt(&one, job)?));
        }
        Ok(Prompts { spans })
    }

    /// Pixel frames -> normalised context latents (see [`context::encoder_input`] for the layout).
    /// A model that takes given frames as input channels (`conditioning.context_channels`)
    /// encodes them with the rest of its window instead: its context keeps the frames, and
    /// latents of the right length that nothing reads.
    pub(super) fn encode_context(&self, frames: &[RgbFrame], placement: Placement, tracker: &mut Tracker<'_>) -> Result<LatentContext> {
        let m = &self.package.manifest;
        let l = &m.latent;
        if m.conditioning.context_channels {
            self.require_encoder("continuing from given frames")?;
            if frames.is_empty() {
                return Err(Error::InvalidRequest("no context frames to encode".into()));
            }
            let k = l.latent_frames(frames.len() as u32);
            let mut ctx = LatentContext::new(ndarray::Array5::zeros((1, l.channels, k, 1, 1)), 0, placement);
            ctx.pixels = Some(std::sync::Arc::new(frames.to_vec()));
            return Ok(ctx);
        }
        let encoder = self.vae_encoder("continuing from given frames")?;
        let (input, drop) = context::encoder_input(frames, l.causal_first_frame, placement)?;
        let mut latents = encoder.encode(input.view())?;
        let pixel_frames = input.dim().2;
        let expect = l.latent_frames(pixel_frames as u32);
        let (_, channels, got, _, _) = latents.dim();
        if channels != l.channels || got != expect {
            return Err(Error::Inference {
                component: "VAE encoder".into(),
                file: String::new(),
                reason: format!(
                    "latents of shape {:?} for {pixel_frames} frames; expected {} channels and {expect} latent frames",
                    latents.shape(),
                    l.channels
                ),
            });
        }
        context::normalise(&mut latents, &l.mean, &l.std, l.scaling_factor);
        tracker.report(Stage::Encode)?;
        Ok(LatentContext::new(latents, drop, placement))
    }
}
