//! Decoding a window's latents to frames, and raw float output for parity checks.

use super::context;
use super::{gaussian_noise, Pipeline, Placement, Progress, Tracker};
use crate::error::{Error, Result};
use crate::frame::RgbFrame;
use crate::model::components::concat_frames;
use crate::model::ChunkSink;
use crate::pipeline::GenerateRequest;
use crate::runtime::Output;

impl Pipeline {
    /// Normalised latents -> decoded chunks `[1, 3, n, H, W]` in [-1, 1], in order. `seed` feeds the
    /// noise a timestep-conditioned decoder mixes in.
    pub(super) fn decode_chunks(&self, latents: &[f32], shape: [usize; 5], seed: u64, on_chunk: &mut ChunkSink<'_>) -> Result<()> {
        let l = &self.package.manifest.latent;
        let mut raw = latents.to_vec();
        context::denormalise(&mut raw, shape, &l.mean, &l.std, l.scaling_factor);
        let s = self.decoder.noise_scale;
        if s > 0.0 {
            // LTX-Video 0.9.1+: `z = (1 - s) z + s noise`, then decode at `decode_timestep`.
            let noise = gaussian_noise(decode_noise_seed(seed), raw.len());
            raw.iter_mut().zip(&noise).for_each(|(z, n)| *z = (1.0 - s) * *z + s * n);
        }
        self.decoder.decode(&raw, shape, on_chunk)
    }

    /// Normalised latents -> frames, through the (chunked) decoder.
    pub(super) fn decode(&self, latents: &[f32], shape: [usize; 5], seed: u64) -> Result<Vec<RgbFrame>> {
        let mut out = Vec::new();
        self.decode_chunks(latents, shape, seed, &mut |chunk, cshape| {
            let (nf, hh, ww) = (cshape[2], cshape[3], cshape[4]);
            let fplane = hh * ww;
            for k in 0..nf {
                // [1, 3, n, H, W] -> frame k's three planes.
                let mut planes = Vec::with_capacity(3 * fplane);
                for ch in 0..3 {
                    let base = ch * nf * fplane + k * fplane;
                    let plane = chunk.get(base..base + fplane).ok_or_else(|| Error::InvalidRequest(format!("the VAE decoder returned {} values for a {cshape:?} output", chunk.len())))?;
                    planes.extend_from_slice(plane);
                }
                out.push(RgbFrame::try_from_planar(ww as u32, hh as u32, &planes)?);
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// One window from the given initial latents (normalised, `[1, C, f, h, w]` as
    /// [`Pipeline::latent_shape`] says; `None` draws them from the seed), returned as float frames
    /// `[1, 3, F, H, W]` clamped to [-1, 1]: what diffusers' pipelines compute before quantising.
    /// For parity checks against reference implementations and for tools that want raw output.
    /// With `context` (frames at the request's size), the window continues from them as
    /// `extend` does after a clip, and the output holds the re-decoded context frames first.
    pub fn generate_raw(&self, req: &GenerateRequest, initial: Option<&[f32]>, context: Option<&[RgbFrame]>) -> Result<(Vec<f32>, [usize; 5])> {
        req.validate(&self.package)?;
        if req.frames > self.package.manifest.video.max_frames {
            return Err(Error::InvalidRequest(format!("raw output is one window: at most {} frames", self.package.manifest.video.max_frames)));
        }
        let shape = self.latent_shape(req);
        if let Some(x) = initial {
            if x.len() != shape.iter().product::<usize>() {
                return Err(Error::InvalidRequest(format!("initial latents hold {} values; shape {shape:?} needs {}", x.len(), shape.iter().product::<usize>())));
            }
        }
        let mut ignore = |_: Progress| true;
        let mut tracker = Tracker { callback: &mut ignore, steps_done: 0, steps_total: req.steps, frames_done: 0, frames_total: req.frames as usize };
        let prompt = self.encode_prompt(req)?;
        let ctx = match context {
            Some([]) => return Err(Error::InvalidRequest("the context holds no frames: pass at least one, or none at all".into())),
            Some(frames) => {
                self.context_mode(req)?;
                if let Some(f) = frames.iter().find(|f| (f.width, f.height) != (req.width, req.height)) {
                    return Err(Error::InvalidRequest(format!("context frame is {}x{}, the request {}x{}", f.width, f.height, req.width, req.height)));
                }
                Some(self.encode_context(frames, Placement::After, &mut tracker)?)
            }
            None => None,
        };
        let latents = self.denoise(&prompt, req, shape, ctx.as_ref(), req.seed, initial, &mut tracker)?;
        let mut chunks = Vec::new();
        self.decode_chunks(&latents, shape, req.seed, &mut |chunk, cshape| {
            chunks.push(Output { shape: cshape.to_vec(), data: chunk.to_vec() });
            Ok(())
        })?;
        let (fshape, mut out) = concat_frames("VAE decoder", &chunks)?;
        out.iter_mut().for_each(|x| *x = x.clamp(-1.0, 1.0));
        Ok((out, [1, fshape[1], fshape[2], fshape[3], fshape[4]]))
    }
}

/// The seed of the noise a timestep-conditioned VAE decoder mixes in: a stream apart from the
/// window's initial noise.
fn decode_noise_seed(seed: u64) -> u64 {
    seed ^ 0xD1B5_4A32_D192_ED03
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::runtime::RuntimeOptions;

    /// Context the window cannot hold (none, more than the window, counts the VAE does not
    /// take) is an error, never a panic.
    #[test]
    fn raw_generation_refuses_context_it_cannot_use() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/kino-shapes");
        let pipe = Pipeline::load(&dir, &RuntimeOptions { threads: Some(1), ..RuntimeOptions::from_env() }).unwrap();
        let mut req = GenerateRequest::defaults_for(&pipe.package, "a red circle");
        (req.frames, req.steps) = (5, 2);
        let frame = RgbFrame { width: req.width, height: req.height, data: vec![128; (req.width * req.height * 3) as usize] };
        match pipe.generate_raw(&req, None, Some(&[])) {
            Err(Error::InvalidRequest(m)) => assert!(m.contains("no frames"), "{m}"),
            other => panic!("empty context: {:?}", other.map(|r| r.1)),
        }
        let too_long = vec![frame.clone(); 9];
        assert!(matches!(pipe.generate_raw(&req, None, Some(&too_long)), Err(Error::InvalidRequest(_))));
        for n in [2, 3, 6] {
            // Either a clean result or an error, whatever the count.
            let _ = pipe.generate_raw(&req, None, Some(&vec![frame.clone(); n]));
        }
        assert!(pipe.generate_raw(&req, None, Some(&[frame])).is_ok());
    }
}
