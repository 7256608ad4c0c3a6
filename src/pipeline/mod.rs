//! Text to video, top to bottom: tokenize, encode the prompt, prepare latents, denoise, decode,
//! emit frames. Reads like diffusers' `__call__`; everything model-specific comes from the manifest.
//!
//! Three jobs share one window loop ([`Pipeline::denoise`]):
//! * generate: text to video; clips longer than one window are made window by window, each
//!   continuing from the last frames of the one before (re-encoded as clean context), with the
//!   overlap cross-faded so the seam does not show;
//! * extend: continue given frames forwards ([`Placement::After`]) or backwards ([`Placement::Before`]);
//! * animate: a window whose first frame is a given still;
//! * bridge: footage between two clips, the last window holding context at both ends; a loop is
//!   a clip bridged from its end back to its start;
//! * keyframes: images at given times, the footage around them made by the jobs above;
//! * remix: a clip's latents re-noised part way and denoised under a new prompt (SDEdit).
//!
//! Memory stays flat in the clip length: one window's latents and frames at a time.

mod blend;
mod bridge;
mod candidates;
mod conditions;
mod context;
mod cuts;
mod decode;
mod denoise;
mod encode;
mod keyframes;
mod noise;
mod remix;
mod request;
mod residency;
mod shared;
pub(crate) mod spool;
#[cfg(test)]
mod test_support;
mod timeline;
mod windows;

use std::path::Path;

pub use candidates::MAX_CANDIDATES;
pub use conditions::Condition;
pub use context::{ContextMode, Placement};
pub use keyframes::Keyframe;
pub use noise::gaussian_noise;
pub use request::{parse_size, GenerateRequest, GuidanceInterval, PromptAt, Sampler, ABSOLUTE_MAX_SIZE, MAX_LONG_FRAMES};
pub use residency::{ComponentLoad, ComponentSessions};
pub use timeline::{parse_keyframe, parse_keyframe_list, parse_storyboard, parse_time};

use crate::error::{quoted, Error, Result};
use crate::frame::RgbFrame;
use crate::model::manifest::{TimestepShape, UnknownWords};
use crate::model::ModelPackage;
use crate::runtime::{resolve_device, Device, RuntimeOptions};
use crate::text::PromptTokenizer;
use blend::carry_residual_where_unmoved;
use denoise::WindowStart;

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
        if (self.callback)(p) {
            Ok(())
        } else {
            Err(Error::Cancelled)
        }
    }
}

/// The prompt (and negative prompt) encoded once per job.
struct EncodedPrompt {
    /// `[B, L, D]`: the prompt, then the negative prompt when guided.
    embeds: ndarray::Array3<f32>,
    /// `[B, L]`.
    mask: ndarray::Array2<i64>,
    guided: bool,
}

/// A job's prompts: one, or a storyboard's, each from its first frame on. Each window follows
/// the prompt in effect at its first new frame.
struct Prompts {
    spans: Vec<(usize, EncodedPrompt)>,
}

impl Prompts {
    fn single(prompt: EncodedPrompt) -> Self {
        Prompts { spans: vec![(0, prompt)] }
    }

    fn at(&self, frame: usize) -> &EncodedPrompt {
        let i = self.spans.iter().rposition(|(from, _)| *from <= frame).unwrap_or(0);
        &self.spans[i].1
    }
}

/// A loaded model, ready to generate. Load once, generate many times.
pub struct Pipeline {
    pub package: ModelPackage,
    pub device: Device,
    tokenizer: PromptTokenizer,
    /// The graphs, each loaded when first needed and kept or released as
    /// [`RuntimeOptions::residency`] says.
    components: residency::Components,
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
        let tok_path = package.dir.join(&package.manifest.tokenizer.file);
        let tokenizer = PromptTokenizer::load(&tok_path, &package.manifest.tokenizer)
            .map_err(|e| Error::package_file(&package.dir, &package.manifest.tokenizer.file, e.to_string()))?;
        let pipeline = Pipeline {
            components: residency::Components::new(opts),
            tokenizer,
            package,
            device,
            spool_memory: opts.spool_memory.unwrap_or(spool::DEFAULT_MEMORY),
        };
        pipeline.preload()?;
        Ok(pipeline)
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
    /// The words of `prompt` the model's tokenizer does not know (see
    /// [`PromptTokenizer::unknown_words`]).
    pub fn unknown_words(&self, prompt: &str) -> Vec<String> {
        self.tokenizer.unknown_words(prompt)
    }

    /// What to tell a user about the words of `prompt` the model does not know (`None`: it
    /// knows them all), worded once for every front door.
    pub fn unknown_words_warning(&self, prompt: &str) -> Option<String> {
        let unknown = self.unknown_words(prompt);
        let name = &self.package.manifest.name;
        if self.tokenizer.known_word_count(prompt) == 0 && !prompt.trim().is_empty() {
            let which = if unknown.is_empty() { String::new() } else { format!(" ({})", quoted_list(&unknown)) };
            return Some(format!("model {name} knows none of the words of {}{which}; it will draw whatever it likes", quoted(prompt)));
        }
        if unknown.is_empty() {
            return None;
        }
        let how = match self.tokenizer.unknown_word_rule() {
            UnknownWords::Drop => "it reads the prompt without them",
            UnknownWords::Keep => "it reads each as its unknown token, which asks for nothing in particular",
        };
        Some(format!("model {name} does not know {}; {how}", quoted_list(&unknown)))
    }

    /// How the model reads `prompt` where that is not its own words (see
    /// [`PromptTokenizer::reading`]), worded once for every front door; `None` otherwise.
    pub fn prompt_reading(&self, prompt: &str) -> Option<String> {
        let reading = self.tokenizer.reading(prompt).filter(|r| !r.is_empty())?;
        // The reading in full (at most max_length words): it is what the message is for.
        Some(format!("model {} reads {} as {reading:?}", self.package.manifest.name, quoted(prompt)))
    }

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
        if m.conditioning.context_channels {
            // The denoiser's condition input is the only way such a model sees given frames.
            return match req.context_mode {
                None | Some(ContextMode::Channels) => Ok(ContextMode::Channels),
                Some(other) => Err(Error::InvalidRequest(format!(
                    "model {} takes given frames only as input channels (conditioning.context_channels), not by {} context: leave --context-mode out or use channels",
                    m.name,
                    if other == ContextMode::Native { "native" } else { "replace" },
                ))),
            };
        }
        let native = m.conditioning.clean_context && m.denoiser.timestep_shape != TimestepShape::PerSample;
        match req.context_mode {
            None => Ok(if native { ContextMode::Native } else { ContextMode::Replace }),
            Some(ContextMode::Channels) => Err(Error::InvalidRequest(format!(
                "model {} does not take given frames as input channels (conditioning.context_channels)",
                m.name
            ))),
            Some(ContextMode::Native) if !native => Err(Error::InvalidRequest(format!(
                "model {} was not trained with clean context frames (per-frame or per-token timesteps); use the replace context mode",
                m.name
            ))),
            Some(mode) => Ok(mode),
        }
    }

    fn require_encoder(&self, job: &str) -> Result<()> {
        match self.package.manifest.vae_encoder {
            Some(_) => Ok(()),
            None => Err(Error::InvalidRequest(format!(
                "model {} has no VAE encoder (vae_encoder in kino.json), which {job} needs",
                self.package.manifest.name
            ))),
        }
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
        if req.storyboard.iter().any(|p| p.cut) {
            return self.generate_shots(req, on_progress, on_frame);
        }
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
        req.check_frame_sizes([still], "the still")?;
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
        // A storyboard changes prompts between windows, so its clip is made window by window.
        let single = req.frames <= m.video.max_frames && (req.storyboard.is_empty() || req.frames <= m.video.default_frames);
        if !req.storyboard.is_empty() && single {
            return Err(Error::InvalidRequest(format!(
                "prompts on a timeline (a storyboard, or prompts given from a time on) change between windows: make the clip longer than one window ({} frames) of model {}",
                m.video.default_frames, m.name
            )));
        }
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
        let mut tracker =
            Tracker { callback: on_progress, steps_done: 0, steps_total: req.steps * (1 + chained), frames_done: 0, frames_total: total };
        let job = self.job(req, still.is_some());
        let prompts = self.encode_prompts(req, &job)?;

        // Window 0: plain text to video, or continuing from the still.
        let shape = self.window_shape(req, m.latent.latent_frames(first_frames as u32));
        let ctx = match still {
            Some(s) => Some(self.encode_context(std::slice::from_ref(s), Placement::After, &mut tracker)?),
            None => None,
        };
        let latents = self.denoise(prompts.at(0), req, shape, ctx.as_slice(), req.seed, WindowStart::Noise, &mut tracker)?;
        if single {
            job.denoising_done();
        }
        let mut frames = self.decode(&latents, req.seed)?;
        if frames.len() != first_frames {
            return Err(frame_count_error(frames.len(), first_frames));
        }
        if let Some(s) = still {
            // The clip starts on the user's image itself, not the model's re-decode of it; the
            // frames after it take over the difference, fading out, as after an extended clip.
            let again = std::mem::replace(&mut frames[0], s.clone());
            carry_residual_where_unmoved(&mut frames[1..], s, &again, ctx_frames.max(1));
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
        self.continue_after(&prompts, req, tail, total - split, true, 1, &mut tracker, on_frame)
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

/// At most eight words, quoted, then how many more.
fn quoted_list(words: &[String]) -> String {
    let list = words.iter().take(8).map(|w| quoted(w)).collect::<Vec<_>>().join(", ");
    if words.len() > 8 {
        format!("{list} and {} more", words.len() - 8)
    } else {
        list
    }
}
