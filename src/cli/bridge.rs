//! `kino bridge A B`: new footage that continues clip A's end and arrives at clip B's start. Both
//! clips stream through untouched (or only the bridge is written, `--only`); the frames the model
//! reads are taken at its frame rate and fitted to its size as `kino extend` does.

use std::collections::VecDeque;

use anyhow::{bail, Result};

use kino::footage::Retime;
use kino::video;
use kino::{Pipeline, PixelAspect, Placement, RgbFrame};

use super::args::*;
use super::job::*;
use super::progress::*;

pub(crate) fn bridge(args: BridgeArgs) -> Result<()> {
    check_outputs(&args.output, &args.sampling.preview, &[&args.first, &args.second])?;
    let mut a = open_footage(&args.first)?;
    let mut b = open_footage(&args.second)?;
    for clip in [&args.first, &args.second] {
        super::job::warn_tracks_left_behind(clip);
    }
    // A still (an image has no rate of its own) takes the other clip's rate (both stills: the
    // model's, below).
    let clip_fps = match (a.is_still, b.is_still) {
        (false, _) => Some(a.fps),
        (true, false) => Some(b.fps),
        (true, true) => None,
    };
    let timed = if a.is_still { &args.second } else { &args.first };
    if let Some(fps) = clip_fps.filter(|f| !(f.is_finite() && (1.0..=240.0).contains(f))) {
        bail!("{}: frame rate {} is not usable (kino bridges clips of 1 to 240 fps)", timed.display(), rate(fps));
    }
    let fps = clip_fps.unwrap_or(0.0);
    if !a.is_still && !b.is_still && (b.fps - fps).abs() > 1e-3 * fps {
        bail!(
            "{} is at {} fps and {} at {} fps: bridge clips of one frame rate (convert one first, e.g. ffmpeg -i B -r {} B2.mp4)",
            args.second.display(),
            rate(b.fps),
            args.first.display(),
            rate(fps),
            rate(fps)
        );
    }
    if (b.width, b.height) != (a.width, a.height) {
        bail!(
            "{} is {}x{} and {} is {}x{}: bridge clips of one size",
            args.second.display(),
            b.width,
            b.height,
            args.first.display(),
            a.width,
            a.height
        );
    }
    if b.pixel_aspect != a.pixel_aspect {
        let shape = |r: &video::VideoReader| format!("{}:{}", r.pixel_aspect.num, r.pixel_aspect.den);
        bail!(
            "{} has {} pixels and {} {}: bridge clips of one pixel shape (convert one to the other's size and pixel shape first)",
            args.second.display(),
            shape(&b),
            args.first.display(),
            shape(&a)
        );
    }
    let (pkg, mut opts) = load(&args.runtime)?;
    let model_fps = pkg.manifest.video.fps;
    let fps = clip_fps.unwrap_or(model_fps);
    let mut req = args.sampling.request(&pkg, &args.prompt, &args.size)?;
    let mut new_frames = args.length.new_frames(&pkg, fps)?;
    if new_frames == 0 {
        bail!("--frames 0: a bridge has at least one frame");
    }
    let fit = args.fit.fit()?;
    let retime = Retime { clip_fps: fps, model_fps };
    let mut model_new = retime.model_frames_for(new_frames);
    req.frames = model_new as u32;
    let (w, h, shown) = (a.width, a.height, a.presentation());
    let par = shown.pixel_aspect;
    args.memory.plan(&mut opts, &req, &pkg, 64 * 3 * u64::from(w) * u64::from(h), true)?;

    let pipeline = Pipeline::from_package(pkg, &opts)?;
    // A model that bridges in one window only: without a length given, the longest it makes
    // (the package's default length can be longer than a bridge of it can be).
    let defaulted = args.length.frames.is_none() && args.length.seconds.is_none();
    if let Some(longest) = pipeline.longest_bridge().filter(|&l| defaulted && l > 0 && model_new > l) {
        new_frames = ((longest as f64 * fps / model_fps).floor() as usize).max(1);
        model_new = retime.model_frames_for(new_frames).min(longest);
        req.frames = model_new as u32;
        if !args.sampling.quiet {
            eprintln!(
                "kino: model {} bridges at most {longest} of its frames; making {} (--frames or --seconds to choose)",
                pipeline.package.manifest.name,
                count(new_frames as u64, "frame")
            );
        }
    }
    let (want_a, want_b) = pipeline.bridge_context_wanted();
    let (span_a, span_b) = (retime.context_span(want_a), retime.context_span(want_b));
    // A's and B's frames are kept near-losslessly in H.264 output, and their audio and
    // metadata come along: A's up to the bridge, B's from where B starts; the bridge is silent.
    // `--only` writes the bridge alone: nothing kept and no counting, but A's metadata and audio
    // streams, silent over the bridge, so it sits on a timeline like the clips around it.
    let n_a = if args.only { None } else { Some(video::count_video_frames(&args.first)?) };
    let (kept_frames, audio) = match n_a {
        None => (
            Vec::new(),
            vec![video::OwnedAudioSource {
                until_seconds: Some(f64::NEG_INFINITY),
                ..video::OwnedAudioSource::new(args.first.clone(), 0.0)
            }],
        ),
        Some(n_a) => {
            let n_b = video::count_video_frames(&args.second)?;
            let b_at = n_a + new_frames as u64;
            let a_audio =
                video::OwnedAudioSource { until_seconds: Some(n_a as f64 / fps), ..video::OwnedAudioSource::new(args.first.clone(), 0.0) };
            let b_audio = video::OwnedAudioSource {
                until_seconds: Some((b_at + n_b) as f64 / fps),
                ..video::OwnedAudioSource::new(args.second.clone(), b_at as f64 / fps)
            };
            (vec![0..n_a, b_at..b_at + n_b], vec![a_audio, b_audio])
        }
    };
    let mut sink = Sink::create_with_audio(&args.output, w, h, fps, &args.sampling, audio, kept_frames, shown)?;
    // Clip A streams through; its last frames stay, at the model's size, for the context.
    let mut kept: VecDeque<RgbFrame> = VecDeque::with_capacity(span_a + 1);
    let mut total_a = 0usize;
    while let Some(f) = a.next_frame()? {
        kept.push_back(f.fitted_pixels(req.width, req.height, fit.inverse(), par, PixelAspect::SQUARE));
        if kept.len() > span_a {
            kept.pop_front();
        }
        if !args.only {
            sink.push(f)?;
        }
        total_a += 1;
    }
    // Clip B's first frames, kept whole until the bridge is written.
    let mut head: Vec<RgbFrame> = Vec::with_capacity(span_b);
    while head.len() < span_b {
        match b.next_frame()? {
            Some(f) => head.push(f),
            None => break,
        }
    }
    if total_a == 0 || head.is_empty() {
        bail!("{} has no frames to bridge", if total_a == 0 { args.first.display() } else { args.second.display() });
    }
    if let Some(n_a) = n_a.filter(|&n| n != total_a as u64) {
        log::warn!(
            "{}: {total_a} frames decoded, {n_a} counted: B's audio may be off by {} frame(s)",
            args.first.display(),
            total_a.abs_diff(n_a as usize)
        );
    }
    let first_kept = total_a - kept.len();
    let before: Vec<RgbFrame> =
        retime.context_indices(total_a, want_a, Placement::After).into_iter().map(|i| kept[i - first_kept].clone()).collect();
    let after: Vec<RgbFrame> = retime
        .context_indices(head.len(), want_b, Placement::Before)
        .into_iter()
        .map(|i| head[i].fitted_pixels(req.width, req.height, fit.inverse(), par, PixelAspect::SQUARE))
        .collect();

    announce(args.sampling.quiet, "bridging", &pipeline, &req, model_new as u32, model_fps, &opts);
    let bars = Bars::new(args.sampling.quiet);
    let (mut out, mut model_index) = (0usize, 0usize);
    pipeline.bridge(&req, &before, &after, model_new, &mut |p| bars.update(p), &mut |f| {
        let frame = f.fitted_pixels(w, h, fit, PixelAspect::SQUARE, par);
        while out < new_frames && retime.placed_model_index(out, new_frames, model_new, Placement::After) == model_index {
            sink.push(frame.clone())?;
            out += 1;
        }
        model_index += 1;
        Ok(())
    })?;
    if out != new_frames {
        bail!("internal: {out} of {new_frames} bridge frames were written");
    }
    if !args.only {
        for f in head {
            sink.push(f)?;
        }
        while let Some(f) = b.next_frame()? {
            sink.push(f)?;
        }
    }
    sink.finish(&args.output, &args.sampling, bars)
}
