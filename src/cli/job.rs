//! What every job does around the engine: checks before the slow part (outputs, memory, frame
//! rate), loading the model, the one-line announcement, and the sink the frames go to.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};

use kino::model::ModelPackage;
use kino::video;
use kino::{GenerateRequest, Pipeline, RgbFrame, RuntimeOptions};

use super::args::*;
use super::progress::*;
use crate::signals;

/// MemAvailable from /proc/meminfo (None where there is no such file).
pub(crate) fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Checks the outputs before the (slow) model load and generation: nothing but an earlier output
/// is replaced, no input is overwritten, and the preview is neither the output nor an input.
pub(crate) fn check_outputs(output: &Path, preview: &Option<PathBuf>, inputs: &[&Path]) -> Result<()> {
    video::check_output(output, inputs).context("-o")?;
    if let Some(p) = preview {
        let mut taken = inputs.to_vec();
        taken.push(output);
        video::check_png_output(p, &taken).context("--preview (a .png contact sheet)")?;
        video::check_apart_from_output(p, output).context("--preview (a .png contact sheet)")?;
    }
    Ok(())
}

/// An output frame rate: `flag` names where it came from (a flag, or the model's manifest).
pub(crate) fn check_fps(fps: f64, from: &str) -> Result<()> {
    if !(fps.is_finite() && (1.0..=240.0).contains(&fps)) {
        let shown = if fps.abs() >= 1e6 || !fps.is_finite() { format!("{fps:.3e}") } else { fps.to_string() };
        bail!("{from} {shown}: use a frame rate from 1 to 240");
    }
    Ok(())
}

/// The output rate: `--fps` if given, else the model's.
pub(crate) fn output_fps(flag: Option<f64>, pkg: &ModelPackage) -> Result<f64> {
    match flag {
        Some(f) => check_fps(f, "--fps").map(|()| f),
        None => check_fps(pkg.manifest.video.fps, "the model's video.fps").map(|()| pkg.manifest.video.fps),
    }
}

/// Where a job's frames go: the encoder, and the frames kept for --preview.
pub(crate) struct Sink {
    pub(crate) encoder: video::EncoderThread,
    preview: Option<PreviewFrames>,
    t0: Instant,
}

/// The frames a contact sheet shows, in memory that does not grow with the clip: every frame
/// up to [`PreviewFrames::MOST`], then every second, fourth, ... frame (evenly over the clip so
/// far), each scaled to fit [`PreviewFrames::SIDE`] pixels.
struct PreviewFrames {
    frames: Vec<RgbFrame>,
    /// Every `stride`-th frame is kept.
    stride: usize,
    seen: usize,
}

impl PreviewFrames {
    const MOST: usize = 64;
    const SIDE: u32 = 256;

    fn new() -> Self {
        PreviewFrames { frames: Vec::new(), stride: 1, seen: 0 }
    }

    fn push(&mut self, frame: &RgbFrame) {
        if self.seen % self.stride == 0 {
            self.frames.push(thumbnail(frame, Self::SIDE));
            if self.frames.len() > Self::MOST {
                // Keep frames 0, 2s, 4s, ...: then every 2s-th frame from here on.
                self.frames = std::mem::take(&mut self.frames).into_iter().step_by(2).collect();
                self.stride *= 2;
            }
        }
        self.seen += 1;
    }
}

/// `frame` scaled down to fit `side` x `side` pixels (as it is when it fits).
fn thumbnail(frame: &RgbFrame, side: u32) -> RgbFrame {
    let (w, h) = (frame.width, frame.height);
    if w <= side && h <= side {
        return frame.clone();
    }
    let scale = f64::from(side) / f64::from(w.max(h));
    let (tw, th) = (((f64::from(w) * scale).round() as u32).max(1), ((f64::from(h) * scale).round() as u32).max(1));
    match image::RgbImage::from_raw(w, h, frame.data.clone()) {
        Some(img) => {
            let small = image::imageops::resize(&img, tw, th, image::imageops::FilterType::Triangle);
            RgbFrame { width: tw, height: th, data: small.into_raw() }
        }
        None => frame.clone(),
    }
}

impl Sink {
    /// A sink whose output frames `kept` are given footage (encoded near-losslessly in H.264).
    pub(crate) fn create(output: &Path, width: u32, height: u32, fps: f64, sampling: &SamplingArgs, kept: Vec<Range<u64>>) -> Result<Self> {
        Self::create_with_audio(output, width, height, fps, sampling, Vec::new(), kept, video::Presentation::default())
    }

    /// A sink that also copies `audio`, for frames shown as `presentation` says (a clip's).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn create_with_audio(
        output: &Path,
        width: u32,
        height: u32,
        fps: f64,
        sampling: &SamplingArgs,
        audio: Vec<video::OwnedAudioSource>,
        kept: Vec<Range<u64>>,
        presentation: video::Presentation,
    ) -> Result<Self> {
        // Encoding runs on its own thread, overlapping the next window's denoising; the queue
        // holds up to 64 frames or about 96 MB, whichever is fewer.
        let queue = (96 << 20) / (width as usize * height as usize * 3).max(1);
        let encoder = video::EncoderThread::spawn_keeping(output, width, height, fps, audio, queue.clamp(2, 64), kept, presentation)?;
        Ok(Sink { encoder, preview: sampling.preview.as_ref().map(|_| PreviewFrames::new()), t0: Instant::now() })
    }

    pub(crate) fn push(&mut self, frame: RgbFrame) -> kino::Result<()> {
        if signals::stopping() {
            return Err(kino::Error::Cancelled);
        }
        if let Some(p) = &mut self.preview {
            p.push(&frame);
        }
        self.encoder.push(frame)
    }

    pub(crate) fn finish(self, output: &Path, sampling: &SamplingArgs, bars: Bars) -> Result<()> {
        bars.finish();
        // The video stays under its temporary name until the preview is written: a failed
        // preview leaves neither behind.
        let done = self.encoder.finish_pending()?;
        if let (Some(p), Some(frames)) = (&sampling.preview, &self.preview) {
            let sheet = video::contact_sheet(&frames.frames, 8).context("no frames for the preview")?;
            video::save_png(&sheet, p).context("--preview")?;
        }
        let n = done.commit()?;
        if !sampling.quiet {
            eprintln!("kino: wrote {} ({}) in {:.1}s", output.display(), count(n as u64, "frame"), self.t0.elapsed().as_secs_f64());
        }
        Ok(())
    }
}

pub(crate) fn load(runtime: &RuntimeArgs) -> Result<(ModelPackage, RuntimeOptions)> {
    let opts = runtime.options()?;
    let pkg = ModelPackage::load(runtime.model_dir())?;
    Ok((pkg, opts))
}

/// Warns (on stderr, as for an empty prompt) where the model's vocabulary lacks words of
/// `prompt`: the demo model reads only its world's words, and draws whatever it likes when it
/// knows none of them.
fn warn_unknown_words(pipeline: &Pipeline, prompt: &str) {
    if let Some(warning) = pipeline.unknown_words_warning(prompt) {
        eprintln!("kino: warning: {warning}");
    }
}

/// Opens a clip or still the job reads footage from, warning (on stderr) about what of its
/// frames the output does not keep: samples deeper than the 8 bits kino writes, interlacing
/// (fields are read woven, as progressive frames), transparency (laid over black).
pub(crate) fn open_footage(path: &Path) -> Result<video::VideoReader> {
    let reader = video::VideoReader::open(path)?;
    if reader.bits > 8 {
        eprintln!(
            "kino: warning: {} has {}-bit samples; kino reads and writes 8-bit video, so its frames in the output have 8 bits per sample",
            path.display(),
            reader.bits
        );
    }
    if reader.interlaced && !reader.is_still {
        eprintln!(
            "kino: warning: {} is interlaced; kino reads its fields woven into progressive frames (combing where things move) and writes progressive video: deinterlace it first for clean frames, e.g. ffmpeg -i IN -vf bwdif=mode=send_frame OUT",
            path.display()
        );
    }
    if reader.transparent {
        let what = if reader.is_still { "it" } else { "its frames" };
        eprintln!("kino: warning: {} has transparency; kino lays {what} over black and writes opaque video", path.display());
    }
    Ok(reader)
}

/// Warns (on stderr) that the tracks of `path` kino does not carry (subtitles, timecode, other
/// data) are not in the output, which keeps the clip's video and audio.
pub(crate) fn warn_tracks_left_behind(path: &Path) {
    let left = video::tracks_left_behind(path);
    if !left.is_empty() {
        eprintln!(
            "kino: warning: {} has {}; kino keeps a clip's video and audio only, so the output has none of them",
            path.display(),
            left.join(" and ")
        );
    }
}

/// `n` things for people: `1 frame`, `17 frames`.
pub(crate) fn count(n: u64, thing: &str) -> String {
    if n == 1 {
        format!("1 {thing}")
    } else {
        format!("{n} {thing}s")
    }
}

/// A frame rate for people: `24`, `23.976`, `29.97`.
pub(crate) fn rate(fps: f64) -> String {
    let s = format!("{fps:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

pub(crate) fn announce(quiet: bool, what: &str, pipeline: &Pipeline, req: &GenerateRequest, frames: u32, fps: f64, opts: &RuntimeOptions) {
    for shot in req.storyboard.iter().filter(|p| p.prompt.trim().is_empty()) {
        let place = if shot.place.is_empty() { format!("from frame {}", shot.frame) } else { shot.place.clone() };
        eprintln!("kino: warning: the prompt of {place} is empty; the model will draw whatever it likes there");
    }
    let prompts = std::iter::once(&req.prompt).chain(req.storyboard.iter().map(|p| &p.prompt)).chain(&req.negative_prompt);
    for prompt in prompts {
        warn_unknown_words(pipeline, prompt);
        if let Some(reading) = pipeline.prompt_reading(prompt).filter(|_| !quiet) {
            eprintln!("kino: {reading}");
        }
    }
    if !quiet {
        eprintln!(
            "kino: {what} with {} ({}x{}, {} at {} fps, {}{}, guidance {}, seed {} with {}) on {}{}",
            pipeline.package.manifest.name,
            req.width,
            req.height,
            count(frames.into(), "frame"),
            rate(fps),
            count(req.steps as u64, "step"),
            kino::pipeline::Sampler::describe(req.sampler, &pipeline.package.manifest.scheduler),
            match req.guidance_given_frames {
                Some(g) if g != req.guidance => format!(
                    "{} ({g} between given frames)",
                    kino::pipeline::GuidanceInterval::describe(req.guidance, req.guidance_interval)
                ),
                _ => kino::pipeline::GuidanceInterval::describe(req.guidance, req.guidance_interval),
            },
            req.seed,
            count(opts.threads.unwrap_or(1) as u64, "thread"),
            pipeline.device,
            super::memory::residency_note(opts)
        );
    }
}

/// A clip made at the model's rate and written at another (`--fps`): each output frame shows
/// the model frame nearest in time ([`Retime`], as `extend` and the plugins do), so motion
/// keeps the model's pace at any output rate. At the model's own rate it changes nothing.
pub(crate) struct OutputTiming {
    retime: kino::footage::Retime,
}

impl OutputTiming {
    pub(crate) fn new(pkg: &ModelPackage, fps: f64) -> Self {
        OutputTiming { retime: kino::footage::Retime::new(fps, pkg.manifest.video.fps) }
    }

    pub(crate) fn retimed(&self) -> bool {
        (self.retime.clip_fps - self.retime.model_fps).abs() > 1e-9
    }

    /// The model frames that cover `out_frames` output frames: a count the model makes in one
    /// window where it fits one (the next valid count up), any count past that.
    pub(crate) fn model_frames(&self, pkg: &ModelPackage, out_frames: usize) -> u32 {
        if !self.retimed() {
            return out_frames as u32;
        }
        let need = self.retime.model_frames_for(out_frames) as u32;
        let v = &pkg.manifest.video;
        if need > v.max_frames {
            return need;
        }
        (need..=v.max_frames).find(|&n| v.frames_valid(&pkg.manifest.latent, n)).unwrap_or(need)
    }

    /// The model frame output frame `i` shows.
    pub(crate) fn model_frame(&self, i: u32) -> u32 {
        if !self.retimed() {
            return i;
        }
        self.retime.model_index(i as usize, usize::MAX) as u32
    }

    /// The output frames that show model frame `j`, of `out_frames`.
    pub(crate) fn output_range(&self, j: u32, out_frames: usize) -> Range<u64> {
        if !self.retimed() {
            return u64::from(j)..u64::from(j) + 1;
        }
        let shows = |i: usize| self.retime.model_index(i, usize::MAX) as u32;
        let start = (0..out_frames).find(|&i| shows(i) >= j).unwrap_or(out_frames);
        let end = (start..out_frames).find(|&i| shows(i) > j).unwrap_or(out_frames);
        start as u64..end as u64
    }

    /// Hands each model frame, as it comes, to `push` once per output frame that shows it.
    pub(crate) fn emitter<'a>(
        &'a self,
        out_frames: usize,
        mut push: impl FnMut(RgbFrame) -> kino::Result<()> + 'a,
    ) -> impl FnMut(RgbFrame) -> kino::Result<()> + 'a {
        let (mut out, mut model) = (0usize, 0usize);
        move |frame| {
            let shows = (out..out_frames).take_while(|&i| self.retime.model_index(i, usize::MAX) == model).count();
            for _ in 1..shows {
                push(frame.clone())?;
            }
            if shows > 0 {
                push(frame)?;
            }
            (out, model) = (out + shows, model + 1);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(i: usize, w: u32, h: u32) -> RgbFrame {
        RgbFrame { width: w, height: h, data: vec![(i % 256) as u8; (w * h * 3) as usize] }
    }

    #[test]
    fn the_preview_keeps_at_most_64_frames_evenly_and_small() {
        let mut p = PreviewFrames::new();
        for i in 0..17 {
            p.push(&frame(i, 64, 64));
        }
        assert_eq!(p.frames.len(), 17, "a short clip: every frame, as made");
        assert!(p.frames.iter().enumerate().all(|(i, f)| *f == frame(i, 64, 64)));
        let mut p = PreviewFrames::new();
        for i in 0..1000 {
            p.push(&frame(i, 1920, 1080));
        }
        // 1000 frames: every 16th (0, 16, ..., 992), 63 of them, 256x144 each.
        assert_eq!(p.frames.len(), 63);
        assert!(p.frames.iter().enumerate().all(|(k, f)| (f.width, f.height, f.data[0]) == (256, 144, ((16 * k) % 256) as u8)));
    }
}
