//! `kino remix IN`: the clip redone under a new prompt (SDEdit). The model reads the clip at its
//! own frame rate and size (fitted, never stretched); the result comes back at the clip's rate
//! and size, with the clip's audio.

use anyhow::{bail, Result};

use kino::footage::Retime;
use kino::video;
use kino::{Pipeline, PixelAspect, RgbFrame};

use super::args::*;
use super::job::*;
use super::progress::*;

pub(crate) fn remix(args: RemixArgs) -> Result<()> {
    check_outputs(&args.output, &args.sampling.preview, &[&args.input])?;
    if !(0.0..=1.0).contains(&args.strength) {
        bail!("--strength {}: use 0 (keep the clip) to 1 (redraw it from noise)", args.strength);
    }
    let mut reader = open_footage(&args.input)?;
    super::job::warn_tracks_left_behind(&args.input);
    let fps = reader.fps;
    if !(fps.is_finite() && (1.0..=240.0).contains(&fps)) {
        bail!("{}: frame rate {} is not usable (kino remixes clips of 1 to 240 fps)", args.input.display(), rate(fps));
    }
    let (pkg, mut opts) = load(&args.runtime)?;
    let req = args.sampling.request(&pkg, &args.prompt, &args.size)?;
    // A still is one frame at the model's rate (an image has none of its own).
    let fps = if reader.is_still { pkg.manifest.video.fps } else { fps };
    let retime = Retime { clip_fps: fps, model_fps: pkg.manifest.video.fps };
    let fit = args.fit.fit()?;
    let audio = video::OwnedAudioSource::new(args.input.clone(), 0.0);
    if (req.steps as f32 * args.strength).round() == 0.0 {
        // A strength that runs no step gives the clip back as it is, at its own rate and size
        // (not the model's view of it): its frames are given footage, kept near-losslessly in
        // H.264.
        let (w, h, shown) = (reader.width, reader.height, reader.presentation());
        let kept = if video::OutputFormat::from_path(&args.output)?.is_lossy() {
            std::iter::once(0..video::count_video_frames(&args.input)?).collect()
        } else {
            Vec::new()
        };
        // Its sound ends with its last picture.
        let until_seconds = video::count_video_frames(&args.input).ok().map(|n| n as f64 / fps);
        let audio = video::OwnedAudioSource { until_seconds, ..audio };
        let mut sink = Sink::create_with_audio(&args.output, w, h, fps, &args.sampling, vec![audio], kept, shown)?;
        let bars = Bars::new(args.sampling.quiet);
        let mut total = 0usize;
        while let Some(f) = reader.next_frame()? {
            sink.push(f)?;
            total += 1;
        }
        if total == 0 {
            bail!("{} has no frames to remix", args.input.display());
        }
        return sink.finish(&args.output, &args.sampling, bars);
    }
    // The clip at the model's rate and size: model frame j is the clip frame nearest its time.
    let mut frames: Vec<RgbFrame> = Vec::new();
    let mut total = 0usize;
    let shown = reader.presentation();
    let par = shown.pixel_aspect;
    while let Some(f) = reader.next_frame()? {
        let small = f.fitted_pixels(req.width, req.height, fit.inverse(), par, PixelAspect::SQUARE);
        while retime.clip_index(frames.len()) == total {
            frames.push(small.clone());
        }
        total += 1;
        if total > kino::pipeline::MAX_LONG_FRAMES as usize {
            bail!("{}: kino remixes at most {} frames", args.input.display(), kino::pipeline::MAX_LONG_FRAMES);
        }
    }
    if total == 0 {
        bail!("{} has no frames to remix", args.input.display());
    }
    let model_frames = retime.model_frames_for(total);
    while frames.len() < model_frames {
        frames.push(frames[frames.len() - 1].clone());
    }
    frames.truncate(model_frames);
    args.memory.plan(&mut opts, &req, &pkg, 2 * frames.iter().map(|f| f.data.len() as u64).sum::<u64>(), true)?;

    let pipeline = Pipeline::from_package(pkg, &opts)?;
    let (w, h) = (reader.width, reader.height);
    // Its sound ends with its last picture.
    let audio = video::OwnedAudioSource { until_seconds: Some(total as f64 / fps), ..audio };
    let mut sink = Sink::create_with_audio(&args.output, w, h, fps, &args.sampling, vec![audio], Vec::new(), shown)?;
    // At low strength every window keeps the clip's layout and runs as footage into given
    // frames does: say the guidance and sampler it runs with.
    let run = if req.keeps_layout(req.remix_first_step(args.strength)) {
        req.as_run_into_given(&pipeline.package.manifest.scheduler)
    } else {
        req.clone()
    };
    announce(
        args.sampling.quiet,
        &format!("remixing (strength {})", args.strength),
        &pipeline,
        &run,
        model_frames as u32,
        retime.model_fps,
        &opts,
    );
    let bars = Bars::new(args.sampling.quiet);
    let (mut out, mut model_index) = (0usize, 0usize);
    pipeline.remix(&req, &frames, args.strength, &mut |p| bars.update(p), &mut |f| {
        let frame = f.fitted_pixels(w, h, fit, PixelAspect::SQUARE, par);
        while out < total && retime.model_index(out, model_frames) == model_index {
            sink.push(frame.clone())?;
            out += 1;
        }
        model_index += 1;
        Ok(())
    })?;
    if out != total {
        bail!("internal: {out} of {total} remixed frames were written");
    }
    sink.finish(&args.output, &args.sampling, bars)
}
