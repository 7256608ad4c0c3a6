//! One window's denoising loop: noise, context held in place, guidance, the scheduler's steps.

use ndarray::{s, Array5, ArrayView5, ArrayViewMut5, Axis, Zip};

use super::context::{self, flat, flat_mut, LatentContext};
use super::{gaussian_noise, ContextMode, EncodedPrompt, Pipeline, Stage, Tracker};
use crate::error::{Error, Result};
use crate::model::components::latent_frames;
use crate::model::manifest::TimestepShape;
use crate::pipeline::GenerateRequest;
use crate::scheduler::build_scheduler;

/// How a window's latents start.
#[derive(Clone, Copy)]
pub(super) enum WindowStart<'a> {
    /// Pure noise from the window's seed, denoised from the first step.
    Noise,
    /// These latents, denoised from the first step (parity checks hand in a reference's noise).
    Latents(ArrayView5<'a, f32>),
    /// Clean latents noised (with the window's seed) to the level of step `step` and denoised
    /// from there: SDEdit, the rest of the schedule redrawing what the noise hid.
    Renoised { clean: ArrayView5<'a, f32>, step: usize },
}

impl Pipeline {
    /// One window: noise from `seed` (or latents to start from, see [`WindowStart`]), context latents held in
    /// place (one part at the window's start, one at its end, or both: a bridge), the scheduler's
    /// loop. Returns the clean (normalised) latents.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn denoise(
        &self,
        prompt: &EncodedPrompt,
        req: &GenerateRequest,
        shape: [usize; 5],
        ctx: &[LatentContext],
        seed: u64,
        start: WindowStart<'_>,
        tracker: &mut Tracker<'_>,
    ) -> Result<Array5<f32>> {
        let m = &self.package.manifest;
        let [_, c, f, h, w] = shape;
        let noise_error = |e: ndarray::ShapeError| Error::InvalidRequest(format!("initial latents for the shape {shape:?}: {e}"));
        let noise = || Array5::from_shape_vec(shape, gaussian_noise(seed, shape.iter().product())).map_err(noise_error);
        let wrong = |x: &ArrayView5<'_, f32>| {
            Error::InvalidRequest(format!("initial latents of shape {:?}; the window needs {shape:?}", x.shape()))
        };
        let (mut latents, first_step) = match start {
            WindowStart::Noise => (noise()?, 0),
            WindowStart::Latents(x) if x.shape() == shape => (x.as_standard_layout().into_owned(), 0),
            WindowStart::Renoised { clean, step } if clean.shape() == shape => {
                if step >= req.steps {
                    return Err(Error::InvalidRequest(format!("a window cannot start at step {step} of {}", req.steps)));
                }
                (clean.as_standard_layout().into_owned(), step)
            }
            WindowStart::Latents(x) | WindowStart::Renoised { clean: x, .. } => return Err(wrong(&x)),
        };
        let seq_len = f * h * w;
        let mut scheduler = build_scheduler(&m.scheduler, req.steps, seq_len)?;
        let timesteps = scheduler.timesteps().to_vec();
        let sigmas = scheduler.sigmas().to_vec();
        if first_step > 0 {
            // Flow matching's forward process: x = (1 - sigma) * clean + sigma * noise.
            let s = sigmas[first_step];
            Zip::from(&mut latents).and(&noise()?).for_each(|x, &e| *x = (1.0 - s) * *x + s * e);
        }
        let mode = self.context_mode(req)?;
        // Which latent frames are context, and (latent replacement) their fixed noise.
        let ranges: Vec<std::ops::Range<usize>> = ctx.iter().map(|x| x.frame_range(f)).collect::<Result<_>>()?;
        let held: usize = ranges.iter().map(|r| r.len()).sum();
        let overlap = ranges.iter().enumerate().any(|(i, a)| ranges[i + 1..].iter().any(|b| a.start < b.end && b.start < a.end));
        if held > f || overlap {
            return Err(Error::InvalidRequest(format!(
                "{held} latent frames of context (in {} parts) do not fit a window of {f}: give fewer context frames",
                ctx.len()
            )));
        }
        let is_context = |j: usize| ranges.iter().any(|r| r.contains(&j));
        let ctx_noise: Vec<Array5<f32>> = ranges.iter().map(|r| latent_frames(latents.view(), r.start, r.len())).collect();
        for (x, r) in ctx.iter().zip(&ranges) {
            context::write_frames(&mut latents, r.clone(), x.latents.view());
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
        for (i, &t) in timesteps.iter().enumerate().skip(first_step) {
            for (p, ((x, r), eps)) in ctx.iter().zip(&ranges).zip(&ctx_noise).enumerate() {
                match mode {
                    ContextMode::Replace => {
                        // Latent replacement: the context, noised to this step's level.
                        let s = sigmas[i];
                        let noised = Zip::from(&x.latents).and(eps).map_collect(|&c, &e| (1.0 - s) * c + s * e);
                        context::write_frames(&mut latents, r.clone(), noised.view());
                    }
                    ContextMode::Native if m.conditioning.context_noise_scale > 0.0 => {
                        // LTX's image_cond_noise_scale: the clean context, lightly re-noised at
                        // each step (less as the noise level falls), helps motion continue.
                        let level = m.conditioning.context_noise_scale * (t / m.scheduler.num_train_timesteps as f32).powi(2);
                        let eps =
                            Array5::from_shape_vec(x.latents.raw_dim(), gaussian_noise(context_noise_seed(seed, i, p), x.latents.len()))
                                .map_err(noise_error)?;
                        let noised = Zip::from(&x.latents).and(&eps).map_collect(|&c, &e| c + level * e);
                        context::write_frames(&mut latents, r.clone(), noised.view());
                    }
                    ContextMode::Native => {}
                }
            }
            // Timesteps for a batch of `b`, written into a buffer reused across steps.
            let fill_timesteps = |b: usize, out: &mut Vec<f32>| {
                out.clear();
                let frame_t = |j: usize| if is_context(j) { 0.0 } else { t };
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
            if mode == ContextMode::Native {
                for (x, r) in ctx.iter().zip(&ranges) {
                    context::write_frames(&mut latents, r.clone(), x.latents.view());
                }
            }
            tracker.steps_done += 1;
            tracker.report(Stage::Denoise)?;
        }
        for (x, r) in ctx.iter().zip(&ranges) {
            context::write_frames(&mut latents, r.clone(), x.latents.view());
        }
        Ok(latents)
    }
}

/// The seed of step `i`'s re-noising of context part `part` (`conditioning.context_noise_scale`).
/// Part 0 keeps the stream it always had.
fn context_noise_seed(seed: u64, i: usize, part: usize) -> u64 {
    (seed ^ 0x6A09_E667_F3BC_C909).wrapping_add(i as u64).wrapping_add((part as u64).wrapping_mul(0xBB67_AE85_84CA_A73B))
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
