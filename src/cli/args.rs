//! The command line's arguments (clap) and what they turn into: runtime options, a request, a frame count.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::{Args, Parser, Subcommand};

use kino::model::{self, ModelPackage};
use kino::{Device, Fit, GenerateRequest, RuntimeOptions};

#[derive(Parser)]
#[command(name = "kino", version, about = "Text-to-video diffusion over ONNX Runtime")]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Generate a clip from a prompt.
    Generate(GenerateArgs),
    /// Continue a video clip forwards (or backwards) with generated footage.
    Extend(ExtendArgs),
    /// Animate a still image: the clip starts from it.
    Animate(AnimateArgs),
    /// Join two clips with generated footage that continues the first and arrives at the second.
    Bridge(BridgeArgs),
    /// Redo a clip under a new prompt: low strength keeps its layout and motion, high strength
    /// follows the prompt.
    Remix(RemixArgs),
    /// Time a model: load (cold and warm), each component's runs, each step, end to end, and
    /// the share of time spent outside ONNX Runtime.
    Bench(BenchArgs),
    /// List the model packages kino can find.
    Models {
        /// Extra folders to search (each a package, or a folder of packages).
        #[arg(long = "path")]
        paths: Vec<PathBuf>,
    },
}

#[derive(Args)]
pub(crate) struct RuntimeArgs {
    /// Model package folder or name (default: the shipped kino-shapes).
    #[arg(long)]
    pub(crate) model: Option<String>,
    /// cpu, cuda[:N], tensorrt[:N] or auto (best available, logged).
    #[arg(long, default_value = "cpu")]
    pub(crate) device: String,
    /// ONNX Runtime intra-op threads, 1 to 256 (default: all cores). Part of what a seed
    /// reproduces: pass the printed count to get the same frames on another machine.
    #[arg(long)]
    pub(crate) threads: Option<usize>,
    /// Path to libonnxruntime.so (else ORT_DYLIB_PATH, KINO_VENV, kino's venvs in ~/.cache/kino, LD_LIBRARY_PATH, system).
    #[arg(long)]
    pub(crate) ort_lib: Option<PathBuf>,
    /// CUDA / TensorRT: capture the denoiser's steps as a CUDA graph and replay it.
    #[arg(long)]
    pub(crate) cuda_graph: bool,
    /// Run the denoiser without IoBinding (for comparison; same frames, one output allocation per step).
    #[arg(long, hide = true)]
    pub(crate) unbound_runs: bool,
}

#[derive(Args)]
pub(crate) struct GenerateArgs {
    /// What the clip shows, e.g. "a red circle moving left" (not with --storyboard).
    #[arg(required_unless_present_any = ["storyboard", "prompt_flag"], conflicts_with_all = ["storyboard", "prompt_flag"])]
    pub(crate) prompt: Option<String>,
    /// The prompt as a flag, as `kino extend` and `kino animate` take it.
    #[arg(short = 'p', long = "prompt", value_name = "PROMPT", conflicts_with = "storyboard")]
    pub(crate) prompt_flag: Option<String>,
    /// From TIME on, follow TEXT instead: TIME=TEXT, TIME in seconds (2, 2.5s) or frames (16f).
    /// Repeatable; changes take effect at the next window (each window continues the last).
    #[arg(long = "prompt-at", value_name = "TIME=TEXT", allow_hyphen_values = true)]
    pub(crate) prompt_at: Vec<String>,
    /// Prompts on a timeline, one `TIME PROMPT` line each (first at 0s, times rising).
    #[arg(long, value_name = "FILE", conflicts_with = "prompt_at")]
    pub(crate) storyboard: Option<PathBuf>,
    /// Output: .mp4, .mov or .m4v (H.264), .webm (VP9), .mkv (lossless FFV1) or a folder/ of PNG frames.
    #[arg(short, long)]
    pub(crate) output: PathBuf,
    #[command(flatten)]
    pub(crate) runtime: RuntimeArgs,
    #[command(flatten)]
    pub(crate) memory: super::memory::MemoryArgs,
    #[command(flatten)]
    pub(crate) length: LengthArgs,
    /// Frames per second of the output (default: the model's).
    #[arg(long)]
    pub(crate) fps: Option<f64>,
    /// WIDTHxHEIGHT (default: the model's).
    #[arg(long)]
    pub(crate) size: Option<String>,
    /// Make a seamless loop: the last frame leads into the first.
    #[arg(long = "loop")]
    pub(crate) looped: bool,
    /// Show IMAGE at TIME and generate around it: TIME=IMAGE, TIME in seconds (2, 2.5s) or
    /// frames (16f). Repeatable. An image of another shape is fitted, never stretched (--fit).
    #[arg(long = "keyframe", value_name = "TIME=IMAGE", allow_hyphen_values = true)]
    pub(crate) keyframes: Vec<String>,
    #[command(flatten)]
    pub(crate) fit: FitArgs,
    #[command(flatten)]
    pub(crate) sampling: SamplingArgs,
}

#[derive(Args)]
pub(crate) struct ExtendArgs {
    /// The clip to continue (any format ffmpeg reads). It is not modified.
    pub(crate) input: PathBuf,
    /// What the new footage shows.
    #[arg(short, long)]
    pub(crate) prompt: String,
    /// Output: .mp4 (or .mov, .m4v), .webm, .mkv or a folder/ of PNG frames: the clip with the new footage.
    #[arg(short, long)]
    pub(crate) output: PathBuf,
    /// Append the new footage after the clip's end, or prepend it before its start.
    #[arg(long, value_parser = ["end", "start"], default_value = "end")]
    pub(crate) at: String,
    #[command(flatten)]
    pub(crate) runtime: RuntimeArgs,
    #[command(flatten)]
    pub(crate) memory: super::memory::MemoryArgs,
    #[command(flatten)]
    pub(crate) length: LengthArgs,
    /// WIDTHxHEIGHT the model works at (default: the model's); frames are fitted to it and back.
    #[arg(long)]
    pub(crate) size: Option<String>,
    /// Also show IMAGE at TIME in the new footage: TIME=IMAGE, TIME on the output's timeline
    /// (with --at end the clip starts at 0; with --at start the new footage does) in seconds (5,
    /// 5.5s) or frames (40f). Repeatable.
    #[arg(long = "keyframe", value_name = "TIME=IMAGE", allow_hyphen_values = true)]
    pub(crate) keyframes: Vec<String>,
    #[command(flatten)]
    pub(crate) fit: FitArgs,
    #[command(flatten)]
    pub(crate) sampling: SamplingArgs,
}

#[derive(Args)]
pub(crate) struct BridgeArgs {
    /// The clip the bridge continues (its end). It is not modified.
    pub(crate) first: PathBuf,
    /// The clip the bridge arrives at (its start): same size and frame rate. It is not modified.
    pub(crate) second: PathBuf,
    /// What the bridge shows.
    #[arg(short, long)]
    pub(crate) prompt: String,
    /// Output: .mp4 (or .mov, .m4v), .webm, .mkv or a folder/ of PNG frames: the first clip, the bridge, the second clip.
    #[arg(short, long)]
    pub(crate) output: PathBuf,
    /// Write the bridge alone (to lay between the clips in an editor), with A's audio streams,
    /// silent.
    #[arg(long)]
    pub(crate) only: bool,
    #[command(flatten)]
    pub(crate) runtime: RuntimeArgs,
    #[command(flatten)]
    pub(crate) memory: super::memory::MemoryArgs,
    #[command(flatten)]
    pub(crate) length: LengthArgs,
    /// WIDTHxHEIGHT the model works at (default: the model's); frames are fitted to it and back.
    #[arg(long)]
    pub(crate) size: Option<String>,
    #[command(flatten)]
    pub(crate) fit: FitArgs,
    #[command(flatten)]
    pub(crate) sampling: SamplingArgs,
}

#[derive(Args)]
pub(crate) struct RemixArgs {
    /// The clip to redo (any format ffmpeg reads). It is not modified.
    pub(crate) input: PathBuf,
    /// What the remixed clip shows.
    #[arg(short, long)]
    pub(crate) prompt: String,
    /// 0 keeps the clip, 1 redraws it from noise; between, the share of the denoising redone.
    #[arg(long, default_value_t = 0.6, allow_hyphen_values = true)]
    pub(crate) strength: f32,
    /// Output: .mp4 (or .mov, .m4v), .webm, .mkv or a folder/ of PNG frames, at the clip's size and frame rate.
    #[arg(short, long)]
    pub(crate) output: PathBuf,
    #[command(flatten)]
    pub(crate) runtime: RuntimeArgs,
    #[command(flatten)]
    pub(crate) memory: super::memory::MemoryArgs,
    /// WIDTHxHEIGHT the model works at (default: the model's); frames are fitted to it and back.
    #[arg(long)]
    pub(crate) size: Option<String>,
    #[command(flatten)]
    pub(crate) fit: CropFitArgs,
    #[command(flatten)]
    pub(crate) sampling: SamplingArgs,
}

#[derive(Args)]
pub(crate) struct AnimateArgs {
    /// The still image (PNG, JPEG, ... anything ffmpeg reads). It is not modified.
    pub(crate) image: PathBuf,
    /// What happens in the clip.
    #[arg(short, long)]
    pub(crate) prompt: String,
    /// Output: .mp4 (or .mov, .m4v), .webm, .mkv or a folder/ of PNG frames.
    #[arg(short, long)]
    pub(crate) output: PathBuf,
    #[command(flatten)]
    pub(crate) runtime: RuntimeArgs,
    #[command(flatten)]
    pub(crate) memory: super::memory::MemoryArgs,
    #[command(flatten)]
    pub(crate) length: LengthArgs,
    /// Frames per second of the output (default: the model's).
    #[arg(long)]
    pub(crate) fps: Option<f64>,
    /// WIDTHxHEIGHT the model works at (default: the model's); the output has the image's size.
    #[arg(long)]
    pub(crate) size: Option<String>,
    /// Also show IMAGE at TIME (after the start): TIME=IMAGE, TIME in seconds (2, 2.5s) or
    /// frames (16f). Repeatable; fitted like the still.
    #[arg(long = "keyframe", value_name = "TIME=IMAGE", allow_hyphen_values = true)]
    pub(crate) keyframes: Vec<String>,
    #[command(flatten)]
    pub(crate) fit: CropFitArgs,
    #[command(flatten)]
    pub(crate) sampling: SamplingArgs,
}

#[derive(Args)]
pub(crate) struct FitArgs {
    /// How the model's frames fit a clip of another shape, never stretched: letterbox shows
    /// all of them with black bars, crop fills the clip and cuts the overflow. The clip is
    /// read through the same window.
    #[arg(long, value_parser = ["letterbox", "crop"], default_value = "letterbox")]
    pub(crate) fit: String,
}

impl FitArgs {
    pub(crate) fn fit(&self) -> Result<Fit> {
        Ok(self.fit.parse()?)
    }
}

/// `--fit` for remix and animate, whose frames start from the user's own picture: crop by
/// default, so the whole picture is kept in view and continued (letterbox would put black bars
/// over the sides of their clip, or their still's first frame).
#[derive(Args)]
pub(crate) struct CropFitArgs {
    /// How the model's frames fit a clip or still of another shape, never stretched: crop fills
    /// it (the whole picture is read, letterboxed into the model's shape, and continued or
    /// redrawn); letterbox uses its middle only and shows the model's frames with black bars.
    #[arg(long, value_parser = ["letterbox", "crop"], default_value = "crop")]
    pub(crate) fit: String,
}

impl CropFitArgs {
    pub(crate) fn fit(&self) -> Result<Fit> {
        Ok(self.fit.parse()?)
    }
}

#[derive(Args)]
pub(crate) struct BenchArgs {
    #[command(flatten)]
    pub(crate) runtime: RuntimeArgs,
    /// The prompt generated in every run.
    #[arg(short, long, default_value = "a red circle moving left")]
    pub(crate) prompt: String,
    /// WIDTHxHEIGHT (default: the model's).
    #[arg(long)]
    pub(crate) size: Option<String>,
    /// Frames (default: one window of the model's length; a longer clip is timed window by window).
    #[arg(long)]
    pub(crate) frames: Option<u32>,
    /// Denoising steps (default: the model's).
    #[arg(long)]
    pub(crate) steps: Option<usize>,
    /// Guidance scale (default: the model's; above 1 runs the model twice per step or as a batch of 2).
    #[arg(long)]
    pub(crate) guidance: Option<f32>,
    /// Guide only the steps whose noise level is within LOW,HIGH (default: the model's).
    #[arg(long, value_name = "LOW,HIGH")]
    pub(crate) guidance_interval: Option<String>,
    /// Timed generations after one warm-up.
    #[arg(long, default_value_t = 3)]
    pub(crate) runs: usize,
    /// Run every generation as `kino generate --low-memory` does: each component loaded when
    /// needed and released, the text encoder one graph at a time (a package too large to keep
    /// loaded). Load times are then measured inside the generations.
    #[arg(long)]
    pub(crate) low_memory: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Args)]
pub(crate) struct LengthArgs {
    /// Length in seconds (of the new footage, for extend). Longer than one model window is
    /// made window by window.
    #[arg(long, conflicts_with = "frames")]
    pub(crate) seconds: Option<f64>,
    /// Exact frame count (one window: the model's rule, e.g. 1 + 4k; longer: any count).
    #[arg(long)]
    pub(crate) frames: Option<u32>,
}

#[derive(Args)]
pub(crate) struct SamplingArgs {
    /// Denoising steps (default: the model's).
    #[arg(long)]
    pub(crate) steps: Option<usize>,
    /// Classifier-free guidance scale (default: the model's; 1 disables).
    #[arg(long)]
    pub(crate) guidance: Option<f32>,
    /// Guide only the steps whose noise level is within LOW,HIGH (0 clean, 1 pure noise), e.g.
    /// 0.5,1: the others run the prompt alone, one model run instead of two (default: the
    /// model's; `0,1` guides every step).
    #[arg(long, value_name = "LOW,HIGH")]
    pub(crate) guidance_interval: Option<String>,
    /// What the clip should not show (default: the model's).
    #[arg(long)]
    pub(crate) negative_prompt: Option<String>,
    /// Random seed (default: random, printed). The same seed, model, flags, ONNX Runtime library,
    /// device and --threads give identical frames; another thread count may change a few values
    /// by one level, so kino prints the thread count with the seed.
    #[arg(long)]
    pub(crate) seed: Option<u64>,
    /// How each denoising step moves: deterministic (along the model's velocity) or stochastic
    /// (the model's clean estimate noised afresh, from the seed, at each step; flow-match Euler
    /// models). On the shipped model stochastic steps from text raised direction from 86.5% to
    /// 96.0% of clips (docs/demo-model.md). Default: the model's (kino-shapes: stochastic from
    /// text, after and before given frames, in a long clip's later windows and in remix above
    /// strength 0.5, deterministic where footage goes from given frames into the user's:
    /// bridges, loops, keyframes; and in remix up to 0.5). Chosen, it applies to every window.
    #[arg(long)]
    pub(crate) sampler: Option<kino::pipeline::Sampler>,
    /// How given frames steer the model: native (models trained with clean context frames),
    /// replace (latent replacement, any model; lower quality) or channels (the model's own
    /// condition input: Wan2.1 image-to-video packages, where it is the only one). Default: the
    /// model's best.
    #[arg(long)]
    pub(crate) context_mode: Option<kino::ContextMode>,
    /// Draw each window whose new footage arrives at given frames (extend --at start, bridges,
    /// loops, footage into a keyframe) N times, from different seeds, and keep the draw whose
    /// decode of the given frames comes nearest to them; each draw costs a window's denoising.
    /// 1 to 16 (default: the model's; kino-shapes: 8, which raised the direction of backward
    /// extensions from 85% to 97.5% of clips, docs/demo-model.md; 1 where a package says nothing).
    #[arg(long, value_name = "N")]
    pub(crate) candidates: Option<usize>,
    /// Also write a contact sheet of the frames to this PNG.
    #[arg(long)]
    pub(crate) preview: Option<PathBuf>,
    /// No progress bars.
    #[arg(short, long)]
    pub(crate) quiet: bool,
}

impl RuntimeArgs {
    pub(crate) fn options(&self) -> Result<RuntimeOptions> {
        let device: Device = self.device.parse()?;
        let env = RuntimeOptions::from_env();
        if let Some(t) = self.threads {
            if !(1..=MAX_THREADS).contains(&t) {
                bail!("--threads {t}: use 1 to {MAX_THREADS} (this machine has {} cores)", cores());
            }
        }
        if self.cuda_graph && matches!(device, Device::Cpu) {
            bail!("--cuda-graph needs --device cuda, tensorrt or auto");
        }
        if self.cuda_graph && self.unbound_runs {
            bail!("--cuda-graph replays the denoiser's bound runs: it cannot go with --unbound-runs");
        }
        Ok(RuntimeOptions {
            device,
            // Always explicit: the thread count is part of what a seed reproduces (README).
            threads: Some(self.threads.unwrap_or_else(cores)),
            ort_library: self.ort_lib.clone().or(env.ort_library),
            cuda_graph: self.cuda_graph,
            unbound_runs: self.unbound_runs,
            ..env
        })
    }

    pub(crate) fn model_dir(&self) -> PathBuf {
        match &self.model {
            Some(m) => model::ModelSearch::from_env().resolve(m),
            None => model::ModelSearch::from_env().default_model_dir(),
        }
    }
}

pub(crate) fn parse_size(s: &str) -> Result<(u32, u32)> {
    Ok(kino::pipeline::parse_size(s, "--size")?)
}

/// Most ONNX Runtime threads kino starts (more only adds contention).
pub(crate) const MAX_THREADS: usize = 256;

pub(crate) fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// `--steps`, checked with the flag named (the request's own check cannot name it).
pub(crate) fn checked_steps(s: usize) -> Result<usize> {
    if s == 0 || s > 1000 {
        bail!("--steps {s}: use 1 to 1000 denoising steps");
    }
    Ok(s)
}

/// `--guidance`, checked with the flag named.
pub(crate) fn checked_guidance(g: f32) -> Result<f32> {
    if !g.is_finite() || !(0.0..=50.0).contains(&g) {
        bail!("--guidance {g}: use a number from 0 to 50 (1 disables guidance)");
    }
    Ok(g)
}

impl SamplingArgs {
    /// The package's defaults with these options applied.
    pub(crate) fn request(&self, pkg: &ModelPackage, prompt: &str, size: &Option<String>) -> Result<GenerateRequest> {
        let mut req = GenerateRequest::defaults_for(pkg, prompt);
        if let Some(size) = size {
            (req.width, req.height) = parse_size(size)?;
        }
        if let Some(s) = self.steps {
            req.steps = checked_steps(s)?;
        }
        if let Some(g) = self.guidance {
            req.set_guidance(checked_guidance(g)?);
        }
        if let Some(g) = &self.guidance_interval {
            req.guidance_interval = Some(kino::pipeline::GuidanceInterval::parse(g, "--guidance-interval")?);
        }
        req.negative_prompt = self.negative_prompt.clone();
        req.seed = self.seed.unwrap_or_else(random_seed);
        req.context_mode = self.context_mode;
        req.sampler = self.sampler;
        if let Some(n) = self.candidates {
            if !(1..=kino::pipeline::MAX_CANDIDATES).contains(&n) {
                bail!("--candidates {n}: use 1 to {} draws of a window", kino::pipeline::MAX_CANDIDATES);
            }
            req.candidates = n;
        }
        if prompt.trim().is_empty() {
            eprintln!("kino: warning: empty prompt; the model will draw whatever it likes");
        }
        req.validate_settings(pkg)?;
        Ok(req)
    }
}

impl LengthArgs {
    /// Frames for a clip at `fps`: --frames as given, --seconds rounded (to the model's frame
    /// rule when it fits one window), else `default`.
    pub(crate) fn frames(&self, pkg: &ModelPackage, fps: f64, default: u32) -> Result<u32> {
        if let Some(f) = self.frames {
            check_frames_within_an_hour(f as usize, fps)?;
            return Ok(f);
        }
        let Some(raw) = self.seconds_as_frames(fps)? else { return Ok(default) };
        let m = &pkg.manifest;
        let exact = raw.round().max(1.0) as u32;
        Ok(if exact <= m.video.max_frames { m.latent.nearest_valid_frames(raw).min(m.video.max_frames) } else { exact })
    }

    /// New footage next to a clip at `fps`: --frames as given, --seconds rounded, else one of
    /// the model's windows (`default_frames` at the model's rate) at the clip's rate.
    pub(crate) fn new_frames(&self, pkg: &ModelPackage, fps: f64) -> Result<usize> {
        Ok(match (self.frames, self.seconds_as_frames(fps)?) {
            (Some(f), _) => check_frames_within_an_hour(f as usize, fps).map(|()| f as usize)?,
            (None, Some(raw)) => raw.round().max(1.0) as usize,
            (None, None) => (pkg.manifest.video.default_frames as f64 * fps / pkg.manifest.video.fps).round() as usize,
        })
    }

    /// --seconds times `fps` (not rounded), checked.
    pub(crate) fn seconds_as_frames(&self, fps: f64) -> Result<Option<f64>> {
        let Some(s) = self.seconds else { return Ok(None) };
        if s.is_infinite() && s > 0.0 {
            bail!("--seconds {s}: kino makes at most an hour (3600 s) in one run");
        }
        if !(s.is_finite() && s > 0.0) {
            bail!("--seconds {s}: use a positive length");
        }
        if s > 3600.0 {
            bail!("--seconds {}: kino makes at most an hour (3600 s) in one run", if s >= 1e6 { format!("{s:e}") } else { s.to_string() });
        }
        Ok(Some(s * fps))
    }
}

/// --frames at `fps` lasts at most an hour, as --seconds must.
fn check_frames_within_an_hour(frames: usize, fps: f64) -> Result<()> {
    let seconds = frames as f64 / fps;
    if seconds > 3600.0 {
        bail!(
            "--frames {frames} at {} fps lasts {:.1} hours: kino makes at most an hour (3600 s) in one run",
            super::job::rate(fps),
            seconds / 3600.0
        );
    }
    Ok(())
}

pub(crate) fn random_seed() -> u64 {
    // Time and pid are plenty for "a different clip each run"; the seed is printed for reuse.
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    ((t as u64) ^ ((std::process::id() as u64) << 32)) % 1_000_000_000
}
