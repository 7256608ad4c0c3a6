//! `kino generate`, `kino animate`, `kino bench` and `kino models`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use kino::model;
use kino::video;
use kino::{GenerateRequest, Pipeline};

use super::args::*;
use super::job::*;
use super::progress::*;

pub(crate) fn generate(args: GenerateArgs) -> Result<()> {
    // Inputs the output must not replace: keyframe images and the storyboard file.
    let mut inputs = keyframe_images(&args.keyframes);
    inputs.extend(args.storyboard.as_deref());
    check_outputs(&args.output, &args.sampling.preview, &inputs)?;
    let (pkg, mut opts) = load(&args.runtime)?;
    let fps = output_fps(args.fps, &pkg)?;
    let timing = OutputTiming::new(&pkg, fps);
    // Times are typed in the output's seconds or frames; the model counts its own frames.
    let mut board = storyboard(&args, fps)?;
    for p in &mut board {
        p.frame = timing.model_frame(p.frame);
    }
    let mut req = args.sampling.request(&pkg, &board[0].prompt, &args.size)?;
    req.storyboard = board[1..].to_vec();
    let out_frames = if timing.retimed() {
        args.length.new_frames(&pkg, fps)?
    } else {
        args.length.frames(&pkg, fps, pkg.manifest.video.default_frames)? as usize
    };
    req.frames = timing.model_frames(&pkg, out_frames);
    let mut keys = keyframes(&args.keyframes, args.fit.fit()?, fps, &req)?;
    retime_keyframes(&timing, &args.keyframes, &mut keys, out_frames, fps)?;
    if keys.is_empty() {
        req.validate(&pkg)?;
    } else if args.looped {
        bail!("--keyframe and --loop do not combine: give one or the other");
    }
    args.memory.plan(&mut opts, &req, &pkg, 0, !keys.is_empty())?;

    let pipeline = Pipeline::from_package(pkg, &opts)?;
    announce(args.sampling.quiet, "generating", &pipeline, &req, out_frames as u32, fps, &opts);
    // Keyframes are the user's images, as given: kept near-losslessly in H.264.
    let kept = keys.iter().map(|k| timing.output_range(k.frame, out_frames)).collect();
    let mut sink = Sink::create(&args.output, req.width, req.height, fps, &args.sampling, kept)?;
    let bars = Bars::new(args.sampling.quiet);
    let mut push = timing.emitter(out_frames, |f| sink.push(f));
    if !keys.is_empty() {
        pipeline.generate_keyframes(&req, &keys, &mut |p| bars.update(p), &mut push)?;
    } else if args.looped {
        pipeline.generate_loop(&req, &mut |p| bars.update(p), &mut push)?;
    } else {
        pipeline.generate(&req, &mut |p| bars.update(p), &mut push)?;
    }
    drop(push);
    sink.finish(&args.output, &args.sampling, bars)
}

/// Keyframes placed at the model frames their output frames show (an output rate other than
/// the model's); two that land on one model frame are refused as two at one time.
fn retime_keyframes(timing: &OutputTiming, items: &[String], keys: &mut [kino::Keyframe], out_frames: usize, fps: f64) -> Result<()> {
    for (k, item) in keys.iter_mut().zip(items) {
        if k.frame as usize >= out_frames {
            bail!(
                "--keyframe {item:?} is at frame {}, past the clip's end: it has {out_frames} frames ({:.2} s at {fps} fps)",
                k.frame,
                out_frames as f64 / fps
            );
        }
        k.frame = timing.model_frame(k.frame);
    }
    check_keyframe_order(items.iter().map(String::as_str).zip(keys.iter().map(|k| k.frame as usize)))
}

/// The image files --keyframe entries name (inputs the output must not overwrite).
pub(crate) fn keyframe_images(items: &[String]) -> Vec<&Path> {
    items.iter().filter_map(|k| k.split_once('=')).map(|(_, p)| Path::new(p.trim())).collect()
}

/// Each --keyframe TIME=IMAGE: the frame at TIME and the image fitted to the model's size.
fn keyframes(items: &[String], fit: kino::Fit, fps: f64, req: &GenerateRequest) -> Result<Vec<kino::Keyframe>> {
    let mut keys = Vec::new();
    for item in items {
        let (frame, path) = kino::pipeline::parse_keyframe(item, fps, "--keyframe")?;
        let image = keyframe_image(item, &path)?;
        keys.push(kino::Keyframe { frame, image: image.fitted(req.width, req.height, fit) });
    }
    check_keyframe_order(items.iter().map(String::as_str).zip(keys.iter().map(|k| k.frame as usize)))?;
    Ok(keys)
}

/// A --keyframe's image: one picture. A video is refused rather than cut to its first frame
/// without a word.
pub(crate) fn keyframe_image(item: &str, path: &Path) -> Result<kino::RgbFrame> {
    let mut reader = video::VideoReader::open(path).with_context(|| format!("--keyframe {item:?}"))?;
    let image = reader
        .next_frame()
        .with_context(|| format!("--keyframe {item:?}"))?
        .with_context(|| format!("--keyframe {item:?}: {} contains no decodable picture", path.display()))?;
    if !reader.is_still && matches!(reader.next_frame(), Ok(Some(_))) {
        bail!(
            "--keyframe {item:?}: {} is a video; a keyframe is one image (save the frame you want, e.g. ffmpeg -ss 2 -i {} -frames:v 1 key.png)",
            path.display(),
            path.display()
        );
    }
    Ok(image)
}

/// Keyframes in the order typed, each at a later output frame than the one before (messages
/// name the entries as typed, in the output's frames).
pub(crate) fn check_keyframe_order<'a>(keys: impl IntoIterator<Item = (&'a str, usize)>) -> Result<()> {
    let mut before: Option<(&str, usize)> = None;
    for (item, frame) in keys {
        if let Some((prev, at)) = before.filter(|&(_, at)| frame <= at) {
            if frame == at {
                bail!("--keyframe {item:?} and --keyframe {prev:?} are both at frame {frame}: give each keyframe its own time");
            }
            bail!("--keyframe {item:?} (frame {frame}) comes before --keyframe {prev:?} (frame {at}): list keyframes in time order");
        }
        before = Some((item, frame));
    }
    Ok(())
}

/// The largest storyboard file read: far more than any timeline of prompts needs.
const MAX_STORYBOARD_BYTES: u64 = 1 << 20;

/// A storyboard file's text, UTF-8, read up to [`MAX_STORYBOARD_BYTES`] (a pipe such as
/// `<(...)` or /dev/stdin is fine; a device that never ends is refused at the cap).
fn read_storyboard(path: &std::path::Path) -> Result<String> {
    use std::io::Read;
    use std::os::unix::fs::FileTypeExt;
    // Opening a named pipe waits for a writer, as `cat` does: say so rather than seem to hang
    // (a shell's `<(...)` comes as /dev/fd/N, its writer already there).
    let named_pipe =
        std::fs::metadata(path).is_ok_and(|m| m.file_type().is_fifo()) && !path.starts_with("/dev") && !path.starts_with("/proc");
    if named_pipe {
        eprintln!("kino: --storyboard {} is a named pipe: waiting for something to write to it (Ctrl-C stops)", path.display());
    }
    let file = std::fs::File::open(path).context("cannot be opened")?;
    let mut bytes = Vec::new();
    file.take(MAX_STORYBOARD_BYTES + 1).read_to_end(&mut bytes).context("cannot be read")?;
    if bytes.len() as u64 > MAX_STORYBOARD_BYTES {
        bail!("is larger than {} KiB; a storyboard is a short text file, one TIME PROMPT per line", MAX_STORYBOARD_BYTES >> 10);
    }
    String::from_utf8(bytes).map_err(|e| anyhow::anyhow!("is not UTF-8 text (byte {})", e.utf8_error().valid_up_to()))
}

/// The clip's prompts in time order: the prompt and each --prompt-at, or the storyboard file's lines.
fn storyboard(args: &GenerateArgs, fps: f64) -> Result<Vec<kino::PromptAt>> {
    if let Some(path) = &args.storyboard {
        let text = read_storyboard(path).with_context(|| format!("--storyboard {}", path.display()))?;
        return Ok(kino::pipeline::parse_storyboard(&text, fps)?);
    }
    let prompt = args.prompt.as_deref().or(args.prompt_flag.as_deref()).unwrap_or_default();
    let mut board = vec![kino::PromptAt::typed(0, prompt, "the prompt")];
    for (i, item) in args.prompt_at.iter().enumerate() {
        let (time, text) =
            item.split_once('=').with_context(|| format!("--prompt-at {item:?}: write TIME=TEXT, e.g. 4s=a red circle moving up"))?;
        let frame = kino::pipeline::parse_time(time, fps, "--prompt-at")?;
        if frame <= board[board.len() - 1].frame {
            bail!("--prompt-at {item:?} (number {}): times must rise, each after the one before it (and after 0)", i + 1);
        }
        board.push(kino::PromptAt::typed(frame, text, format!("--prompt-at {item:?}")));
    }
    Ok(board)
}

pub(crate) fn bench(args: BenchArgs) -> Result<()> {
    if args.runs == 0 || args.runs > 1000 {
        bail!("--runs must be between 1 and 1000");
    }
    let (pkg, mut opts) = load(&args.runtime)?;
    if args.low_memory {
        opts.residency = kino::Residency::LowMemory;
    }
    let mut req = GenerateRequest::defaults_for(&pkg, args.prompt.clone());
    if let Some(size) = &args.size {
        (req.width, req.height) = parse_size(size)?;
    }
    req.frames = args.frames.unwrap_or(req.frames);
    if let Some(s) = args.steps {
        req.steps = checked_steps(s)?;
    }
    if let Some(g) = args.guidance {
        req.set_guidance(checked_guidance(g)?);
    }
    if let Some(g) = &args.guidance_interval {
        req.guidance_interval = Some(kino::pipeline::GuidanceInterval::parse(g, "--guidance-interval")?);
    }
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

pub(crate) fn animate(args: AnimateArgs) -> Result<()> {
    let mut inputs = keyframe_images(&args.keyframes);
    inputs.push(&args.image);
    check_outputs(&args.output, &args.sampling.preview, &inputs)?;
    let mut reader = open_footage(&args.image)?;
    // An anamorphic image keeps its pixel shape; its frames are made anew, in BT.709.
    let shown = video::Presentation { pixel_aspect: reader.pixel_aspect, ..Default::default() };
    let par = shown.pixel_aspect;
    let still = reader.next_frame()?.with_context(|| format!("{} contains no decodable video frames", args.image.display()))?;
    if !args.sampling.quiet && !reader.is_still && matches!(reader.next_frame(), Ok(Some(_))) {
        eprintln!(
            "kino: {} is a clip of several frames: animate starts from its first (kino extend continues the whole clip)",
            args.image.display()
        );
    }
    drop(reader);
    let (pkg, mut opts) = load(&args.runtime)?;
    let fps = output_fps(args.fps, &pkg)?;
    let timing = OutputTiming::new(&pkg, fps);
    let mut req = args.sampling.request(&pkg, &args.prompt, &args.size)?;
    let out_frames = if timing.retimed() {
        args.length.new_frames(&pkg, fps)?
    } else {
        args.length.frames(&pkg, fps, pkg.manifest.video.default_frames)? as usize
    };
    req.frames = timing.model_frames(&pkg, out_frames);
    let mut keys = keyframes(&args.keyframes, args.fit.fit()?.inverse(), fps, &req)?;
    retime_keyframes(&timing, &args.keyframes, &mut keys, out_frames, fps)?;
    if let Some(i) = keys.iter().position(|k| k.frame == 0) {
        bail!("--keyframe {:?}: frame 0 of an animation is the image itself; give keyframes after it", args.keyframes[i]);
    }
    if keys.is_empty() {
        req.validate(&pkg)?;
    }
    // The still and each output frame at the image's size.
    args.memory.plan(&mut opts, &req, &pkg, 4 * still.data.len() as u64, true)?;

    let pipeline = Pipeline::from_package(pkg, &opts)?;
    announce(args.sampling.quiet, "animating", &pipeline, &req, out_frames as u32, fps, &opts);
    // The model works at its size; the clip comes back at the image's, placed without
    // distortion, and the still (and any keyframe) goes in through the same window.
    let fit = args.fit.fit()?;
    let (w, h) = (still.width, still.height);
    // The still (frame 0) and any keyframe are the user's images.
    let kept = std::iter::once(0).chain(keys.iter().map(|k| k.frame)).map(|j| timing.output_range(j, out_frames)).collect();
    let mut sink = Sink::create_with_audio(&args.output, w, h, fps, &args.sampling, Vec::new(), kept, shown)?;
    let bars = Bars::new(args.sampling.quiet);
    let first = still.fitted_pixels(req.width, req.height, fit.inverse(), par, kino::PixelAspect::SQUARE);
    let mut emit = timing.emitter(out_frames, |f| sink.push(f));
    let mut push = |f: kino::RgbFrame| emit(f.fitted_pixels(w, h, fit, kino::PixelAspect::SQUARE, par));
    if keys.is_empty() {
        pipeline.animate(&req, &first, &mut |p| bars.update(p), &mut push)?;
    } else {
        // The still is the keyframe at 0.
        let all: Vec<kino::Keyframe> = std::iter::once(kino::Keyframe { frame: 0, image: first }).chain(keys).collect();
        pipeline.generate_keyframes(&req, &all, &mut |p| bars.update(p), &mut push)?;
    }
    drop(emit);
    sink.finish(&args.output, &args.sampling, bars)
}

/// Why `p` is not a folder to look in: `None` when it is one.
fn not_a_folder(p: &Path) -> Option<&'static str> {
    if p.is_dir() {
        None
    } else if p.exists() {
        Some("not a folder")
    } else {
        Some("no such folder")
    }
}

pub(crate) fn list_models(paths: Vec<PathBuf>) -> Result<()> {
    for (p, what) in paths.iter().filter_map(|p| not_a_folder(p).map(|w| (p, w))) {
        eprintln!("kino: warning: --path {}: {what}", p.display());
    }
    let search = model::ModelSearch::from_env();
    let mut dirs = paths.clone();
    dirs.extend(search.dirs());
    let found = model::find_packages(&dirs);
    if found.is_empty() {
        // Every folder looked in, those that do not exist too: where to put a package.
        let mut tried = paths;
        tried.extend(search.candidates());
        let shown: Vec<String> = tried
            .iter()
            .map(|d| match not_a_folder(d) {
                None => d.display().to_string(),
                Some(what) => format!("{} ({what})", d.display()),
            })
            .collect();
        println!("no model packages found; searched, in order (KINO_MODELS_PATH first): {}", shown.join(", "));
        return Ok(());
    }
    let mut names = std::collections::HashSet::new();
    for p in found {
        match p {
            Ok(p) => {
                // `--model NAME` takes the first package of a name, as a shell takes the first
                // command on PATH: say which ones it does not reach.
                let shadowed = if names.insert(p.manifest.name.clone()) {
                    ""
                } else {
                    "  (a package above has this name: pass this folder to use it)"
                };
                let v = &p.manifest.video;
                // A model that makes video only from given frames says so: text alone is refused.
                let c = &p.manifest.conditioning;
                let from = match (c.context_channels, c.image_frames.len()) {
                    (false, _) => "",
                    (true, 2) => ", from a first and a last frame",
                    (true, _) => ", from a first frame",
                };
                println!(
                    "{:<16} {:<10} {}x{}, {} frames @ {} fps{from}  {}{shadowed}",
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

pub(crate) fn display(p: &Path) -> String {
    p.canonicalize().unwrap_or_else(|_| p.to_path_buf()).display().to_string()
}
