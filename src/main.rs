//! The `kino` command line: parses arguments and drives the engine library.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use kino::model::{self, ModelPackage};
use kino::video::{self, VideoEncoder};
use kino::{Device, GenerateRequest, Pipeline, Progress, RgbFrame, RuntimeOptions, Stage};

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
    /// ONNX Runtime intra-op threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Path to libonnxruntime.so (else ORT_DYLIB_PATH, kino's venv, python3's onnxruntime, system).
    #[arg(long)]
    ort_lib: Option<PathBuf>,
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
    /// Length in seconds (rounded to the model's nearest valid frame count).
    #[arg(long, conflicts_with = "frames")]
    seconds: Option<f64>,
    /// Exact frame count (the model's rule, e.g. 1 + 4k).
    #[arg(long)]
    frames: Option<u32>,
    /// Frames per second of the output (default: the model's).
    #[arg(long)]
    fps: Option<f64>,
    /// WIDTHxHEIGHT (default: the model's).
    #[arg(long)]
    size: Option<String>,
    /// Denoising steps (default: the model's).
    #[arg(long)]
    steps: Option<usize>,
    /// Classifier-free guidance scale (default: the model's; 1 disables).
    #[arg(long)]
    guidance: Option<f32>,
    /// What the clip should not show (default: the model's).
    #[arg(long)]
    negative_prompt: Option<String>,
    /// Random seed; the same seed gives the same frames (default: random, printed).
    #[arg(long)]
    seed: Option<u64>,
    /// Also write a contact sheet of the frames to this PNG.
    #[arg(long)]
    preview: Option<PathBuf>,
    /// No progress bars.
    #[arg(short, long)]
    quiet: bool,
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Generate(args) => generate(args),
        Command::Models { paths } => list_models(paths),
    };
    if let Err(e) = result {
        // One line: the chain of causes, outermost first.
        let msg: Vec<String> = e.chain().map(|c| c.to_string()).collect();
        eprintln!("error: {}", msg.join(": "));
        std::process::exit(1);
    }
}

impl RuntimeArgs {
    fn options(&self) -> Result<RuntimeOptions> {
        let device: Device = self.device.parse()?;
        if self.threads == Some(0) {
            bail!("--threads must be at least 1");
        }
        Ok(RuntimeOptions { device, threads: self.threads, ort_library: self.ort_lib.clone(), cache_dir: None })
    }

    fn model_dir(&self) -> PathBuf {
        match &self.model {
            Some(m) => model::resolve_model(m),
            None => model::default_model_dir(),
        }
    }
}

fn parse_size(s: &str) -> Result<(u32, u32)> {
    let (w, h) = s.to_ascii_lowercase().split_once('x').map(|(a, b)| (a.trim().to_string(), b.trim().to_string())).context(format!("--size {s:?}: use WIDTHxHEIGHT, e.g. 64x64"))?;
    let w: u32 = w.parse().with_context(|| format!("--size {s:?}: width is not a whole number"))?;
    let h: u32 = h.parse().with_context(|| format!("--size {s:?}: height is not a whole number"))?;
    Ok((w, h))
}

fn generate(args: GenerateArgs) -> Result<()> {
    let opts = args.runtime.options()?;
    // Check the output path before the (slow) model load and generation.
    video::OutputFormat::from_path(&args.output)?;
    if let Some(p) = &args.preview {
        if p.extension().map(|e| e.to_ascii_lowercase()) != Some("png".into()) {
            bail!("--preview {}: the contact sheet is a .png file", p.display());
        }
    }
    let dir = args.runtime.model_dir();
    let pkg = ModelPackage::load(&dir)?;
    let m = &pkg.manifest;
    let mut req = GenerateRequest::defaults_for(&pkg, args.prompt.clone());
    let fps = args.fps.unwrap_or(m.video.fps);
    if !(fps.is_finite() && fps > 0.0 && fps <= 240.0) {
        bail!("--fps {fps}: use a frame rate between 0 and 240");
    }
    if let Some(s) = args.seconds {
        if !(s.is_finite() && s > 0.0) {
            bail!("--seconds {s}: use a positive length");
        }
        req.frames = m.latent.nearest_valid_frames(s * fps);
    }
    if let Some(f) = args.frames {
        req.frames = f;
    }
    if let Some(size) = &args.size {
        (req.width, req.height) = parse_size(size)?;
    }
    if let Some(s) = args.steps {
        req.steps = s;
    }
    if let Some(g) = args.guidance {
        req.guidance = g;
    }
    req.negative_prompt = args.negative_prompt.clone();
    req.seed = args.seed.unwrap_or_else(random_seed);
    if args.prompt.trim().is_empty() {
        eprintln!("kino: warning: empty prompt; the model will draw whatever it likes");
    }
    req.validate(&pkg)?;

    let t0 = Instant::now();
    let pipeline = Pipeline::load(&dir, &opts)?;
    let load_s = t0.elapsed().as_secs_f64();
    if !args.quiet {
        eprintln!(
            "kino: {} ({}x{}, {} frames at {fps} fps, {} steps, guidance {}, seed {}) on {}",
            m.name, req.width, req.height, req.frames, req.steps, req.guidance, req.seed, pipeline.device
        );
    }

    let mut encoder = VideoEncoder::create(&args.output, req.width, req.height, fps)?;
    let mut preview: Vec<RgbFrame> = Vec::new();
    let bars = Bars::new(args.quiet);
    let t1 = Instant::now();
    pipeline.generate(
        &req,
        &mut |p: Progress| {
            bars.update(p);
            true
        },
        &mut |frame: RgbFrame| {
            encoder.push(&frame)?;
            if args.preview.is_some() {
                preview.push(frame);
            }
            Ok(())
        },
    )?;
    bars.finish();
    let n = encoder.finish()?;
    if let Some(p) = &args.preview {
        let sheet = video::contact_sheet(&preview, 8).context("no frames for the preview")?;
        video::save_png(&sheet, p)?;
    }
    if !args.quiet {
        eprintln!("kino: wrote {} ({n} frames) in {:.1}s (model load {load_s:.1}s)", args.output.display(), t1.elapsed().as_secs_f64());
    }
    Ok(())
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

    fn update(&self, p: Progress) {
        let bar = match p.stage {
            Stage::Denoise => &self.denoise,
            Stage::Decode => &self.decode,
        };
        if let Some(b) = bar {
            b.set_length(p.total as u64);
            b.set_position(p.done as u64);
        }
    }

    fn finish(&self) {
        for b in [&self.denoise, &self.decode].into_iter().flatten() {
            b.finish();
        }
    }
}

fn list_models(paths: Vec<PathBuf>) -> Result<()> {
    let mut dirs = paths;
    dirs.extend(model::search_dirs());
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
