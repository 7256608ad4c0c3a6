//! One window's denoising loop: noise, context held in place, guidance, the scheduler's steps.

use ndarray::{s, Array5, ArrayView5, ArrayViewMut5, Axis, Zip};

use super::context::{self, flat, flat_mut, LatentContext};
use super::{gaussian_noise, ContextMode, EncodedPrompt, Pipeline, Stage, Tracker};
use crate::error::{Error, Result};
use crate::model::components::latent_frames;
use crate::model::manifest::TimestepShape;
use crate::pipeline::GenerateRequest;
use crate::scheduler::build_scheduler;

impl Pipeline {
    /// One window: noise from `seed` (or the given initial latents), context latents held in
    /// place, the scheduler's loop. Returns the clean (normalised) latents.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn denoise(
        &self,
        prompt: &EncodedPrompt,
        req: &GenerateRequest,
        shape: [usize; 5],
        ctx: Option<&LatentContext>,
        seed: u64,
        initial: Option<ArrayView5<'_, f32>>,
        tracker: &mut Tracker<'_>,
    ) -> Result<Array5<f32>> {
        let m = &self.package.manifest;
        let [_, c, f, h, w] = shape;
        let noise_error = |e: ndarray::ShapeError| Error::InvalidRequest(format!("initial latents for the shape {shape:?}: {e}"));
        let mut latents = match initial {
            Some(x) if x.shape() == shape => x.as_standard_layout().into_owned(),
            Some(x) => return Err(Error::InvalidRequest(format!("initial latents of shape {:?}; the window needs {shape:?}", x.shape()))),
            None => Array5::from_shape_vec(shape, gaussian_noise(seed, shape.iter().product())).map_err(noise_error)?,
        };
        let seq_len = f * h * w;
        let mut scheduler = build_scheduler(&m.scheduler, req.steps, seq_len)?;
        let timesteps = scheduler.timesteps().to_vec();
        let sigmas = scheduler.sigmas().to_vec();
        let mode = self.context_mode(req)?;
        // Which latent frames are context, and (latent replacement) their fixed noise.
        if let Some(x) = ctx.filter(|x| x.frames > f) {
            return Err(Error::InvalidRequest(format!(
                "{} latent frames of context do not fit a window of {f}: give fewer context frames",
                x.frames
            )));
        }
        let ctx_frames = ctx.map(|x| x.frame_range(f)).unwrap_or(0..0);
        let ctx_noise = ctx.map(|_| latent_frames(latents.view(), ctx_frames.start, ctx_frames.len()));
        if let Some(x) = ctx {
            context::write_frames(&mut latents, ctx_frames.clone(), x.latents.view());
        }

        let denoiser = self.denoiser()?;
        let batched = prompt.guided && denoiser.spec.max_batch >= 2;
        // The text goes into the denoiser's bound inputs once per window; each step writes only
        // the latents and timesteps. Guidance: one batch of 2 where the graph allows, else a
        // conditional and an unconditional window.
        let mut windows = if batched {
            vec![denoiser.window([2, c, f, h, w], seq_len, prompt.embeds.view(), prompt.mask.view())?]
        } else {
            let runs = if prompt.guided { 2 } else { 1 };
            (0..runs)
                .map(|k| denoiser.window(shape, seq_len, prompt.embeds.slice(s![k..k + 1, .., ..]), prompt.mask.slice(s![k..k + 1, ..])))
                .collect::<Result<Vec<_>>>()?
        };
        let mut velocity = Array5::<f32>::zeros(shape);
        let mut ts_buf: Vec<f32> = Vec::new();
        for (i, &t) in timesteps.iter().enumerate() {
            if let (Some(x), Some(eps), ContextMode::Replace) = (ctx, &ctx_noise, mode) {
                // Latent replacement: the context, noised to this step's level.
                let s = sigmas[i];
                let noised = Zip::from(&x.latents).and(eps).map_collect(|&c, &e| (1.0 - s) * c + s * e);
                context::write_frames(&mut latents, ctx_frames.clone(), noised.view());
            }
            if let (Some(x), ContextMode::Native) = (ctx, mode) {
                let s = m.conditioning.context_noise_scale;
                if s > 0.0 {
                    // LTX's image_cond_noise_scale: the clean context, lightly re-noised at each
                    // step (less as the noise level falls), helps motion continue.
                    let level = s * (t / m.scheduler.num_train_timesteps as f32).powi(2);
                    let eps = Array5::from_shape_vec(x.latents.raw_dim(), gaussian_noise(context_noise_seed(seed, i), x.latents.len()))
                        .map_err(noise_error)?;
                    let noised = Zip::from(&x.latents).and(&eps).map_collect(|&c, &e| c + level * e);
                    context::write_frames(&mut latents, ctx_frames.clone(), noised.view());
                }
            }
            // Timesteps for a batch of `b`, written into a buffer reused across steps.
            let fill_timesteps = |b: usize, out: &mut Vec<f32>| {
                out.clear();
                let frame_t = |j: usize| if ctx_frames.contains(&j) { 0.0 } else { t };
                match (mode, denoiser.spec.timestep_shape) {
                    // Clean context frames sit at timestep 0, per frame or per token.
                    (ContextMode::Native, TimestepShape::PerFrame) => out.extend((0..b).flat_map(|_| (0..f).map(frame_t))),
                    (ContextMode::Native, TimestepShape::PerToken) => {
                        out.extend((0..b).flat_map(|_| (0..f).flat_map(move |j| std::iter::repeat_n(frame_t(j), h * w))))
                    }
                    _ => out.resize(denoiser.timestep_shape([b, c, f, h, w], seq_len).iter().product(), t),
                }
            };
            // The latents go straight into the bound input and the model's output straight from
            // ONNX Runtime's buffer into `velocity` (guidance combined on the way): no allocation
            // per step.
            let g = req.guidance;
            if batched {
                fill_timesteps(2, &mut ts_buf);
                // The batch: the latents twice; the velocity's halves are the conditional and the
                // unconditional prediction. (Half by half: each is one contiguous copy, where a
                // broadcast assign walks the batch axis element by element.)
                windows[0].run(
                    &ts_buf,
                    |mut x: ArrayViewMut5<'_, f32>| x.outer_iter_mut().for_each(|mut half| half.assign(&latents.index_axis(Axis(0), 0))),
                    |v| combine_guidance_into(v.slice(s![0..1, .., .., .., ..]), v.slice(s![1..2, .., .., .., ..]), g, &mut velocity),
                )?;
            } else {
                fill_timesteps(1, &mut ts_buf);
                windows[0].run(&ts_buf, |mut x| x.assign(&latents), |v| velocity.assign(&v))?;
                if prompt.guided {
                    // `velocity` holds the conditional prediction; the unconditional one comes in.
                    windows[1].run(
                        &ts_buf,
                        |mut x| x.assign(&latents),
                        |u| {
                            Zip::from(&mut velocity).and(&u).for_each(|c, &u| *c = u + g * (*c - u));
                        },
                    )?;
                }
            }
            scheduler.step(flat(&velocity)?, flat_mut(&mut latents)?, i)?;
            if let (Some(x), ContextMode::Native) = (ctx, mode) {
                context::write_frames(&mut latents, ctx_frames.clone(), x.latents.view());
            }
            tracker.steps_done += 1;
            tracker.report(Stage::Denoise)?;
        }
        if let Some(x) = ctx {
            context::write_frames(&mut latents, ctx_frames, x.latents.view());
        }
        Ok(latents)
    }
}

/// The seed of step `i`'s context re-noising (`conditioning.context_noise_scale`).
fn context_noise_seed(seed: u64, i: usize) -> u64 {
    (seed ^ 0x6A09_E667_F3BC_C909).wrapping_add(i as u64)
}

/// `v = v_uncond + g * (v_cond - v_uncond)`, into `out` (all of one shape).
fn combine_guidance_into(cond: ArrayView5<'_, f32>, uncond: ArrayView5<'_, f32>, g: f32, out: &mut Array5<f32>) {
    Zip::from(out).and(&cond).and(&uncond).for_each(|o, &c, &u| *o = u + g * (c - u));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guidance_of_one_is_the_conditional_prediction() {
        let a = |v: [f32; 2]| Array5::from_shape_vec((1, 1, 1, 1, 2), v.to_vec()).unwrap();
        let mut out = a([0.0; 2]);
        combine_guidance_into(a([1.0, 2.0]).view(), a([5.0, -1.0]).view(), 1.0, &mut out);
        assert_eq!(out, a([1.0, 2.0]));
        combine_guidance_into(a([1.0, 0.0]).view(), a([0.0, 0.0]).view(), 3.0, &mut out);
        assert_eq!(out, a([3.0, 0.0]));
    }
}
