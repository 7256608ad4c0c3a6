//! `kino extend`: the clip streams through; the new footage continues it after its end or
//! before its start, retimed and fitted to the clip.

use anyhow::{bail, Result};

use kino::footage::Retime;
use kino::video;
use kino::{Pipeline, PixelAspect, Placement, RgbFrame};

use super::args::*;
use super::job::*;
use super::progress::*;

pub(crate) fn extend(args: ExtendArgs) -> Result<()> {
    let mut inputs = super::commands::keyframe_images(&args.keyframes);
    inputs.push(&args.input);
    check_outputs(&args.output, &args.sampling.preview, &inputs)?;
    // The clip streams through: only the frames the model continues from are kept in memory.
    let mut reader = open_footage(&args.input)?;
    super::job::warn_tracks_left_behind(&args.input);
    let fps = reader.fps;
    if !(fps.is_finite() && (1.0..=240.0).contains(&fps)) {
        bail!("{}: frame rate {} is not usable (kino extends clips of 1 to 240 fps)", args.input.display(), rate(fps));
    }
    let (pkg, mut opts) = load(&args.runtime)?;
    let mut req = args.sampling.request(&pkg, &args.prompt, &args.size)?;
    let model_fps = pkg.manifest.video.fps;
    // A still extended is shown at the model's rate (an image has none of its own).
    let fps = if reader.is_still { model_fps } else { fps };
    // The new footage's length at the clip's rate.
    let new_frames = args.length.new_frames(&pkg, fps)?;
    if new_frames == 0 {
        bail!("--frames 0: extend by at least one frame");
    }
    let placement = if args.at == "start" { Placement::Before } else { Placement::After };
    // Keyframes, read now (an unreadable image fails before anything is written): output frame
    // at the clip's rate, and the image through the window the footage is shown in.
    let mut keyed = Vec::new();
    for item in &args.keyframes {
        let (frame, path) = kino::pipeline::parse_keyframe(item, fps, "--keyframe")?;
        let image = super::commands::keyframe_image(item, &path)?;
        keyed.push((item.as_str(), frame as usize, image.fitted(req.width, req.height, args.fit.fit()?.inverse())));
    }
    super::commands::check_keyframe_order(keyed.iter().map(|(item, frame, _)| (*item, *frame)))?;
    // New frames are placed in the clip without distortion; the context is read through the
    // window they are shown in, so the footage continues what is seen.
    let fit = args.fit.fit()?;
    let retime = Retime { clip_fps: fps, model_fps };
    let model_new = retime.model_frames_for(new_frames);
    req.frames = model_new as u32;
    // The clip's frames kept for the context, at its size (a generous bound on the span).
    args.memory.plan(&mut opts, &req, &pkg, 64 * 3 * u64::from(reader.width) * u64::from(reader.height), true)?;

    let pipeline = Pipeline::from_package(pkg, &opts)?;
    // Enough for either side: a backward context is whole latent frames.
    let want = kino::footage::context_wanted(&pipeline);
    // Clip frames the context can reach: `want` model frames back from the seam.
    let span = retime.context_span(want);
    let (w, h, shown) = (reader.width, reader.height, reader.presentation());
    let par = shown.pixel_aspect;
    // The clip's audio and metadata come along: in place after an append, shifted by the new
    // footage's length before a prepend; the new footage itself is silent.
    let offset_seconds = if placement == Placement::Before { new_frames as f64 / fps } else { 0.0 };
    // The clip's own frames (and keyframes) are kept near-losslessly in H.264 output (the other
    // outputs keep every frame exactly), and its sound ends with its last picture: counted.
    let counted = video::count_video_frames(&args.input);
    let audio = video::OwnedAudioSource {
        until_seconds: counted.as_ref().ok().map(|&n| offset_seconds + n as f64 / fps),
        ..video::OwnedAudioSource::new(args.input.clone(), offset_seconds)
    };
    let clip_frames = if video::OutputFormat::from_path(&args.output)?.is_lossy() { counted? } else { 0 };
    let clip = match placement {
        Placement::After => 0..clip_frames,
        Placement::Before => new_frames as u64..new_frames as u64 + clip_frames,
    };
    let kept = std::iter::once(clip).chain(keyed.iter().map(|(_, f, _)| *f as u64..*f as u64 + 1)).collect();
    let mut sink = Sink::create_with_audio(&args.output, w, h, fps, &args.sampling, vec![audio], kept, shown)?;
    if sink.encoder.audio_streams() > 0 && !args.sampling.quiet {
        eprintln!("kino: keeping {} audio stream(s) of {}", sink.encoder.audio_streams(), args.input.display());
    }
    // The clip's frames nearest the model's frame times, counted from the seam, at the model's size.
    let context_of = |kept: &std::collections::VecDeque<RgbFrame>, first_kept: usize, total: usize| -> Vec<RgbFrame> {
        retime
            .context_indices(total, want, placement)
            .into_iter()
            .map(|i| kept[i - first_kept].fitted_pixels(req.width, req.height, fit.inverse(), par, PixelAspect::SQUARE))
            .collect()
    };
    // The new footage, fitted to the clip, each model frame at every new frame it is shown at. Before
    // the clip the frames are made backwards from the seam, but the engine holds them until the
    // earliest is made, so on either side they arrive oldest first. Returns the frames written.
    let new_footage = |sink: &mut Sink, context: &[RgbFrame], keys: Option<&[kino::Keyframe]>| -> Result<(usize, Bars)> {
        announce(args.sampling.quiet, "extending", &pipeline, &req, model_new as u32, model_fps, &opts);
        let bars = Bars::new(args.sampling.quiet);
        let (mut out, mut model_index) = (0usize, 0usize);
        let mut write = |f: RgbFrame| {
            let frame = f.fitted_pixels(w, h, fit, PixelAspect::SQUARE, par);
            while out < new_frames && retime.placed_model_index(out, new_frames, model_new, placement) == model_index {
                sink.push(frame.clone())?;
                out += 1;
            }
            model_index += 1;
            Ok(())
        };
        match keys {
            Some(keys) => pipeline.extend_keyframes(&req, context, placement, keys, &mut |p| bars.update(p), &mut write)?,
            None => pipeline.extend(&req, context, placement, model_new, &mut |p| bars.update(p), &mut write)?,
        }
        Ok((out, bars))
    };
    match placement {
        Placement::After => {
            // The clip's own frames pass through untouched; the last `span` stay for the context.
            let mut kept = std::collections::VecDeque::with_capacity(span + 1);
            let mut total = 0usize;
            while let Some(f) = reader.next_frame()? {
                // Only the context is kept, at the model's size: a few frames of an 8K clip would
                // otherwise be hundreds of MB.
                let small = f.fitted_pixels(req.width, req.height, fit.inverse(), par, PixelAspect::SQUARE);
                sink.push(f)?;
                kept.push_back(small);
                if kept.len() > span {
                    kept.pop_front();
                }
                total += 1;
            }
            let context = context_of(&kept, total - kept.len(), total);
            // Each keyframe's model frame: the one its output frame shows.
            let mut keys = Vec::new();
            for (item, frame, image) in keyed {
                let Some(j) = frame.checked_sub(total) else {
                    bail!("--keyframe {item}: frame {frame} is inside the clip ({total} frames): a keyframe goes in the new footage, from {}s on", total as f64 / fps);
                };
                if j >= new_frames {
                    bail!("--keyframe {item}: frame {frame} is past the output's end ({} frames with the new footage)", total + new_frames);
                }
                keys.push((item, kino::Keyframe { frame: retime.placed_model_index(j, new_frames, model_new, placement) as u32, image }));
            }
            let keys = model_keyframes(keys, model_fps)?;
            let (_, bars) = new_footage(&mut sink, &context, keys.as_deref())?;
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
            // Extending backwards holds whole latent frames of context: `span` clip frames (the
            // engine's own message would count model frames, at the model's rate).
            if head.len() < span {
                bail!(
                    "the clip is too short to extend backwards: it has {} ({:.2}s at {} fps); kino needs at least {span} ({:.2}s)",
                    count(head.len() as u64, "frame"),
                    head.len() as f64 / fps,
                    super::job::rate(fps),
                    span as f64 / fps
                );
            }
            // Only the head's length matters for indices counted from the clip's start.
            let context = context_of(&head, 0, head.len());
            // Each keyframe's model frame: the one its output frame shows (the new footage is
            // the output's first frames).
            let mut keys = Vec::new();
            for (item, frame, image) in keyed {
                if frame >= new_frames {
                    bail!(
                        "--keyframe {item}: frame {frame} is inside the clip, which starts at frame {new_frames} after the new footage: a keyframe goes in the new footage, before {}s",
                        new_frames as f64 / fps
                    );
                }
                keys.push((
                    item,
                    kino::Keyframe { frame: retime.placed_model_index(frame, new_frames, model_new, placement) as u32, image },
                ));
            }
            let keys = model_keyframes(keys, model_fps)?;
            let (out, bars) = new_footage(&mut sink, &context, keys.as_deref())?;
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

/// The keyframes at the model's frames, or none; two that land on one model frame (a clip's
/// rate above the model's) are refused, naming both.
fn model_keyframes(keys: Vec<(&str, kino::Keyframe)>, model_fps: f64) -> Result<Option<Vec<kino::Keyframe>>> {
    if let Some(pair) = keys.windows(2).find(|w| w[0].1.frame == w[1].1.frame) {
        bail!(
            "--keyframe {:?} and --keyframe {:?} fall on the same frame of the new footage, which the model makes at {} fps: put keyframes at least {:.3}s apart",
            pair[0].0,
            pair[1].0,
            rate(model_fps),
            1.0 / model_fps
        );
    }
    Ok((!keys.is_empty()).then(|| keys.into_iter().map(|(_, k)| k).collect()))
}
