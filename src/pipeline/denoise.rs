//! One window's denoising loop: noise, context held in place, guidance, the scheduler's steps.

use ndarray::{s, Array3, Array5, ArrayView5, ArrayViewMut5, Axis, Zip};

use super::context::{self, flat, flat_mut, LatentContext, Slot};
use super::{gaussian_noise, ContextMode, EncodedPrompt, Pipeline, Stage, Tracker};
use crate::error::{Error, Result};
use crate::model::components::latent_frames;
use crate::model::manifest::ImageFrame;
use crate::model::manifest::TimestepShape;
use crate::model::{join_images, ChannelInputs};
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

/// Whether a window's footage goes from given frames to the user's frames: given frames before
/// its first made one and the user's after it (a bridge, a loop's wrap, a keyframe after a clip
/// or another keyframe). Those windows take the manifest's settings for given frames
/// (`guidance_given_frames`, `stochastic_given_frames`): their footage has to get from the one
/// to the other. A window that only continues from given frames (animate, extend forwards, a
/// long clip's later windows) or only arrives at them (extend backwards) is made as a window
/// from text is. On kino-shapes, `animate`'s first window had stray pixels in 12.6% of frames
/// and shape 80% with guidance 4 and deterministic steps, 2.1% and 96.7% made as from text;
/// extending backwards by 2 s (two sets of 20 scenes), stray pixels in 37% and 48% of the new
/// frames, 25% and 21% made as from text, with the seam into the clip at a median 0.93 and 0.90
/// of the median step before, 0.97 and 0.89 after (17 and 19 of 20 at or under 1.5, from 16 and 15).
fn between_given_frames(ctx: &[LatentContext]) -> bool {
    let arrives = ctx.iter().any(|x| !x.own && !x.precedes_the_made_frames());
    arrives && ctx.iter().any(LatentContext::precedes_the_made_frames)
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
        // The schedule's shift follows the window's own tokens (extra context tokens aside, as
        // LTXConditionPipeline counts them).
        let seq_len = f * h * w;
        let scheduler_config = crate::pipeline::Sampler::apply(req.sampler, &m.scheduler);
        let mut scheduler = build_scheduler(&scheduler_config, req.steps, seq_len)?;
        let timesteps = scheduler.timesteps().to_vec();
        let sigmas = scheduler.sigmas().to_vec();
        if let WindowStart::Renoised { .. } = start {
            // Flow matching's forward process: x = (1 - sigma) * clean + sigma * noise. From the
            // first step (strength 1) that is the noise alone: the clip must not stand in for it.
            let s = sigmas[first_step];
            Zip::from(&mut latents).and(&noise()?).for_each(|x, &e| *x = (1.0 - s) * *x + s * e);
        }
        let mode = self.context_mode(req)?;
        // A model that takes given frames as input channels sees them there, not in its latents.
        let channels = if mode == ContextMode::Channels { Some(self.channel_inputs(ctx, shape, tracker)?) } else { None };
        let channel_inputs =
            channels.as_ref().map(|(c, e)| ChannelInputs { condition: c.view(), image_embeds: e.as_ref().map(|e| e.view()) });
        let (all_ctx, ctx) = (ctx, if channels.is_some() { &[][..] } else { ctx });
        let layout = ContextLayout::new(ctx, f, mode, m)?;
        let extra = layout.extra;
        let full = [1, c, extra + f, h, w];
        if extra > 0 {
            // Extra context tokens go ahead of the window's latents.
            let mut all = Array5::zeros(full);
            all.slice_mut(s![.., .., extra.., .., ..]).assign(&latents);
            latents = all;
        }
        let ranges = &layout.ranges;
        // Each part's noise (the window's own where it sits in the window, a draw of its own
        // for tokens) and the value it is held at: the context, or (strength below 1) the
        // context mixed with that noise by its strength.
        let mut ctx_noise: Vec<Array5<f32>> = Vec::with_capacity(ctx.len());
        for (p, (x, r)) in ctx.iter().zip(ranges).enumerate() {
            ctx_noise.push(if r.start < extra {
                Array5::from_shape_vec(x.latents.raw_dim(), gaussian_noise(token_noise_seed(seed, p), x.latents.len()))
                    .map_err(noise_error)?
            } else {
                latent_frames(latents.view(), r.start, r.len())
            });
        }
        let held: Vec<Array5<f32>> = ctx
            .iter()
            .zip(&ctx_noise)
            .map(|(x, e)| {
                if x.strength >= 1.0 {
                    x.latents.clone()
                } else {
                    Zip::from(e).and(&x.latents).map_collect(|&e, &c| e + x.strength * (c - e))
                }
            })
            .collect();
        for (v, r) in held.iter().zip(ranges) {
            context::write_frames(&mut latents, r.clone(), v.view());
        }
        // The timestep a frame is given: a context frame's level (0 when clean), else the step's.
        let num_train = m.scheduler.num_train_timesteps as f32;
        let level: Vec<Option<f32>> = (0..extra + f)
            .map(|j| ctx.iter().zip(ranges).find(|(_, r)| r.contains(&j)).map(|(x, _)| (1.0 - x.strength.min(1.0)) * num_train))
            .collect();

        // Footage from given frames into the user's: the manifest's guidance for given frames, and
        // stochastic steps only where it allows them. So is a remix from half way down the
        // schedule or later (strength 0.5 or less), which keeps the clip's layout and motion
        // (kino-shapes, strength 0.3: the object within 2.4 px of the clip's, 5.4 px with
        // stochastic steps). A remix from higher up redraws the clip and is made as from text:
        // into another colour at 0.6 it kept its object in 94% of frames over 16 clips (a red
        // circle made blue, seed 1: in none), 100% made as from text.
        let keeps_layout = matches!(start, WindowStart::Renoised { step, .. } if req.keeps_layout(step));
        let into_given = keeps_layout || between_given_frames(all_ctx);
        let stochastic =
            scheduler.wants_noise() && (!into_given || crate::pipeline::Sampler::applies_into_given(req.sampler, &m.scheduler));
        let g = req.guidance_for(into_given);
        let denoiser = self.denoiser()?;
        // Guided steps: all of them, or those whose noise level lies in the request's interval.
        let guided: Vec<bool> =
            (0..timesteps.len()).map(|i| prompt.guided && req.guidance_interval.is_none_or(|g| g.contains(sigmas[i]))).collect();
        let batched = prompt.guided && denoiser.spec.max_batch >= 2;
        let tokens = (extra + f) * h * w;
        let positions = layout.positions.as_deref();
        // The text goes into the denoiser's bound inputs once per window; each step writes only
        // the latents and timesteps. Guidance: one batch of 2 where the graph allows, else a
        // conditional and an unconditional window; steps outside the guidance interval run the
        // conditional window alone.
        let one = |k: usize| {
            denoiser.window(
                full,
                tokens,
                prompt.embeds.slice(s![k..k + 1, .., ..]),
                prompt.mask.slice(s![k..k + 1, ..]),
                positions,
                channel_inputs.as_ref(),
            )
        };
        let mut pair = if batched {
            Some(denoiser.window(
                [2, c, extra + f, h, w],
                tokens,
                prompt.embeds.view(),
                prompt.mask.view(),
                positions,
                channel_inputs.as_ref(),
            )?)
        } else {
            None
        };
        let mut cond = if !batched || guided[first_step..].contains(&false) { Some(one(0)?) } else { None };
        let mut uncond = if prompt.guided && !batched { Some(one(1)?) } else { None };
        let mut velocity = Array5::<f32>::zeros(full);
        let mut ts_buf: Vec<f32> = Vec::new();
        for (i, &t) in timesteps.iter().enumerate().skip(first_step) {
            for (p, ((x, r), eps)) in ctx.iter().zip(ranges).zip(&ctx_noise).enumerate() {
                match mode {
                    ContextMode::Replace => {
                        // Latent replacement: the context, noised to this step's level.
                        let s = sigmas[i];
                        let noised = Zip::from(&x.latents).and(eps).map_collect(|&c, &e| (1.0 - s) * c + s * e);
                        context::write_frames(&mut latents, r.clone(), noised.view());
                    }
                    ContextMode::Native if m.conditioning.context_noise_scale > 0.0 && x.strength >= 1.0 => {
                        // LTX's image_cond_noise_scale: the clean context, lightly re-noised at
                        // each step (less as the noise level falls), helps motion continue.
                        let level = m.conditioning.context_noise_scale * (t / num_train).powi(2);
                        let eps =
                            Array5::from_shape_vec(x.latents.raw_dim(), gaussian_noise(context_noise_seed(seed, i, p), x.latents.len()))
                                .map_err(noise_error)?;
                        let noised = Zip::from(&x.latents).and(&eps).map_collect(|&c, &e| c + level * e);
                        context::write_frames(&mut latents, r.clone(), noised.view());
                    }
                    ContextMode::Native | ContextMode::Channels => {}
                }
            }
            // Timesteps for a batch of `b`, written into a buffer reused across steps.
            let fill_timesteps = |b: usize, out: &mut Vec<f32>| {
                out.clear();
                let frame_t = |j: usize| level[j].map_or(t, |l| t.min(l));
                match (mode, denoiser.spec.timestep_shape) {
                    // Context frames sit at their level (0 when clean), per frame or per token.
                    (ContextMode::Native, TimestepShape::PerFrame) => out.extend((0..b).flat_map(|_| (0..extra + f).map(frame_t))),
                    (ContextMode::Native, TimestepShape::PerToken) => {
                        out.extend((0..b).flat_map(|_| (0..extra + f).flat_map(move |j| std::iter::repeat_n(frame_t(j), h * w))))
                    }
                    _ => out.resize(denoiser.timestep_shape([b, c, extra + f, h, w], tokens).iter().product(), t),
                }
            };
            // The latents go straight into the bound input and the model's output straight from
            // ONNX Runtime's buffer into `velocity` (guidance combined on the way): no allocation
            // per step.
            match (&mut pair, &mut cond) {
                (Some(pair), _) if guided[i] => {
                    fill_timesteps(2, &mut ts_buf);
                    // The batch: the latents twice; the velocity's halves are the conditional and
                    // the unconditional prediction. (Half by half: each is one contiguous copy,
                    // where a broadcast assign walks the batch axis element by element.)
                    pair.run(
                        &ts_buf,
                        |mut x: ArrayViewMut5<'_, f32>| {
                            x.outer_iter_mut().for_each(|mut half| half.assign(&latents.index_axis(Axis(0), 0)))
                        },
                        |v| combine_guidance_into(v.slice(s![0..1, .., .., .., ..]), v.slice(s![1..2, .., .., .., ..]), g, &mut velocity),
                    )?;
                }
                (_, Some(cond)) => {
                    fill_timesteps(1, &mut ts_buf);
                    cond.run(&ts_buf, |mut x| x.assign(&latents), |v| velocity.assign(&v))?;
                    if let (Some(uncond), true) = (&mut uncond, guided[i]) {
                        // `velocity` holds the conditional prediction; the unconditional one comes in.
                        uncond.run(
                            &ts_buf,
                            |mut x| x.assign(&latents),
                            |u| {
                                Zip::from(&mut velocity).and(&u).for_each(|c, &u| *c = u + g * (*c - u));
                            },
                        )?;
                    }
                }
                // Not reached: `cond` exists whenever a step runs without the batch.
                (_, None) => return Err(Error::InvalidRequest("no denoiser window for an unguided step".into())),
            }
            // A stochastic scheduler's fresh noise: its own stream per window and step.
            let fresh = if stochastic { Some(gaussian_noise(step_noise_seed(seed, i), latents.len())) } else { None };
            scheduler.step(flat(&velocity)?, flat_mut(&mut latents)?, i, fresh.as_deref())?;
            if mode == ContextMode::Native {
                // Context stays as held until the noise level falls below its own (never, when
                // clean): LTXConditionPipeline's tokens_to_denoise_mask.
                for ((x, r), v) in ctx.iter().zip(ranges).zip(&held) {
                    if x.strength >= 1.0 || t / num_train - 1e-6 >= 1.0 - x.strength {
                        context::write_frames(&mut latents, r.clone(), v.view());
                    }
                }
            }
            tracker.steps_done += 1;
            tracker.report(Stage::Denoise)?;
        }
        for (x, r) in ctx.iter().zip(ranges) {
            if x.strength >= 1.0 {
                context::write_frames(&mut latents, r.clone(), x.latents.view());
            }
        }
        Ok(if extra == 0 { latents } else { latent_frames(latents.view(), extra, f) })
    }
}

impl Pipeline {
    /// The condition `[1, t + C, f, h, w]` and image tokens of a `context_channels` window of
    /// `shape` (as `WanImageToVideoPipeline.prepare_latents` and `encode_image` make them): the
    /// given pixel frames put in place in an otherwise zero (mid-grey) clip of the window's length,
    /// encoded and normalised, after `t` mask channels saying which pixel frames are given.
    fn channel_inputs(
        &self,
        ctx: &[LatentContext],
        shape: [usize; 5],
        tracker: &mut Tracker<'_>,
    ) -> Result<(Array5<f32>, Option<Array3<f32>>)> {
        let m = &self.package.manifest;
        let l = &m.latent;
        let [_, _, f, h, w] = shape;
        let (t, s, causal) = (l.temporal_compression.max(1) as usize, l.spatial_compression as usize, l.causal_first_frame);
        let pixel_frames = l.pixel_frames(f);
        let (height, width) = (h * s, w * s);
        let flf = m.conditioning.image_frames.contains(&ImageFrame::Last);
        if ctx.is_empty() {
            return Err(Error::InvalidRequest(format!(
                "model {} makes video from given frames (conditioning.context_channels), not text alone: {}",
                m.name,
                if flf {
                    "give it a first and a last frame (bridge two clips or images, or keyframes at the first and the last frame)"
                } else {
                    "give it an image or a clip to continue (animate, extend forwards or bridge)"
                }
            )));
        }
        let mut video = Array5::<f32>::zeros((1, 3, pixel_frames, height, width));
        let mut given: Vec<Option<&crate::frame::RgbFrame>> = vec![None; pixel_frames];
        for x in ctx {
            let Some(pixels) = x.pixels.as_deref() else {
                return Err(Error::InvalidRequest("context without its frames for a model that takes them as input channels".into()));
            };
            let start = x.pixel_start(pixel_frames, pixels.len(), l);
            if start + pixels.len() > pixel_frames {
                return Err(Error::InvalidRequest(format!(
                    "{} given frames from frame {start} run past the window's {pixel_frames} frames",
                    pixels.len()
                )));
            }
            for (k, frame) in pixels.iter().enumerate() {
                if (frame.width as usize, frame.height as usize) != (width, height) {
                    return Err(Error::InvalidRequest(format!(
                        "a given frame is {}x{}; the window is {width}x{height}",
                        frame.width, frame.height
                    )));
                }
                let planar = frame.to_planar();
                let planes = ndarray::ArrayView3::from_shape((3, height, width), &planar)
                    .map_err(|e| Error::InvalidRequest(format!("a given frame's pixels: {e}")))?;
                if given[start + k].is_some() {
                    return Err(Error::InvalidRequest(format!(
                        "two given frames at frame {} of the window: give each its own time",
                        start + k
                    )));
                }
                video.slice_mut(s![0, .., start + k, .., ..]).assign(&planes);
                given[start + k] = Some(frame);
            }
        }
        let mut latents = self.vae_encoder("continuing from given frames")?.encode(video.view())?;
        if latents.dim() != (1, l.channels, f, h, w) {
            return Err(Error::Inference {
                component: "VAE encoder".into(),
                file: String::new(),
                reason: format!(
                    "latents of shape {:?} for the window's {pixel_frames} frames; expected {:?}",
                    latents.shape(),
                    [1, l.channels, f, h, w]
                ),
            });
        }
        context::normalise(&mut latents, &l.mean, &l.std, l.scaling_factor);
        // Mask channel `i` of latent frame `j`: whether its `i`-th pixel frame is given (the
        // causal first latent frame is one pixel frame, repeated over the channels).
        let mut mask = Array5::<f32>::zeros((1, t, f, h, w));
        for j in 0..f {
            for i in 0..t {
                let p = if causal && j == 0 { 0 } else { l.pixel_frames(j) + i };
                if given.get(p).is_some_and(Option::is_some) {
                    mask.slice_mut(s![0, i, j, .., ..]).fill(1.0);
                }
            }
        }
        let condition = ndarray::concatenate(Axis(1), &[mask.view(), latents.view()])
            .map_err(|e| Error::InvalidRequest(format!("the window's condition: {e}")))?;
        let image_embeds = if m.conditioning.image_frames.is_empty() {
            None
        } else {
            let encoder = self.image_encoder()?;
            let mut parts = Vec::new();
            for which in &m.conditioning.image_frames {
                let (name, at) = match which {
                    ImageFrame::First => ("first", 0),
                    ImageFrame::Last => ("last", pixel_frames - 1),
                };
                let Some(frame) = given[at] else {
                    return Err(Error::InvalidRequest(format!(
                        "model {} needs the {name} frame of every window given (conditioning.image_frames: {})",
                        m.name,
                        if flf {
                            "the first and the last: bridge two clips or images in one window, or keyframes at the first and the last frame"
                        } else {
                            "the first: animate an image or extend a clip forwards"
                        }
                    )));
                };
                parts.push(encoder.encode(frame)?);
            }
            Some(join_images(&parts)?)
        };
        tracker.report(Stage::Encode)?;
        Ok((condition, image_embeds))
    }
}

/// Where a window's context parts sit in the frames the loop runs over (extra tokens first,
/// then the window's own), and the frames' time positions where the denoiser takes them.
struct ContextLayout {
    /// Latent frames of extra tokens ahead of the window.
    extra: usize,
    /// Each part's frames in the loop's tensor.
    ranges: Vec<std::ops::Range<usize>>,
    /// Pixel-frame positions of the loop's latent frames (`video_coords` models).
    positions: Option<Vec<f32>>,
}

impl ContextLayout {
    fn new(ctx: &[LatentContext], f: usize, mode: ContextMode, m: &crate::model::Manifest) -> Result<Self> {
        let tokens: Vec<&LatentContext> = ctx.iter().filter(|x| matches!(x.slot, Slot::Tokens { .. })).collect();
        let extra: usize = tokens.iter().map(|x| x.frames).sum();
        if extra > 0 && !(mode == ContextMode::Native && m.conditioning.context_tokens) {
            return Err(Error::InvalidRequest(format!(
                "model {} does not take context as extra tokens (conditioning.context_tokens) in this context mode",
                m.name
            )));
        }
        let mut ranges = Vec::with_capacity(ctx.len());
        let mut next = 0;
        for x in ctx {
            match x.frame_range(f)? {
                Some(r) => ranges.push(r.start + extra..r.end + extra),
                None => {
                    ranges.push(next..next + x.frames);
                    next += x.frames;
                }
            }
        }
        let held: usize = ranges.iter().filter(|r| r.start >= extra).map(|r| r.len()).sum();
        let overlap = ranges.iter().enumerate().any(|(i, a)| ranges[i + 1..].iter().any(|b| a.start < b.end && b.start < a.end));
        if held > f || overlap {
            return Err(Error::InvalidRequest(format!(
                "{held} latent frames of context (in {} parts) do not fit a window of {f}: give fewer context frames",
                ctx.len()
            )));
        }
        let positions = m.denoiser.video_coords.as_ref().map(|vc| {
            let mut p: Vec<f32> = Vec::with_capacity(extra + f);
            for x in &tokens {
                if let Slot::Tokens { frame_index } = x.slot {
                    p.extend(vc.frame_positions(x.frames, frame_index as f32));
                }
            }
            p.extend(vc.frame_positions(f, 0.0));
            p
        });
        Ok(ContextLayout { extra, ranges, positions })
    }
}

/// The seed of the noise context part `part` is mixed with when it sits ahead of the window as
/// extra tokens with a strength below 1.
fn token_noise_seed(seed: u64, part: usize) -> u64 {
    (seed ^ 0x3C6E_F372_FE94_F82B).wrapping_add((part as u64).wrapping_mul(0xA54F_F53A_5F1D_36F1))
}

/// The seed of step `i`'s re-noising of context part `part` (`conditioning.context_noise_scale`).
/// Part 0 keeps the stream it always had.
fn context_noise_seed(seed: u64, i: usize, part: usize) -> u64 {
    (seed ^ 0x6A09_E667_F3BC_C909).wrapping_add(i as u64).wrapping_add((part as u64).wrapping_mul(0xBB67_AE85_84CA_A73B))
}

/// The seed of the fresh noise step `i` of a stochastic scheduler mixes in.
fn step_noise_seed(seed: u64, i: usize) -> u64 {
    (seed ^ 0x510E_527F_ADE6_82D1).wrapping_add((i as u64 + 1).wrapping_mul(0x9B05_688C_2B3E_6C1F))
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

    #[test]
    fn only_footage_from_given_frames_to_the_users_counts_as_between_given_frames() {
        use crate::pipeline::context::Slot;
        use crate::pipeline::Placement;
        let ctx = |placement| LatentContext::new(Array5::zeros((1, 4, 2, 4, 4)), 0, placement);
        assert!(!between_given_frames(&[]), "from text");
        assert!(!between_given_frames(&[ctx(Placement::After).made_by_this_job()]), "a long clip's later window");
        assert!(!between_given_frames(&[ctx(Placement::After)]), "animate, extend forwards: continues the user's frames");
        assert!(!between_given_frames(&[ctx(Placement::Before)]), "extend backwards: only arrives at the clip");
        let bridge = [ctx(Placement::After), ctx(Placement::Before)];
        assert!(between_given_frames(&bridge), "a bridge goes from one clip to the other");
        assert!(between_given_frames(&[ctx(Placement::After), ctx(Placement::After).at(Slot::At(3))]), "a keyframe after given frames");
        assert!(!between_given_frames(&[ctx(Placement::After).at(Slot::Tokens { frame_index: 0 })]), "LTX's first frame");
        assert!(
            between_given_frames(&[ctx(Placement::After), ctx(Placement::After).at(Slot::Tokens { frame_index: 9 })]),
            "an LTX condition after a first one"
        );
        assert!(
            between_given_frames(&[ctx(Placement::After).made_by_this_job(), ctx(Placement::Before)]),
            "from the job's own frames to the user's"
        );
        assert!(!between_given_frames(&[ctx(Placement::After), ctx(Placement::Before).made_by_this_job()]), "to the job's own frames");
    }
}
