//! The `kino` command line: parses arguments and drives the engine library.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use kino::footage::Retime;
use kino::model::{self, ModelPackage};
use kino::video;
use kino::{Device, GenerateRequest, Pipeline, Placement, Progress, RgbFrame, RuntimeOptions, Stage};

#[derive(Parser)]
#[command(name = "kino", version, about = "Text-to-video diffusion over ONNX Runtime")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate a clip from a prompt.
    Generate(GenerateArgs),
    /// Continue a video clip forwards (or backwards) with generated footage.
    Extend(ExtendArgs),
    /// Animate a still image: the clip starts from it.
    Animate(AnimateArgs),
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
struct RuntimeArgs {
    /// Model package folder or name (default: the shipped kino-shapes).
    #[arg(long)]
    model: Option<String>,
    /// cpu, cuda[:N], tensorrt[:N] or auto (best available, logged).
    #[arg(long, default_value = "cpu")]
    device: String,
    /// ONNX Runtime intra-op threads, 1 to 256 (default: all cores). Part of what a seed
    /// reproduces: pass the printed count to get the same frames on another machine.
    #[arg(long)]
    threads: Option<usize>,
    /// Path to libonnxruntime.so (else ORT_DYLIB_PATH, KINO_VENV, kino's venvs in ~/.cache/kino, LD_LIBRARY_PATH, system).
    #[arg(long)]
    ort_lib: Option<PathBuf>,
    /// CUDA / TensorRT: capture the denoiser's steps as a CUDA graph and replay it.
    #[arg(long)]
    cuda_graph: bool,
    /// Run the denoiser without IoBinding (for comparison; same frames, one output allocation per step).
    #[arg(long, hide = true)]
    unbound_runs: bool,
}

#[derive(Args)]
struct GenerateArgs {
    /// What the clip shows, e.g. "a red circle moving left".
    prompt: String,
    /// Output: .mp4 (H.264), .mkv (lossless FFV1) or a folder/ of PNG frames.
    #[arg(short, long)]
    output: PathBuf,
    #[command(flatten)]
    runtime: RuntimeArgs,
    #[command(flatten)]
    length: LengthArgs,
    /// Frames per second of the output (default: the model's).
    #[arg(long)]
    fps: Option<f64>,
    /// WIDTHxHEIGHT (default: the model's).
    #[arg(long)]
    size: Option<String>,
    #[command(flatten)]
    sampling: SamplingArgs,
}

#[derive(Args)]
struct ExtendArgs {
    /// The clip to continue (any format ffmpeg reads). It is not modified.
    input: PathBuf,
    /// What the new footage shows.
    #[arg(long)]
    prompt: String,
    /// Output: .mp4, .mkv or a folder/ of PNG frames: the clip with the new footage.
    #[arg(short, long)]
    output: PathBuf,
    /// Append the new footage after the clip's end, or prepend it before its start.
    #[arg(long, value_parser = ["end", "start"], default_value = "end")]
    at: String,
    #[command(flatten)]
    runtime: RuntimeArgs,
    #[command(flatten)]
    length: LengthArgs,
    /// WIDTHxHEIGHT the model works at (default: the model's); frames are resized to it and back.
    #[arg(long)]
    size: Option<String>,
    #[command(flatten)]
    sampling: SamplingArgs,
}

#[derive(Args)]
struct AnimateArgs {
    /// The still image (PNG, JPEG, ... anything ffmpeg reads). It is not modified.
    image: PathBuf,
    /// What happens in the clip.
    #[arg(long)]
    prompt: String,
    /// Output: .mp4, .mkv or a folder/ of PNG frames.
    #[arg(short, long)]
    output: PathBuf,
    #[command(flatten)]
    runtime: RuntimeArgs,
    #[command(flatten)]
    length: LengthArgs,
    /// Frames per second of the output (default: the model's).
    #[arg(long)]
    fps: Option<f64>,
    /// WIDTHxHEIGHT the model works at (default: the model's); the output has the image's size.
    #[arg(long)]
    size: Option<String>,
    #[command(flatten)]
    sampling: SamplingArgs,
}

#[derive(Args)]
struct BenchArgs {
    #[command(flatten)]
    runtime: RuntimeArgs,
    /// The prompt generated in every run.
    #[arg(long, default_value = "a red circle moving left")]
    prompt: String,
    /// WIDTHxHEIGHT (default: the model's).
    #[arg(long)]
    size: Option<String>,
    /// Frames (one window; default: the model's).
    #[arg(long)]
    frames: Option<u32>,
    /// Denoising steps (default: the model's).
    #[arg(long)]
    steps: Option<usize>,
    /// Guidance scale (default: the model's; above 1 runs the model twice per step or as a batch of 2).
    #[arg(long)]
    guidance: Option<f32>,
    /// Timed generations after one warm-up.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct LengthArgs {
    /// Length in seconds (of the new footage, for extend). Longer than one model window is
    /// made window by window.
    #[arg(long, conflicts_with = "frames")]
    seconds: Option<f64>,
    /// Exact frame count (one window: the model's rule, e.g. 1 + 4k; longer: any count).
    #[arg(long)]
    frames: Option<u32>,
}

#[derive(Args)]
struct SamplingArgs {
    /// Denoising steps (default: the model's).
    #[arg(long)]
    steps: Option<usize>,
    /// Classifier-free guidance scale (default: the model's; 1 disables).
    #[arg(long)]
    guidance: Option<f32>,
    /// What the clip should not show (default: the model's).
    #[arg(long)]
    negative_prompt: Option<String>,
    /// Random seed (default: random, printed). The same seed, model, flags, ONNX Runtime library,
    /// device and --threads give identical frames; another thread count may change a few values
    /// by one level, so kino prints the thread count with the seed.
    #[arg(long)]
    seed: Option<u64>,
    /// How given frames steer the model: native (models trained with clean context frames) or
    /// replace (latent replacement, any model; lower quality). Default: the model's best.
    #[arg(long)]
    context_mode: Option<kino::ContextMode>,
    /// Also write a contact sheet of the frames to this PNG.
    #[arg(long)]
    preview: Option<PathBuf>,
    /// No progress bars.
    #[arg(short, long)]
    quiet: bool,
}

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if e.kind() == clap::error::ErrorKind::InvalidUtf8 => {
            eprintln!("error: an argument is not valid UTF-8; kino takes prompts and paths as UTF-8 text");
            std::process::exit(2);
        }
        Err(e) => e.exit(),
    };
    signals::install();
    // FFmpeg's own log lines would come before kino's one-line error about the same problem.
    ffmpeg_next::util::log::set_level(ffmpeg_next::util::log::Level::Quiet);
    log::set_logger(&STDERR_LOG).map(|()| log::set_max_level(log::LevelFilter::Warn)).ok();
    let result = match cli.command {
        Command::Generate(args) => generate(args),
        Command::Extend(args) => extend(args),
        Command::Animate(args) => animate(args),
        Command::Bench(args) => bench(args),
        Command::Models { paths } => list_models(paths),
    };
    if let Err(e) = result {
        if let Some(code) = signals::exit_code() {
            // Stopped by a signal: the partial output is already gone (dropped with the job).
            kino::video::remove_partial_outputs();
            eprintln!("kino: stopped by a signal; nothing was written");
            std::process::exit(code);
        }
        eprintln!("error: {}", one_line(&e));
        std::process::exit(1);
    }
}

/// The library's warnings, on stderr as the CLI's other notes are.
struct StderrLog;

static STDERR_LOG: StderrLog = StderrLog;

impl log::Log for StderrLog {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= log::Level::Warn
    }
    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            eprintln!("kino: {}", r.args());
        }
    }
    fn flush(&self) {}
}

/// The chain of causes on one line, outermost first, leaving out a cause whose text the
/// message before it already contains (many errors quote their source).
fn one_line(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if text.is_empty() || parts.last().is_some_and(|p| p.contains(&text)) {
            continue;
        }
        parts.push(text);
    }
    parts.join(": ").replace('\n', " ")
}

/// SIGINT, SIGTERM and SIGHUP stop the job: it notices between steps and frames, drops its
/// partial output and exits with 128 + the signal. If it has not stopped within a few seconds
/// (a long model load or run), or on a second signal, partials are removed here and the
/// process exits at once.
mod signals {
    use std::sync::atomic::{AtomicI32, Ordering};

    static RECEIVED: AtomicI32 = AtomicI32::new(0);

    pub fn install() {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else { return };
        let _ = std::thread::Builder::new().name("kino-signals".into()).spawn(move || {
            for sig in signals.forever() {
                if RECEIVED.swap(sig, Ordering::SeqCst) != 0 {
                    stop_now(sig);
                }
                let _ = std::thread::Builder::new().name("kino-stop".into()).spawn(move || {
                    std::thread::sleep(std::time::Duration::from_secs(3));
                    stop_now(sig);
                });
            }
        });
    }

    fn stop_now(sig: i32) -> ! {
        kino::video::remove_partial_outputs();
        eprintln!("kino: stopped by a signal; nothing was written");
        std::process::exit(128 + sig);
    }

    /// Whether a signal asked the job to stop.
    pub fn stopping() -> bool {
        RECEIVED.load(Ordering::SeqCst) != 0
    }

    /// The exit code for the signal received, if any.
    pub fn exit_code() -> Option<i32> {
        let sig = RECEIVED.load(Ordering::SeqCst);
        (sig != 0).then_some(128 + sig)
    }
}

impl RuntimeArgs {
    fn options(&self) -> Result<RuntimeOptions> {
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

    fn model_dir(&self) -> PathBuf {
        match &self.model {
            Some(m) => model::ModelSearch::from_env().resolve(m),
            None => model::ModelSearch::from_env().default_model_dir(),
        }
    }
}

fn parse_size(s: &str) -> Result<(u32, u32)> {
    Ok(kino::pipeline::parse_size(s, "--size")?)
}

/// Refuses a job whose estimated memory is more than this machine has available, before it starts.
fn check_memory(req: &GenerateRequest, pkg: &ModelPackage, extra: u64) -> Result<()> {
    let need = req.estimated_memory(pkg, extra);
    let Some(available) = available_memory() else { return Ok(()) };
    if need > available {
        let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
        bail!(
            "this job needs about {:.1} GiB of memory and {:.1} GiB is available: use a smaller --size (the model's default is {}x{}), fewer frames per window, or close other programs",
            gib(need),
            gib(available),
            pkg.manifest.video.default_width,
            pkg.manifest.video.default_height
        );
    }
    Ok(())
}

/// MemAvailable from /proc/meminfo (None where there is no such file).
fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Most ONNX Runtime threads kino starts (more only adds contention).
const MAX_THREADS: usize = 256;

fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// Checks the outputs before the (slow) model load and generation: nothing but an earlier output
/// is replaced, no input is overwritten, and the preview is neither the output nor an input.
fn check_outputs(output: &Path, preview: &Option<PathBuf>, inputs: &[&Path]) -> Result<()> {
    video::check_output(output, inputs).context("-o")?;
    if let Some(p) = preview {
        let mut taken = inputs.to_vec();
        taken.push(output);
        video::check_png_output(p, &taken).context("--preview (a .png contact sheet)")?;
    }
    Ok(())
}

/// An output frame rate: `flag` names where it came from (a flag, or the model's manifest).
fn check_fps(fps: f64, from: &str) -> Result<()> {
    if !(fps.is_finite() && (1.0..=240.0).contains(&fps)) {
        let shown = if fps.abs() >= 1e6 || !fps.is_finite() { format!("{fps:.3e}") } else { fps.to_string() };
        bail!("{from} {shown}: use a frame rate from 1 to 240");
    }
    Ok(())
}

/// The output rate: `--fps` if given, else the model's.
fn output_fps(flag: Option<f64>, pkg: &ModelPackage) -> Result<f64> {
    match flag {
        Some(f) => check_fps(f, "--fps").map(|()| f),
        None => check_fps(pkg.manifest.video.fps, "the model's video.fps").map(|()| pkg.manifest.video.fps),
    }
}

impl SamplingArgs {
    /// The package's defaults with these options applied.
    fn request(&self, pkg: &ModelPackage, prompt: &str, size: &Option<String>) -> Result<GenerateRequest> {
        let mut req = GenerateRequest::defaults_for(pkg, prompt);
        if let Some(size) = size {
            (req.width, req.height) = parse_size(size)?;
        }
        if let Some(s) = self.steps {
            req.steps = s;
        }
        if let Some(g) = self.guidance {
            req.guidance = g;
        }
        req.negative_prompt = self.negative_prompt.clone();
        req.seed = self.seed.unwrap_or_else(random_seed);
        req.context_mode = self.context_mode;
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
    fn frames(&self, pkg: &ModelPackage, fps: f64, default: u32) -> Result<u32> {
        if let Some(f) = self.frames {
            return Ok(f);
        }
        let Some(raw) = self.seconds_as_frames(fps)? else { return Ok(default) };
        let m = &pkg.manifest;
        let exact = raw.round().max(1.0) as u32;
        Ok(if exact <= m.video.max_frames { m.latent.nearest_valid_frames(raw).min(m.video.max_frames) } else { exact })
    }

    /// --seconds times `fps` (not rounded), checked.
    fn seconds_as_frames(&self, fps: f64) -> Result<Option<f64>> {
        let Some(s) = self.seconds else { return Ok(None) };
        if !(s.is_finite() && s > 0.0) {
            bail!("--seconds {s}: use a positive length");
        }
        if s > 3600.0 {
            bail!("--seconds {s}: kino makes at most an hour in one run");
        }
        Ok(Some(s * fps))
    }
}

/// Where a job's frames go: the encoder, and the frames kept for --preview.
struct Sink {
    encoder: video::EncoderThread,
    preview: Option<Vec<RgbFrame>>,
    t0: Instant,
}

impl Sink {
    fn create(output: &Path, width: u32, height: u32, fps: f64, sampling: &SamplingArgs) -> Result<Self> {
        Self::create_with_audio(output, width, height, fps, sampling, None)
    }

    fn create_with_audio(output: &Path, width: u32, height: u32, fps: f64, sampling: &SamplingArgs, audio: Option<video::OwnedAudioSource>) -> Result<Self> {
        // Encoding runs on its own thread, overlapping the next window's denoising; the queue
        // holds up to 64 frames or about 96 MB, whichever is fewer.
        let queue = (96 << 20) / (width as usize * height as usize * 3).max(1);
        let encoder = video::EncoderThread::spawn(output, width, height, fps, audio, queue.clamp(2, 64))?;
        Ok(Sink { encoder, preview: sampling.preview.as_ref().map(|_| Vec::new()), t0: Instant::now() })
    }

    fn push(&mut self, frame: RgbFrame) -> kino::Result<()> {
        if signals::stopping() {
            return Err(kino::Error::Cancelled);
        }
        if let Some(p) = &mut self.preview {
            p.push(frame.clone());
        }
        self.encoder.push(frame)
    }

    fn finish(self, output: &Path, sampling: &SamplingArgs, bars: Bars) -> Result<()> {
        bars.finish();
        // The video stays under its temporary name until the preview is written: a failed
        // preview leaves neither behind.
        let done = self.encoder.finish_pending()?;
        if let (Some(p), Some(frames)) = (&sampling.preview, &self.preview) {
            let sheet = video::contact_sheet(frames, 8).context("no frames for the preview")?;
            video::save_png(&sheet, p).context("--preview")?;
        }
        let n = done.commit()?;
        if !sampling.quiet {
            eprintln!("kino: wrote {} ({n} frames) in {:.1}s", output.display(), self.t0.elapsed().as_secs_f64());
        }
        Ok(())
    }
}

fn load(runtime: &RuntimeArgs) -> Result<(ModelPackage, RuntimeOptions)> {
    let opts = runtime.options()?;
    let pkg = ModelPackage::load(runtime.model_dir())?;
    Ok((pkg, opts))
}

fn announce(quiet: bool, what: &str, pipeline: &Pipeline, req: &GenerateRequest, frames: u32, fps: f64, threads: usize) {
    if !quiet {
        eprintln!(
            "kino: {what} with {} ({}x{}, {frames} frames at {fps} fps, {} steps, guidance {}, seed {} with {threads} threads) on {}",
            pipeline.package.manifest.name, req.width, req.height, req.steps, req.guidance, req.seed, pipeline.device
        );
    }
}

fn generate(args: GenerateArgs) -> Result<()> {
    check_outputs(&args.output, &args.sampling.preview, &[])?;
    let (pkg, opts) = load(&args.runtime)?;
    let fps = output_fps(args.fps, &pkg)?;
    let mut req = args.sampling.request(&pkg, &args.prompt, &args.size)?;
    req.frames = args.length.frames(&pkg, fps, pkg.manifest.video.default_frames)?;
    req.validate(&pkg)?;
    check_memory(&req, &pkg, 0)?;

    let pipeline = Pipeline::from_package(pkg, &opts)?;
    announce(args.sampling.quiet, "generating", &pipeline, &req, req.frames, fps, opts.threads.unwrap_or(1));
    let mut sink = Sink::create(&args.output, req.width, req.height, fps, &args.sampling)?;
    let bars = Bars::new(args.sampling.quiet);
    pipeline.generate(&req, &mut |p| bars.update(p), &mut |f| sink.push(f))?;
    sink.finish(&args.output, &args.sampling, bars)
}

fn bench(args: BenchArgs) -> Result<()> {
    if args.runs == 0 || args.runs > 1000 {
        bail!("--runs must be between 1 and 1000");
    }
    let (pkg, opts) = load(&args.runtime)?;
    let mut req = GenerateRequest::defaults_for(&pkg, args.prompt.clone());
    if let Some(size) = &args.size {
        (req.width, req.height) = parse_size(size)?;
    }
    req.frames = args.frames.unwrap_or(req.frames);
    req.steps = args.steps.unwrap_or(req.steps);
    req.guidance = args.guidance.unwrap_or(req.guidance);
    req.seed = 1;
    req.validate(&pkg)?;
    let json = args.json;
    let report = kino::bench::run(&pkg.dir, &opts, &req, args.runs, &mut |line| {
        if !json {
            eprintln!("kino bench: {line}");
        }
    })?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.table());
    }
    Ok(())
}

fn animate(args: AnimateArgs) -> Result<()> {
    check_outputs(&args.output, &args.sampling.preview, &[&args.image])?;
    let still = video::decode_image(&args.image)?;
    let (pkg, opts) = load(&args.runtime)?;
    let fps = output_fps(args.fps, &pkg)?;
    let mut req = args.sampling.request(&pkg, &args.prompt, &args.size)?;
    req.frames = args.length.frames(&pkg, fps, pkg.manifest.video.default_frames)?;
    req.validate(&pkg)?;
    // The still and each output frame at the image's size.
    check_memory(&req, &pkg, 4 * still.data.len() as u64)?;

    let pipeline = Pipeline::from_package(pkg, &opts)?;
    announce(args.sampling.quiet, "animating", &pipeline, &req, req.frames, fps, opts.threads.unwrap_or(1));
    // The model works at its size; the clip comes back at the image's.
    let (w, h) = (still.width, still.height);
    let mut sink = Sink::create(&args.output, w, h, fps, &args.sampling)?;
    let bars = Bars::new(args.sampling.quiet);
    pipeline.animate(&req, &still.resized(req.width, req.height), &mut |p| bars.update(p), &mut |f| sink.push(f.resized(w, h)))?;
    sink.finish(&args.output, &args.sampling, bars)
}

fn extend(args: ExtendArgs) -> Result<()> {
    check_outputs(&args.output, &args.sampling.preview, &[&args.input])?;
    // The clip streams through: only the frames the model continues from are kept in memory.
    let mut reader = video::VideoReader::open(&args.input)?;
    let fps = reader.fps;
    if !(fps.is_finite() && (1.0..=240.0).contains(&fps)) {
        bail!("{}: frame rate {fps} is not usable (kino extends clips of 1 to 240 fps)", args.input.display());
    }
    let (pkg, opts) = load(&args.runtime)?;
    let mut req = args.sampling.request(&pkg, &args.prompt, &args.size)?;
    let model_fps = pkg.manifest.video.fps;
    // The new footage's length at the clip's rate.
    let new_frames = match (args.length.frames, args.length.seconds_as_frames(fps)?) {
        (Some(f), _) => f as usize,
        (None, Some(raw)) => raw.round().max(1.0) as usize,
        (None, None) => (pkg.manifest.video.default_frames as f64 * fps / model_fps).round() as usize,
    };
    if new_frames == 0 {
        bail!("--frames 0: extend by at least one frame");
    }
    let placement = if args.at == "start" { Placement::Before } else { Placement::After };
    let retime = Retime { clip_fps: fps, model_fps };
    let model_new = retime.model_frames_for(new_frames);
    req.frames = model_new as u32;
    // The clip's frames kept for the context, at its size (a generous bound on the span).
    check_memory(&req, &pkg, 64 * 3 * u64::from(reader.width) * u64::from(reader.height))?;

    let pipeline = Pipeline::from_package(pkg, &opts)?;
    // Enough for either side: a backward context is whole latent frames.
    let want = kino::footage::context_wanted(&pipeline);
    // Clip frames the context can reach: `want` model frames back from the seam.
    let span = retime.context_span(want);
    let (w, h) = (reader.width, reader.height);
    // The clip's audio and metadata come along: in place after an append, shifted by the new
    // footage's length before a prepend; the new footage itself is silent.
    let offset_seconds = if placement == Placement::Before { new_frames as f64 / fps } else { 0.0 };
    let audio = video::OwnedAudioSource { path: args.input.clone(), offset_seconds };
    let mut sink = Sink::create_with_audio(&args.output, w, h, fps, &args.sampling, Some(audio))?;
    if sink.encoder.audio_streams() > 0 && !args.sampling.quiet {
        eprintln!("kino: copying {} audio stream(s) from {}", sink.encoder.audio_streams(), args.input.display());
    }
    // The clip's frames nearest the model's frame times, counted from the seam, at the model's size.
    let context_of = |kept: &std::collections::VecDeque<RgbFrame>, first_kept: usize, total: usize| -> Vec<RgbFrame> {
        retime.context_indices(total, want, placement).into_iter().map(|i| kept[i - first_kept].resized(req.width, req.height)).collect()
    };
    match placement {
        Placement::After => {
            // The clip's own frames pass through untouched; the last `span` stay for the context.
            let mut kept = std::collections::VecDeque::with_capacity(span + 1);
            let mut total = 0usize;
            while let Some(f) = reader.next_frame()? {
                // Only the context is kept, at the model's size: a few frames of an 8K clip would
                // otherwise be hundreds of MB.
                let small = f.resized(req.width, req.height);
                sink.push(f)?;
                kept.push_back(small);
                if kept.len() > span {
                    kept.pop_front();
                }
                total += 1;
            }
            let context = context_of(&kept, total - kept.len(), total);
            announce(args.sampling.quiet, "extending", &pipeline, &req, model_new as u32, model_fps, opts.threads.unwrap_or(1));
            let bars = Bars::new(args.sampling.quiet);
            let mut out = 0usize;
            let mut model_index = 0usize;
            pipeline.extend(&req, &context, placement, model_new, &mut |p| bars.update(p), &mut |f| {
                let frame = f.resized(w, h);
                while out < new_frames && retime.model_index(out, model_new) == model_index {
                    sink.push(frame.clone())?;
                    out += 1;
                }
                model_index += 1;
                Ok(())
            })?;
            sink.finish(&args.output, &args.sampling, bars)
        }
        Placement::Before => {
            // The first `span` frames make the context; the rest stream after the new footage.
            let mut head = std::collections::VecDeque::with_capacity(span);
            while head.len() < span {
                match reader.next_frame()? {
                    Some(f) => head.push_back(f),
                    None => break,
                }
            }
            // Only the head's length matters for indices counted from the clip's start.
            let context = context_of(&head, 0, head.len());
            announce(args.sampling.quiet, "extending", &pipeline, &req, model_new as u32, model_fps, opts.threads.unwrap_or(1));
            let bars = Bars::new(args.sampling.quiet);
            // Made backwards from the seam (the engine holds them until the earliest is made),
            // they arrive oldest first; output frame i shows the model frame nearest in time,
            // counted back from the seam, which only grows with i.
            let mut out = 0usize;
            let mut model_index = 0usize;
            pipeline.extend(&req, &context, placement, model_new, &mut |p| bars.update(p), &mut |f| {
                let frame = f.resized(w, h);
                while out < new_frames && model_new - 1 - retime.model_index(new_frames - 1 - out, model_new) == model_index {
                    sink.push(frame.clone())?;
                    out += 1;
                }
                model_index += 1;
                Ok(())
            })?;
            if out != new_frames {
                bail!("internal: {out} of {new_frames} prepended frames were written");
            }
            for f in head.drain(..) {
                sink.push(f)?;
            }
            while let Some(f) = reader.next_frame()? {
                sink.push(f)?;
            }
            sink.finish(&args.output, &args.sampling, bars)
        }
    }
}

fn random_seed() -> u64 {
    // Time and pid are plenty for "a different clip each run"; the seed is printed for reuse.
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    ((t as u64) ^ ((std::process::id() as u64) << 32)) % 1_000_000_000
}

/// Progress bars on stderr, only when it is a terminal.
struct Bars {
    denoise: Option<ProgressBar>,
    decode: Option<ProgressBar>,
}

impl Bars {
    fn new(quiet: bool) -> Self {
        if quiet || !std::io::stderr().is_terminal() {
            return Bars { denoise: None, decode: None };
        }
        let style = ProgressStyle::with_template("{prefix:>8} [{bar:30}] {pos}/{len} {elapsed_precise}").unwrap_or_else(|_| ProgressStyle::default_bar()).progress_chars("=> ");
        let make = |p: &str| {
            let b = ProgressBar::new(0).with_style(style.clone()).with_prefix(p.to_string());
            b.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            b
        };
        Bars { denoise: Some(make("denoise")), decode: Some(make("decode")) }
    }

    fn update(&self, p: Progress) -> bool {
        if signals::stopping() {
            return false;
        }
        let bar = match p.stage {
            Stage::Denoise => &self.denoise,
            Stage::Decode => &self.decode,
            Stage::Encode => return true,
        };
        if let Some(b) = bar {
            b.set_length(p.total as u64);
            b.set_position(p.done as u64);
        }
        true
    }

    fn finish(&self) {
        for b in [&self.denoise, &self.decode].into_iter().flatten() {
            b.finish();
        }
    }
}

fn list_models(paths: Vec<PathBuf>) -> Result<()> {
    let mut dirs = paths;
    dirs.extend(model::ModelSearch::from_env().dirs());
    let found = model::find_packages(&dirs);
    if found.is_empty() {
        println!("no model packages found (searched: {})", dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", "));
        return Ok(());
    }
    for p in found {
        match p {
            Ok(p) => {
                let v = &p.manifest.video;
                println!(
                    "{:<16} {:<10} {}x{}, {} frames @ {} fps  {}",
                    p.manifest.name,
                    p.manifest.family,
                    v.default_width,
                    v.default_height,
                    v.default_frames,
                    v.fps,
                    display(&p.dir)
                );
            }
            Err(e) => println!("(broken) {e}"),
        }
    }
    Ok(())
}

fn display(p: &Path) -> String {
    p.canonicalize().unwrap_or_else(|_| p.to_path_buf()).display().to_string()
}
