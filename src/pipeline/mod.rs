//! Text to video, top to bottom: tokenize, encode the prompt, prepare latents, denoise, decode,
//! emit frames. Reads like diffusers' `__call__`; everything model-specific comes from the manifest.
//!
//! Three jobs share one window loop ([`Pipeline::denoise`]):
//! * generate: text to video; clips longer than one window are made window by window, each
//!   continuing from the last frames of the one before (re-encoded as clean context), with the
//!   overlap cross-faded so the seam does not show;
//! * extend: continue given frames forwards ([`Placement::After`]) or backwards ([`Placement::Before`]);
//! * animate: a window whose first frame is a given still.
//!
//! Memory stays flat in the clip length: one window's latents and frames at a time.

mod context;
mod noise;
mod request;
mod shared;
pub(crate) mod spool;

use std::path::Path;

pub use context::{ContextMode, Placement};
pub use noise::gaussian_noise;
pub use request::{parse_size, GenerateRequest, ABSOLUTE_MAX_SIZE, MAX_LONG_FRAMES};

use crate::error::{Error, Result};
use crate::frame::RgbFrame;
use crate::model::components::{concat_frames, latent_frames, ChunkSink};
use crate::model::manifest::TimestepShape;
use crate::model::{Denoiser, ModelPackage, TextEncoder, VaeDecoder, VaeEncoder};
use crate::runtime::{resolve_device, Device, OnnxSession, Output, RuntimeOptions};
use crate::scheduler::build_scheduler;
use crate::text::PromptTokenizer;
use context::LatentContext;
use spool::FrameSpool;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Encoding given frames (extend, animate, chained windows).
    Encode,
    Denoise,
    Decode,
}

/// Progress of one job: `done` of `total` units of `stage` (denoising steps over all windows,
/// or frames emitted).
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    pub stage: Stage,
    pub done: usize,
    pub total: usize,
}

/// Counts progress over all windows of a job and turns a `false` from the callback into `Cancelled`.
struct Tracker<'a> {
    callback: &'a mut dyn FnMut(Progress) -> bool,
    steps_done: usize,
    steps_total: usize,
    frames_done: usize,
    frames_total: usize,
}

impl Tracker<'_> {
    fn report(&mut self, stage: Stage) -> Result<()> {
        let p = match stage {
            Stage::Denoise => Progress { stage, done: self.steps_done, total: self.steps_total },
            _ => Progress { stage, done: self.frames_done.min(self.frames_total), total: self.frames_total },
        };
        if (self.callback)(p) { Ok(()) } else { Err(Error::Cancelled) }
    }
}

/// The prompt (and negative prompt) encoded once per job.
struct EncodedPrompt {
    embeds: Vec<f32>,
    mask: Vec<i64>,
    len: usize,
    guided: bool,
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
    /// Bytes of frames a backwards extend keeps in memory ([`RuntimeOptions::spool_memory`]).
    spool_memory: usize,
}

impl Pipeline {
    pub fn load(dir: &Path, opts: &RuntimeOptions) -> Result<Self> {
        Self::from_package(ModelPackage::load(dir)?, opts)
    }

    /// Opens the graphs of a package already loaded (and validated) by the caller.
    pub fn from_package(package: ModelPackage, opts: &RuntimeOptions) -> Result<Self> {
        let device = resolve_device(opts)?;
        // CUDA graphs are for the denoiser's bound runs; the other components' shapes change.
        let unbound = RuntimeOptions { cuda_graph: false, ..opts.clone() };
        let tok_path = package.dir.join(&package.manifest.tokenizer.file);
        let tokenizer = PromptTokenizer::load(&tok_path, &package.manifest.tokenizer)
            .map_err(|e| Error::package_file(&package.dir, &package.manifest.tokenizer.file, e.to_string()))?;
        Ok(Pipeline {
            text_encoder: TextEncoder::load(&package, device, &unbound)?,
            denoiser: Denoiser::load(&package, device, opts)?,
            decoder: VaeDecoder::load(&package, device, &unbound)?,
            encoder: VaeEncoder::load(&package, device, &unbound)?,
            tokenizer,
            package,
            device,
            spool_memory: opts.spool_memory.unwrap_or(spool::DEFAULT_MEMORY),
        })
    }

    /// Each component's ONNX Runtime sessions, by name (for timing).
    pub fn sessions(&self) -> Vec<(&'static str, Vec<&OnnxSession>)> {
        let mut out = vec![
            ("text_encoder", self.text_encoder.sessions()),
            ("denoiser", self.denoiser.sessions()),
            ("vae_decoder", self.decoder.sessions()),
        ];
        if let Some(e) = &self.encoder {
            out.push(("vae_encoder", e.sessions()));
        }
        out
    }

    /// Latent shape `[1, C, F, h, w]` for a window of `latent_frames` at the request's size.
    fn window_shape(&self, req: &GenerateRequest, latent_frames: usize) -> [usize; 5] {
        let l = &self.package.manifest.latent;
        let s = l.spatial_compression;
        [1, l.channels, latent_frames, (req.height / s) as usize, (req.width / s) as usize]
    }

    /// Latent shape `[1, C, F, h, w]` of a single-window request.
    pub fn latent_shape(&self, req: &GenerateRequest) -> [usize; 5] {
        self.window_shape(req, self.package.manifest.latent.latent_frames(req.frames))
    }

    /// The window layout used to chain and extend: (context pixel frames, window latent frames).
    pub fn window_layout(&self) -> (usize, usize) {
        let m = &self.package.manifest;
        let t = m.latent.temporal_compression.max(1);
        let causal = m.latent.causal_first_frame;
        let default_ctx = if causal { 1 + t } else { 2 * t };
        let ctx = m.conditioning.context_frames.unwrap_or(default_ctx).max(1);
        let window = m.latent.latent_frames(m.video.default_frames);
        (ctx as usize, window)
    }

    /// New frames one chained window adds after its context (after a clip, or window to window).
    pub fn frames_per_window(&self) -> usize {
        let l = &self.package.manifest.latent;
        let (ctx, window) = self.window_layout();
        let k = l.latent_frames(ctx as u32);
        l.temporal_compression.max(1) as usize * window.saturating_sub(k).max(1)
    }

    fn context_mode(&self, req: &GenerateRequest) -> Result<ContextMode> {
        let m = &self.package.manifest;
        let native = m.conditioning.clean_context && m.denoiser.timestep_shape != TimestepShape::PerSample;
        match req.context_mode {
            None => Ok(if native { ContextMode::Native } else { ContextMode::Replace }),
            Some(ContextMode::Native) if !native => Err(Error::InvalidRequest(format!(
                "model {} was not trained with clean context frames (per-frame or per-token timesteps); use the replace context mode",
                m.name
            ))),
            Some(mode) => Ok(mode),
        }
    }

    fn require_encoder(&self, job: &str) -> Result<&VaeEncoder> {
        self.encoder.as_ref().ok_or_else(|| {
            Error::InvalidRequest(format!("model {} has no VAE encoder (vae_encoder in kino.json), which {job} needs", self.package.manifest.name))
        })
    }

    /// Generates a clip, handing frames to `on_frame` in order.
    /// `on_progress` returning `false` cancels (the result is then `Error::Cancelled`).
    pub fn generate(
        &self,
        req: &GenerateRequest,
        on_progress: &mut dyn FnMut(Progress) -> bool,
        on_frame: &mut dyn FnMut(RgbFrame) -> Result<()>,
    ) -> Result<()> {
        req.validate(&self.package)?;
        self.generate_from(req, None, on_progress, on_frame)
    }

    /// Generates a clip whose first frame is `still` (already at the request's size).
    pub fn animate(
        &self,
        req: &GenerateRequest,
        still: &RgbFrame,
        on_progress: &mut dyn FnMut(Progress) -> bool,
        on_frame: &mut dyn FnMut(RgbFrame) -> Result<()>,
    ) -> Result<()> {
        req.validate(&self.package)?;
        self.require_encoder("animate")?;
        self.context_mode(req)?;
        if (still.width, still.height) != (req.width, req.height) {
            return Err(Error::InvalidRequest(format!("the still is {}x{}, the request {}x{}", still.width, still.height, req.width, req.height)));
        }
        self.generate_from(req, Some(still), on_progress, on_frame)
    }

    fn generate_from(
        &self,
        req: &GenerateRequest,
        still: Option<&RgbFrame>,
        on_progress: &mut dyn FnMut(Progress) -> bool,
        on_frame: &mut dyn FnMut(RgbFrame) -> Result<()>,
    ) -> Result<()> {
        let m = &self.package.manifest;
        let total = req.frames as usize;
        let single = req.frames <= m.video.max_frames;
        let (mut ctx_frames, window) = self.window_layout();
        // Cross-fading holds back the context frames of each window, so a window must make at
        // least as many new frames: shorten the context for chaining if it does not.
        let l = &m.latent;
        let t = l.temporal_compression.max(1) as usize;
        while ctx_frames > 1 && t * window.saturating_sub(l.latent_frames(ctx_frames as u32)) < ctx_frames {
            ctx_frames = l.valid_frames_up_to(ctx_frames - 1);
        }
        let first_frames = if single { total } else { m.video.default_frames as usize };
        let chained = if single { 0 } else { self.chain_windows(total - first_frames, ctx_frames, window, true)? };
        let mut tracker = Tracker { callback: on_progress, steps_done: 0, steps_total: req.steps * (1 + chained), frames_done: 0, frames_total: total };
        let prompt = self.encode_prompt(req)?;

        // Window 0: plain text to video, or continuing from the still.
        let shape = self.window_shape(req, m.latent.latent_frames(first_frames as u32));
        let ctx = match still {
            Some(s) => Some(self.encode_context(std::slice::from_ref(s), Placement::After, &mut tracker)?),
            None => None,
        };
        let latents = self.denoise(&prompt, req, shape, ctx.as_ref(), req.seed, None, &mut tracker)?;
        let frames = self.decode(&latents, shape, req.seed)?;
        if frames.len() != first_frames {
            return Err(frame_count_error(frames.len(), first_frames));
        }
        if single {
            for f in frames {
                emit(&mut tracker, on_frame, f)?;
            }
            return Ok(());
        }
        // Later windows: hold back the last `ctx_frames` frames; the next window re-decodes them
        // as its context and the two versions are cross-faded.
        let split = frames.len() - ctx_frames;
        let mut frames = frames.into_iter();
        for f in frames.by_ref().take(split) {
            emit(&mut tracker, on_frame, f)?;
        }
        let tail: Vec<RgbFrame> = frames.collect();
        self.continue_after(&prompt, req, tail, total - split, true, 1, &mut tracker, on_frame)
    }

    /// Generates `count` frames that continue `context` (frames at the request's size, in time
    /// order) after its end or before its start. Only the new frames are handed to `on_frame`,
    /// in time order. The request's `frames` is ignored; `count` may be any number.
    #[allow(clippy::too_many_arguments)]
    pub fn extend(
        &self,
        req: &GenerateRequest,
        context: &[RgbFrame],
        placement: Placement,
        count: usize,
        on_progress: &mut dyn FnMut(Progress) -> bool,
        on_frame: &mut dyn FnMut(RgbFrame) -> Result<()>,
    ) -> Result<()> {
        req.validate_settings(&self.package)?;
        self.require_encoder("extend")?;
        self.context_mode(req)?;
        if count == 0 || count > MAX_LONG_FRAMES as usize {
            return Err(Error::InvalidRequest(format!("extend by 1 to {MAX_LONG_FRAMES} frames, not {count}")));
        }
        if context.is_empty() {
            return Err(Error::InvalidRequest("nothing to extend: the clip has no frames".into()));
        }
        if let Some(f) = context.iter().find(|f| (f.width, f.height) != (req.width, req.height)) {
            return Err(Error::InvalidRequest(format!("context frame is {}x{}, the request {}x{}", f.width, f.height, req.width, req.height)));
        }
        let (ctx_frames, window) = self.window_layout();
        let t = self.package.manifest.latent.temporal_compression.max(1) as usize;
        let causal = self.package.manifest.latent.causal_first_frame;
        let prompt = self.encode_prompt(req)?;
        match placement {
            Placement::After => {
                // The longest valid context the clip has, up to the model's context length.
                let n = self.package.manifest.latent.valid_frames_up_to(context.len().min(ctx_frames));
                if n == 0 {
                    return Err(Error::InvalidRequest(format!("the clip is too short to extend: it needs at least {t} frames")));
                }
                let windows = self.chain_windows(count, n, window, false)?;
                let mut tracker = Tracker { callback: on_progress, steps_done: 0, steps_total: req.steps * windows, frames_done: 0, frames_total: count };
                let tail = context[context.len() - n..].to_vec();
                self.continue_after(&prompt, req, tail, count, false, 0, &mut tracker, on_frame)
            }
            Placement::Before => {
                let k = self.package.manifest.latent.latent_frames(ctx_frames as u32).max(1);
                let need = t * k;
                if context.len() < need {
                    return Err(Error::InvalidRequest(format!("the clip is too short to extend backwards: it needs at least {need} frames")));
                }
                let m = window.checked_sub(k).filter(|m| *m >= 1).ok_or_else(|| self.layout_error(ctx_frames, window))?;
                let per_window = if causal { 1 + t * (m - 1) } else { t * m };
                let windows = count.div_ceil(per_window);
                let mut tracker = Tracker { callback: on_progress, steps_done: 0, steps_total: req.steps * windows, frames_done: 0, frames_total: count };
                // Generated backwards, window by window, so they wait in a spool (memory, then
                // disk) and are emitted oldest first.
                let mut made = FrameSpool::new(self.spool_memory);
                let mut head: Vec<RgbFrame> = context[..need].to_vec();
                for w in 0..windows {
                    let ctx = self.encode_context(&head, Placement::Before, &mut tracker)?;
                    let shape = self.window_shape(req, m + k);
                    let seed = window_seed(req.seed, w);
                    let latents = self.denoise(&prompt, req, shape, Some(&ctx), seed, None, &mut tracker)?;
                    let mut frames = self.decode(&latents, shape, seed)?;
                    if frames.len() > per_window {
                        // As after a clip: the new frames nearest the seam take over the
                        // difference between the first given frame and its re-decode.
                        let (orig, again) = (head[0].clone(), frames[per_window].clone());
                        frames.truncate(per_window);
                        frames.reverse();
                        carry_residual(&mut frames, &orig, &again, ctx_frames);
                        frames.reverse();
                    }
                    if frames.len() != per_window {
                        return Err(frame_count_error(frames.len(), per_window));
                    }
                    // The next context: the earliest `need` frames so far (a window may make
                    // fewer, then the context reaches into what came after, up to the clip).
                    head = frames.iter().chain(&head).take(need).cloned().collect();
                    made.push_earlier(frames)?;
                }
                let skip = made.len() - count;
                made.drain(skip, &mut |f| emit(&mut tracker, on_frame, f))
            }
        }
    }

    fn layout_error(&self, ctx_frames: usize, window: usize) -> Error {
        Error::package_file(
            &self.package.dir,
            "kino.json",
            format!("conditioning.context_frames {ctx_frames} leaves no room for new frames in a window of {window} latent frames (video.default_frames)"),
        )
    }

    /// How many windows `continue_after` needs for `count` new frames after `ctx` context frames.
    fn chain_windows(&self, count: usize, ctx: usize, window: usize, blend: bool) -> Result<usize> {
        let t = self.package.manifest.latent.temporal_compression.max(1) as usize;
        let k = self.package.manifest.latent.latent_frames(ctx as u32);
        let m = window.checked_sub(k).filter(|m| *m >= 1).ok_or_else(|| self.layout_error(ctx, window))?;
        // Blending holds back `ctx` frames of each window, so a window must make at least that many.
        if blend && t * m < ctx {
            return Err(self.layout_error(ctx, window));
        }
        Ok(count.div_ceil(t * m))
    }

    /// Window after window, each continuing from the last frames so far (`tail`), until `count`
    /// more frames have been emitted. With `blend`, `tail` has not been emitted yet: each window
    /// cross-fades its re-decoded context into it, and the last window's tail is emitted at the end.
    #[allow(clippy::too_many_arguments)]
    fn continue_after(
        &self,
        prompt: &EncodedPrompt,
        req: &GenerateRequest,
        mut tail: Vec<RgbFrame>,
        count: usize,
        blend: bool,
        first_window: usize,
        tracker: &mut Tracker<'_>,
        on_frame: &mut dyn FnMut(RgbFrame) -> Result<()>,
    ) -> Result<()> {
        let (_, window) = self.window_layout();
        let n = tail.len();
        let k = self.package.manifest.latent.latent_frames(n as u32);
        let m = window - k;
        let mut emitted = 0usize;
        let mut w = first_window;
        while emitted < count {
            let ctx = self.encode_context(&tail, Placement::After, tracker)?;
            let shape = self.window_shape(req, k + m);
            let seed = window_seed(req.seed, w);
            let latents = self.denoise(prompt, req, shape, Some(&ctx), seed, None, tracker)?;
            let frames = self.decode(&latents, shape, seed)?;
            if frames.len() <= n {
                return Err(frame_count_error(frames.len(), n + 1));
            }
            let mut frames = frames.into_iter();
            let recon: Vec<RgbFrame> = frames.by_ref().take(n).collect();
            let new: Vec<RgbFrame> = frames.collect();
            let keep = if blend { new.len() - n } else { new.len() };
            let mut new = new;
            if !blend {
                // The given frames stay as they are; the new footage takes over the difference
                // between the last given frame and the model's re-decode of it, fading out.
                carry_residual(&mut new, &tail[n - 1], &recon[n - 1], n);
            }
            if blend {
                for (i, (old, again)) in tail.iter().zip(&recon).enumerate() {
                    if emitted < count {
                        emit(tracker, on_frame, crossfade(old, again, (i + 1) as f32 / (n + 1) as f32))?;
                        emitted += 1;
                    }
                }
            }
            for f in new.iter().take(keep) {
                if emitted < count {
                    emit(tracker, on_frame, f.clone())?;
                    emitted += 1;
                }
            }
            // The next context: the last `n` frames so far (a window may make fewer than `n`).
            let mut joined = std::mem::take(&mut tail);
            joined.extend(new);
            tail = joined.split_off(joined.len() - n);
            w += 1;
            if blend && emitted + n >= count {
                // The last window's held-back tail ends the clip.
                for f in tail.drain(..).take(count - emitted) {
                    emit(tracker, on_frame, f)?;
                    emitted += 1;
                }
            }
        }
        Ok(())
    }

    fn encode_prompt(&self, req: &GenerateRequest) -> Result<EncodedPrompt> {
        let m = &self.package.manifest;
        // The prompt and the negative prompt (when guidance is on) in one batch.
        let guided = req.guidance > 1.0;
        let negative = req.negative_prompt.clone().unwrap_or_else(|| m.defaults.negative_prompt.clone());
        let prompts: Vec<&str> = if guided { vec![&req.prompt, &negative] } else { vec![&req.prompt] };
        let tokens = self.tokenizer.encode(&prompts)?;
        if !tokens.truncated.is_empty() {
            log::warn!("prompt longer than the model's {} tokens; the rest is ignored", m.tokenizer.max_length);
        }
        let embeds = self.text_encoder.encode(&tokens)?;
        Ok(EncodedPrompt { embeds, mask: tokens.mask, len: tokens.len, guided })
    }

    /// Pixel frames -> normalised context latents (see [`context::encoder_input`] for the layout).
    fn encode_context(&self, frames: &[RgbFrame], placement: Placement, tracker: &mut Tracker<'_>) -> Result<LatentContext> {
        let encoder = self.require_encoder("continuing from given frames")?;
        let l = &self.package.manifest.latent;
        let (input, shape, drop) = context::encoder_input(frames, l.causal_first_frame, placement);
        let (lshape, mut latents) = encoder.encode(&input, shape)?;
        let expect = l.latent_frames(shape[2] as u32);
        if lshape.len() != 5 || lshape[1] != l.channels || lshape[2] != expect {
            return Err(Error::Inference {
                component: "VAE encoder".into(),
                file: String::new(),
                reason: format!("latents of shape {lshape:?} for {} frames; expected {} channels and {expect} latent frames", shape[2], l.channels),
            });
        }
        let lshape = [lshape[0], lshape[1], lshape[2], lshape[3], lshape[4]];
        context::normalise(&mut latents, lshape, &l.mean, &l.std, l.scaling_factor);
        tracker.report(Stage::Encode)?;
        Ok(LatentContext::new(latents, lshape, drop, placement))
    }

    /// One window: noise from `seed` (or the given initial latents), context latents held in
    /// place, the scheduler's loop. Returns the clean (normalised) latents.
    #[allow(clippy::too_many_arguments)]
    fn denoise(
        &self,
        prompt: &EncodedPrompt,
        req: &GenerateRequest,
        shape: [usize; 5],
        ctx: Option<&LatentContext>,
        seed: u64,
        initial: Option<&[f32]>,
        tracker: &mut Tracker<'_>,
    ) -> Result<Vec<f32>> {
        let m = &self.package.manifest;
        let [_, c, f, h, w] = shape;
        let mut latents = match initial {
            Some(x) => x.to_vec(),
            None => gaussian_noise(seed, shape.iter().product()),
        };
        let seq_len = f * h * w;
        let mut scheduler = build_scheduler(&m.scheduler, req.steps, seq_len)?;
        let timesteps = scheduler.timesteps().to_vec();
        let sigmas = scheduler.sigmas().to_vec();
        let mode = self.context_mode(req)?;
        // Which latent frames are context, and (latent replacement) their fixed noise.
        if let Some(x) = ctx.filter(|x| x.frames > f) {
            return Err(Error::InvalidRequest(format!("{} latent frames of context do not fit a window of {f}: give fewer context frames", x.frames)));
        }
        let ctx_frames = ctx.map(|x| x.frame_range(f)).unwrap_or(0..0);
        let ctx_noise = ctx.map(|_| latent_frames(&latents, shape, ctx_frames.start, ctx_frames.len()));
        if let Some(x) = ctx {
            context::write_frames(&mut latents, shape, ctx_frames.clone(), &x.latents);
        }

        let batched = prompt.guided && self.denoiser.spec.max_batch >= 2;
        let d = m.text_encoder.text_dim;
        let l = prompt.len;
        let n = latents.len();
        // The text goes into the denoiser's bound inputs once per window; each step writes only
        // the latents and timesteps. Guidance: one batch of 2 where the graph allows, else a
        // conditional and an unconditional window.
        let mut windows = if batched {
            vec![self.denoiser.window([2, c, f, h, w], seq_len, &prompt.embeds, [2, l, d], &prompt.mask)?]
        } else {
            let runs = if prompt.guided { 2 } else { 1 };
            (0..runs)
                .map(|k| self.denoiser.window(shape, seq_len, &prompt.embeds[k * l * d..(k + 1) * l * d], [1, l, d], &prompt.mask[k * l..(k + 1) * l]))
                .collect::<Result<Vec<_>>>()?
        };
        let mut velocity = vec![0f32; n];
        let mut ts_buf: Vec<f32> = Vec::new();
        for (i, &t) in timesteps.iter().enumerate() {
            if let (Some(x), Some(eps), ContextMode::Replace) = (ctx, &ctx_noise, mode) {
                // Latent replacement: the context, noised to this step's level.
                let s = sigmas[i];
                let noised: Vec<f32> = x.latents.iter().zip(eps).map(|(c, e)| (1.0 - s) * c + s * e).collect();
                context::write_frames(&mut latents, shape, ctx_frames.clone(), &noised);
            }
            if let (Some(x), ContextMode::Native) = (ctx, mode) {
                let s = m.conditioning.context_noise_scale;
                if s > 0.0 {
                    // LTX's image_cond_noise_scale: the clean context, lightly re-noised at each
                    // step (less as the noise level falls), helps motion continue.
                    let level = s * (t / m.scheduler.num_train_timesteps as f32).powi(2);
                    let eps = gaussian_noise(context_noise_seed(seed, i), x.latents.len());
                    let noised: Vec<f32> = x.latents.iter().zip(&eps).map(|(c, e)| c + level * e).collect();
                    context::write_frames(&mut latents, shape, ctx_frames.clone(), &noised);
                }
            }
            // Timesteps for a batch of `b`, written into a buffer reused across steps.
            let fill_timesteps = |b: usize, out: &mut Vec<f32>| {
                out.clear();
                let frame_t = |j: usize| if ctx_frames.contains(&j) { 0.0 } else { t };
                match (mode, self.denoiser.spec.timestep_shape) {
                    // Clean context frames sit at timestep 0, per frame or per token.
                    (ContextMode::Native, TimestepShape::PerFrame) => out.extend((0..b).flat_map(|_| (0..f).map(frame_t))),
                    (ContextMode::Native, TimestepShape::PerToken) => {
                        out.extend((0..b).flat_map(|_| (0..f).flat_map(move |j| std::iter::repeat_n(frame_t(j), h * w))))
                    }
                    _ => out.resize(self.denoiser.timestep_shape([b, c, f, h, w], seq_len).iter().product(), t),
                }
            };
            // The latents go straight into the bound input and the model's output straight from
            // ONNX Runtime's buffer into `velocity` (guidance combined on the way): no allocation
            // per step.
            let g = req.guidance;
            if batched {
                fill_timesteps(2, &mut ts_buf);
                windows[0].run(
                    &ts_buf,
                    |x| {
                        x[..n].copy_from_slice(&latents);
                        x[n..].copy_from_slice(&latents);
                    },
                    |v| combine_guidance_into(&v[..n], &v[n..], g, &mut velocity),
                )?;
            } else {
                fill_timesteps(1, &mut ts_buf);
                windows[0].run(&ts_buf, |x| x.copy_from_slice(&latents), |v| velocity.copy_from_slice(v))?;
                if prompt.guided {
                    // `velocity` holds the conditional prediction; the unconditional one comes in.
                    windows[1].run(&ts_buf, |x| x.copy_from_slice(&latents), |u| {
                        velocity.iter_mut().zip(u).for_each(|(c, u)| *c = u + g * (*c - u));
                    })?;
                }
            }
            scheduler.step(&velocity, &mut latents, i);
            if let (Some(x), ContextMode::Native) = (ctx, mode) {
                context::write_frames(&mut latents, shape, ctx_frames.clone(), &x.latents);
            }
            tracker.steps_done += 1;
            tracker.report(Stage::Denoise)?;
        }
        if let Some(x) = ctx {
            context::write_frames(&mut latents, shape, ctx_frames, &x.latents);
        }
        Ok(latents)
    }

    /// Normalised latents -> decoded chunks `[1, 3, n, H, W]` in [-1, 1], in order. `seed` feeds the
    /// noise a timestep-conditioned decoder mixes in.
    fn decode_chunks(&self, latents: &[f32], shape: [usize; 5], seed: u64, on_chunk: &mut ChunkSink<'_>) -> Result<()> {
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
    fn decode(&self, latents: &[f32], shape: [usize; 5], seed: u64) -> Result<Vec<RgbFrame>> {
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

fn emit(tracker: &mut Tracker<'_>, on_frame: &mut dyn FnMut(RgbFrame) -> Result<()>, frame: RgbFrame) -> Result<()> {
    on_frame(frame)?;
    tracker.frames_done += 1;
    tracker.report(Stage::Decode)
}

fn frame_count_error(got: usize, want: usize) -> Error {
    Error::Inference {
        component: "VAE decoder".into(),
        file: String::new(),
        reason: format!("decoded {got} frames, expected {want}; the manifest's latent compression does not match the decoder"),
    }
}

/// The seed of step `i`'s context re-noising (`conditioning.context_noise_scale`).
fn context_noise_seed(seed: u64, i: usize) -> u64 {
    (seed ^ 0x6A09_E667_F3BC_C909).wrapping_add(i as u64)
}

/// The seed of the noise a timestep-conditioned VAE decoder mixes in: a stream apart from the
/// window's initial noise.
fn decode_noise_seed(seed: u64) -> u64 {
    seed ^ 0xD1B5_4A32_D192_ED03
}

/// Window `w`'s seed: window 0 uses the request's seed, so a one-window clip is the same as ever.
fn window_seed(seed: u64, w: usize) -> u64 {
    seed.wrapping_add((w as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// Adds `given - redecoded` to `frames` (ordered from the seam outwards), fully at the seam and
/// fading to nothing over `span` frames, so a clip's untouched frames and the model's footage
/// meet without a jump in colour or rendering.
fn carry_residual(frames: &mut [RgbFrame], given: &RgbFrame, redecoded: &RgbFrame, span: usize) {
    let diff: Vec<i16> = given.data.iter().zip(&redecoded.data).map(|(&a, &b)| a as i16 - b as i16).collect();
    for (i, f) in frames.iter_mut().take(span).enumerate() {
        let w = 1.0 - i as f32 / span as f32;
        for (x, d) in f.data.iter_mut().zip(&diff) {
            *x = (*x as f32 + w * *d as f32).round().clamp(0.0, 255.0) as u8;
        }
    }
}

/// `a` faded towards `b` by `w` in [0, 1].
fn crossfade(a: &RgbFrame, b: &RgbFrame, w: f32) -> RgbFrame {
    let data = a.data.iter().zip(&b.data).map(|(&x, &y)| ((1.0 - w) * x as f32 + w * y as f32).round().clamp(0.0, 255.0) as u8).collect();
    RgbFrame { width: a.width, height: a.height, data }
}

/// `v = v_uncond + g * (v_cond - v_uncond)`, into `out`.
fn combine_guidance_into(cond: &[f32], uncond: &[f32], g: f32, out: &mut [f32]) {
    for ((o, c), u) in out.iter_mut().zip(cond).zip(uncond) {
        *o = u + g * (c - u);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guidance_of_one_is_the_conditional_prediction() {
        let mut out = [0.0; 2];
        combine_guidance_into(&[1.0, 2.0], &[5.0, -1.0], 1.0, &mut out);
        assert_eq!(out, [1.0, 2.0]);
        combine_guidance_into(&[1.0, 0.0], &[0.0, 0.0], 3.0, &mut out);
        assert_eq!(out, [3.0, 0.0]);
    }

    #[test]
    fn window_zero_keeps_the_request_seed_and_later_windows_differ() {
        assert_eq!(window_seed(42, 0), 42);
        assert_ne!(window_seed(42, 1), 42);
        assert_ne!(window_seed(42, 1), window_seed(42, 2));
    }

    #[test]
    fn residual_is_carried_fully_at_the_seam_and_fades() {
        let px = |v: u8| RgbFrame { width: 1, height: 1, data: vec![v, v, v] };
        let mut frames = vec![px(100), px(100), px(100), px(100)];
        carry_residual(&mut frames, &px(120), &px(100), 2);
        assert_eq!(frames.iter().map(|f| f.data[0]).collect::<Vec<_>>(), vec![120, 110, 100, 100]);
    }

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

    #[test]
    fn crossfade_ends() {
        let a = RgbFrame { width: 1, height: 1, data: vec![0, 100, 255] };
        let b = RgbFrame { width: 1, height: 1, data: vec![255, 100, 0] };
        assert_eq!(crossfade(&a, &b, 0.0), a);
        assert_eq!(crossfade(&a, &b, 1.0), b);
        assert_eq!(crossfade(&a, &b, 0.5).data, vec![128, 100, 128]);
    }
}
