//! Decoding a window's latents to frames, and raw float output for parity checks.

use ndarray::{Array5, ArrayView5, Axis, Zip};

use super::context;
use super::{gaussian_noise, Condition, Pipeline};
use crate::error::{Error, Result};
use crate::frame::RgbFrame;
use crate::model::ChunkSink;
use crate::pipeline::GenerateRequest;

impl Pipeline {
    /// Normalised latents -> decoded chunks `[1, 3, n, H, W]` in [-1, 1], in order. `seed` feeds the
    /// noise a timestep-conditioned decoder mixes in.
    pub(super) fn decode_chunks(&self, latents: &Array5<f32>, seed: u64, on_chunk: &mut ChunkSink<'_>) -> Result<()> {
        let l = &self.package.manifest.latent;
        let mut raw = latents.as_standard_layout().into_owned();
        context::denormalise(&mut raw, &l.mean, &l.std, l.scaling_factor);
        let decoder = self.decoder()?;
        let s = decoder.noise_scale;
        if s > 0.0 {
            // LTX-Video 0.9.1+: `z = (1 - s) z + s noise`, then decode at `decode_timestep`.
            let noise = gaussian_noise(decode_noise_seed(seed), raw.len());
            let noise = ArrayView5::from_shape(raw.raw_dim(), &noise).map_err(|e| Error::InvalidRequest(format!("decode noise: {e}")))?;
            Zip::from(&mut raw).and(&noise).for_each(|z, &n| *z = (1.0 - s) * *z + s * n);
        }
        decoder.decode(raw.view(), on_chunk)
    }

    /// Normalised latents -> frames, through the (chunked) decoder.
    pub(super) fn decode(&self, latents: &Array5<f32>, seed: u64) -> Result<Vec<RgbFrame>> {
        let mut out = Vec::new();
        let (_, _, _, h, w) = latents.dim();
        let sc = self.package.manifest.latent.spatial_compression as usize;
        self.decode_chunks(latents, seed, &mut |chunk| {
            let (b, c, _, hh, ww) = chunk.dim();
            if (b, c) != (1, 3) {
                return Err(Error::InvalidRequest(format!(
                    "the VAE decoder returned a {:?} output; expected [1, 3, F, H, W]",
                    chunk.shape()
                )));
            }
            // A manifest that says another compression than its decoder's would size every
            // later step wrong: name the field, not the output file that fails at the end.
            if (hh, ww) != (h * sc, w * sc) {
                return Err(Error::package(
                    &self.package.dir,
                    format!(
                        "kino.json: latent.spatial_compression is {sc}, but the VAE decoder makes {ww}x{hh} frames from {w}x{h} latents; set it to what the graphs do"
                    ),
                ));
            }
            // [1, 3, n, H, W] -> frame k's three planes, in order (each plane one contiguous run).
            for frame in chunk.index_axis(Axis(0), 0).axis_iter(Axis(1)) {
                let mut planes = Vec::with_capacity(3 * hh * ww);
                for plane in frame.outer_iter() {
                    match plane.as_slice() {
                        Some(p) => planes.extend_from_slice(p),
                        None => planes.extend(plane.iter().copied()),
                    }
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
    pub fn generate_raw(
        &self,
        req: &GenerateRequest,
        initial: Option<ArrayView5<'_, f32>>,
        context: Option<&[RgbFrame]>,
    ) -> Result<Array5<f32>> {
        let conditions = match context {
            Some([]) => return Err(Error::InvalidRequest("the context holds no frames: pass at least one, or none at all".into())),
            Some(frames) => vec![Condition { frames: frames.to_vec(), frame_index: 0, strength: 1.0 }],
            None => Vec::new(),
        };
        self.generate_conditioned(req, initial, &conditions)
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
            other => panic!("empty context: {:?}", other.map(|r| r.shape().to_vec())),
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
