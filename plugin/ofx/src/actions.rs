//! The OpenFX actions, shared by the five effects: a thin table that asks the effect's module
//! what to do and answers the host in its terms. Actions not handled return
//! kOfxStatReplyDefault, so the host applies its defaults (ofxCore.h, ofxImageEffect.h).

use std::ffi::{c_void, CStr};
use std::time::Instant;

use crate::abi::*;
use crate::jobs;
use crate::params;
use crate::render;
use crate::suites::{self, Effect, Pixels, Props};
use crate::{animate, bridge, caps, extend, generate, remix, words, Kind};

mod fitted;
mod instance;

pub use fitted::image_file as fitted_image_file;
pub use instance::{said_fps, Instance, Pick, Shown};

fn status<T>(r: Result<T, OfxStatus>) -> OfxStatus {
    match r {
        Ok(_) => kOfxStatOK,
        Err(e) => e,
    }
}

pub fn dispatch(
    kind: Kind,
    action: &CStr,
    handle: *mut c_void,
    in_args: OfxPropertySetHandle,
    out_args: OfxPropertySetHandle,
) -> OfxStatus {
    if action == kOfxActionLoad {
        words::install();
        return status(suites::load());
    }
    if action == kOfxActionUnload {
        suites::unload();
        caps::forget_all();
        return kOfxStatOK;
    }
    let Ok(s) = suites::suites() else { return kOfxStatErrMissingHostFeature };
    if handle.is_null() {
        return kOfxStatErrBadHandle;
    }
    let inst = Instance { kind, fx: Effect { s, h: handle } };
    let inp = Props::new(s, in_args);
    let out = Props::new(s, out_args);
    let a = action;
    if a == kOfxActionDescribe {
        status(describe(&inst))
    } else if a == kOfxImageEffectActionDescribeInContext {
        status(describe_in_context(&inst, &inp))
    } else if a == kOfxActionCreateInstance {
        // Nothing expensive per instance (footage is process-wide, jobs.rs): only what the
        // host can do, said once.
        caps::on_create(&inst);
        kOfxStatOK
    } else if a == kOfxActionDestroyInstance {
        caps::on_destroy(&inst);
        kOfxStatOK
    } else if a == kOfxImageEffectActionGetClipPreferences {
        status(clip_preferences(&inst, &out))
    } else if a == kOfxImageEffectActionGetRegionOfDefinition {
        region_of_definition(&inst, &inp, &out)
    } else if a == kOfxImageEffectActionGetFramesNeeded {
        frames_needed(&inst, &inp, &out)
    } else if a == kOfxImageEffectActionGetTimeDomain {
        time_domain(&inst, &out)
    } else if a == kOfxImageEffectActionIsIdentity {
        is_identity(&inst, &inp, &out)
    } else if a == kOfxImageEffectActionRender {
        render_action(&inst, &inp)
    } else if a == kOfxActionInstanceChanged {
        instance_changed(&inst, &inp)
    } else if a == kOfxActionPurgeCaches {
        jobs::purge();
        fitted::purge();
        crate::inplace::purge();
        kOfxStatOK
    } else {
        kOfxStatReplyDefault
    }
}

fn describe(inst: &Instance) -> Result<(), OfxStatus> {
    let p = inst.fx.props()?;
    // Where the bundle is: the shipped model may be inside it (jobs::model_dir).
    if let Ok(path) = p.string(kOfxPluginPropFilePath, 0) {
        if !path.is_empty() {
            jobs::set_bundle(path.into());
        }
    }
    p.set_string(kOfxPropLabel, 0, inst.kind.label())?;
    // Descriptive only: Resolve has been seen without the property (openfx-misc's host notes),
    // and failing Describe over it would hide every Kino effect.
    let _ = p.set_string(kOfxPropPluginDescription, 0, inst.kind.description());
    p.set_string(kOfxImageEffectPluginPropGrouping, 0, "Kino")?;
    let contexts: &[&CStr] = match inst.kind {
        // Filter too: hosts without a generator context (MLT) list filters only; the input
        // then gives only the frame size and time.
        Kind::Generate => &[kOfxImageEffectContextGenerator, kOfxImageEffectContextFilter, kOfxImageEffectContextGeneral],
        // A transition where the host has them; general (two inputs) elsewhere.
        Kind::Bridge => &[kOfxImageEffectContextTransition, kOfxImageEffectContextGeneral],
        _ => &[kOfxImageEffectContextFilter, kOfxImageEffectContextGeneral],
    };
    for (i, c) in contexts.iter().enumerate() {
        p.set_cstr(kOfxImageEffectPropSupportedContexts, i, c)?;
    }
    for (i, d) in [kOfxBitDepthByte, kOfxBitDepthShort, kOfxBitDepthFloat].iter().enumerate() {
        p.set_cstr(kOfxImageEffectPropSupportedPixelDepths, i, d)?;
    }
    // Extend and Animate read source frames at other times than the one rendered.
    p.set_int(kOfxImageEffectPropTemporalClipAccess, 0, (inst.kind != Kind::Generate) as i32)?;
    p.set_int(kOfxImageEffectPropSupportsMultiResolution, 0, 1)?;
    p.set_int(kOfxImageEffectPropSupportsTiles, 0, 0)?;
    p.set_int(kOfxImageEffectPropSupportsMultipleClipDepths, 0, 0)?;
    // Footage is shared between instances behind locks; renders may run in any thread.
    p.set_cstr(kOfxImageEffectPluginRenderThreadSafety, 0, kOfxImageEffectRenderFullySafe)?;
    p.set_int(kOfxImageEffectPluginPropHostFrameThreading, 0, 0)?;
    Ok(())
}

fn describe_in_context(inst: &Instance, inp: &Props) -> Result<(), OfxStatus> {
    let context = inp.string(kOfxImageEffectPropContext, 0)?;
    let out = inst.fx.define_clip(kOfxImageEffectOutputClipName)?;
    out.set_cstr(kOfxImageEffectPropSupportedComponents, 0, kOfxImageComponentRGBA)?;
    if inst.kind == Kind::Bridge {
        for name in [bridge::FROM, bridge::TO] {
            let c = inst.fx.define_clip(name)?;
            c.set_cstr(kOfxImageEffectPropSupportedComponents, 0, kOfxImageComponentRGBA)?;
            c.set_int(kOfxImageEffectPropTemporalClipAccess, 0, 1)?;
            c.set_int(kOfxImageEffectPropSupportsTiles, 0, 0)?;
        }
        if context.as_bytes() == kOfxImageEffectContextTransition.to_bytes() {
            // The context's mandated parameter (ofxImageEffect.h): the host sets it, 0 to 1.
            let p = inst.fx.define_param(kOfxParamTypeDouble, kOfxImageEffectTransitionParamName)?;
            p.set_string(kOfxPropLabel, 0, "Transition")?;
            p.set_double(kOfxParamPropDefault, 0, 0.0)?;
            p.set_double(kOfxParamPropMin, 0, 0.0)?;
            p.set_double(kOfxParamPropMax, 0, 1.0)?;
        }
        return params::describe(&inst.fx, inst.kind);
    }
    // Generate has no inputs but in the filter context (which requires one); the others read a
    // Source clip.
    if inst.kind != Kind::Generate || context.as_bytes() == kOfxImageEffectContextFilter.to_bytes() {
        let src = inst.fx.define_clip(kOfxImageEffectSimpleSourceClipName)?;
        src.set_cstr(kOfxImageEffectPropSupportedComponents, 0, kOfxImageComponentRGBA)?;
        src.set_int(kOfxImageEffectPropTemporalClipAccess, 0, (inst.kind != Kind::Generate) as i32)?;
        src.set_int(kOfxImageEffectPropSupportsTiles, 0, 0)?;
    }
    params::describe(&inst.fx, inst.kind)
}

fn clip_preferences(inst: &Instance, out: &Props) -> Result<(), OfxStatus> {
    // Generated frames change with time even where the source does not.
    out.set_int(kOfxImageEffectFrameVarying, 0, 1)?;
    // Letterbox bars and what lies outside the picture are transparent black (0,0,0,0), the
    // footage opaque: premultiplied, not opaque, so a host composites the bars as clear.
    out.set_cstr(kOfxImageEffectPropPreMultiplication, 0, kOfxImagePreMultiplied)?;
    let _ = inst;
    Ok(())
}

/// Canonical coordinates: the project's frame for Generate, the source's for the others (at a
/// time inside the source, so generated frames past its end have its size too).
fn picture(inst: &Instance, t: f64) -> Result<OfxRectD, String> {
    // Generate in the filter context takes its input's size (MLT sets no other).
    let from_source = inst.kind != Kind::Generate || inst.source().is_ok_and(|c| c.props.int(kOfxImageClipPropConnected, 0) == Ok(1));
    match inst.kind {
        Kind::Generate if !from_source => {
            let p = inst.fx.props().map_err(|e| format!("effect properties: host status {e}"))?;
            // The project's picture is its size from its offset (ofxImageEffect.h: the extent is
            // rooted at (0,0) and includes the offset); hosts without a size give the extent.
            let (offset, size) = match (p.doubles::<2>(kOfxImageEffectPropProjectOffset), p.doubles::<2>(kOfxImageEffectPropProjectSize)) {
                (Ok(offset), Ok(size)) => (offset, size),
                _ => {
                    ([0.0, 0.0], p.doubles::<2>(kOfxImageEffectPropProjectExtent).map_err(|e| format!("project extent: host status {e}"))?)
                }
            };
            Ok(OfxRectD { x1: offset[0], y1: offset[1], x2: offset[0] + size[0], y2: offset[1] + size[1] })
        }
        _ => {
            // At a time inside the source where the host says its range (MLT does not).
            let at = inst.source_range().map_or(t, |(a, b)| t.clamp(a, b));
            let r = inst.source()?.region_of_definition(at).map_err(|e| format!("source region of definition: host status {e}"))?;
            Ok(r)
        }
    }
}

fn region_of_definition(inst: &Instance, inp: &Props, out: &Props) -> OfxStatus {
    let Ok(t) = inp.double(kOfxPropTime, 0) else { return kOfxStatErrValue };
    // The effects that read frames make footage from them: at another render scale the frames
    // differ, so would the footage. Natron's viewer renders at a lower scale whenever it is
    // zoomed out, which would make footage again per zoom level, unlike the full render; failing
    // here at a scale other than 1 is how Natron learns that an effect does not render scaled
    // (it asks when it creates the effect, then renders it at full scale and scales the result).
    // Other hosts scale only for a proxy render, and may not take a failure so: there the
    // footage comes from the scaled frames. Generate reads nothing: its frames just scale.
    let scale = inp.doubles::<2>(kOfxImageEffectPropRenderScale).unwrap_or([1.0, 1.0]);
    if inst.kind != Kind::Generate && scale != [1.0, 1.0] && crate::caps::host_is_natron() {
        return kOfxStatFailed;
    }
    match picture(inst, t) {
        Ok(r) => status(out.set_doubles(kOfxImageEffectPropRegionOfDefinition, &[r.x1, r.y1, r.x2, r.y2])),
        Err(_) => kOfxStatReplyDefault,
    }
}

fn frames_needed(inst: &Instance, inp: &Props, out: &Props) -> OfxStatus {
    let Ok(t) = inp.double(kOfxPropTime, 0) else { return kOfxStatErrValue };
    if inst.kind == Kind::Generate {
        return kOfxStatReplyDefault;
    }
    let ranges: Vec<bridge::ClipFrames> = match inst.kind {
        Kind::Extend => extend::frames_needed(inst, t).into_iter().map(|r| (kOfxImageEffectSimpleSourceClipName, r)).collect(),
        Kind::Bridge => bridge::frames_needed(inst, t),
        Kind::Remix => remix::frames_needed(inst, t).into_iter().map(|r| (kOfxImageEffectSimpleSourceClipName, r)).collect(),
        _ => animate::frames_needed(inst, t).into_iter().map(|r| (kOfxImageEffectSimpleSourceClipName, r)).collect(),
    };
    let mut clips: Vec<&CStr> = ranges.iter().map(|(c, _)| *c).collect();
    clips.dedup();
    for clip in clips {
        let flat: Vec<f64> = ranges.iter().filter(|(c, _)| *c == clip).flat_map(|(_, (a, b))| [*a, *b]).collect();
        // ofxImageEffect.h: "OfxImageClipPropFrameRange_" with the clip's name appended.
        let Ok(name) = std::ffi::CString::new([b"OfxImageClipPropFrameRange_", clip.to_bytes()].concat()) else { continue };
        // A host may leave out the property of a clip that is not connected (Resolve, per the
        // openfx Support library): the other clips' ranges still count.
        let _ = out.set_doubles(&name, &flat);
    }
    kOfxStatOK
}

fn time_domain(inst: &Instance, out: &Props) -> OfxStatus {
    let range = match inst.kind {
        Kind::Generate => generate::time_domain(inst),
        Kind::Extend => extend::time_domain(inst),
        Kind::Animate => animate::time_domain(inst),
        Kind::Bridge => bridge::time_domain(inst),
        Kind::Remix => inst.source_range().ok(),
    };
    match range {
        Some((a, b)) => status(out.set_doubles(kOfxImageEffectPropFrameRange, &[a, b])),
        None => kOfxStatReplyDefault,
    }
}

fn is_identity(inst: &Instance, inp: &Props, out: &Props) -> OfxStatus {
    let Ok(t) = inp.double(kOfxPropTime, 0) else { return kOfxStatErrValue };
    if inst.kind != Kind::Extend {
        return kOfxStatReplyDefault;
    }
    // Decided without fetching frames (shown() would fetch the context of generated times).
    match extend::passes_through(inst, t) {
        Ok(true) => {
            let r = out.set_cstr(kOfxPropName, 0, kOfxImageEffectSimpleSourceClipName).and_then(|_| out.set_double(kOfxPropTime, 0, t));
            status(r)
        }
        _ => kOfxStatReplyDefault,
    }
}

fn render_action(inst: &Instance, inp: &Props) -> OfxStatus {
    let Ok(t) = inp.double(kOfxPropTime, 0) else { return kOfxStatErrValue };
    let scale = inp.doubles::<2>(kOfxImageEffectPropRenderScale).unwrap_or([1.0, 1.0]);
    let Ok(w) = inp.ints::<4>(kOfxImageEffectPropRenderWindow) else { return kOfxStatErrValue };
    let window = OfxRectI { x1: w[0], y1: w[1], x2: w[2], y2: w[3] };
    let out_clip = match inst.fx.clip(kOfxImageEffectOutputClipName) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let img = match out_clip.image(t) {
        Ok(Some(i)) => i,
        Ok(None) => return kOfxStatFailed,
        Err(e) => return e,
    };
    let mut dst = match img.pixels() {
        Ok(p) => p,
        Err(msg) => {
            inst.report(&msg);
            return kOfxStatErrImageFormat;
        }
    };
    let result = (|| -> Result<bool, String> {
        let par = img.pixel_aspect();
        let pic = render::to_pixels(picture(inst, t)?, scale, par);
        let (w, h) = (pic.x2 as i64 - pic.x1 as i64, pic.y2 as i64 - pic.y1 as i64);
        if w <= 0 || h <= 0 || w * h > 1 << 28 {
            return Err(format!("a frame of {w}x{h} pixels is not usable"));
        }
        match inst.shown(t)? {
            Shown::Source(time) => {
                let src = inst.source()?.image(time).map_err(|e| format!("source frame at {time}: host status {e}"))?;
                match src {
                    Some(img) => render::copy(&img.pixels()?, &mut dst, window),
                    None => render::clear(&mut dst, window),
                }
                Ok(true)
            }
            Shown::Clip(clip, time) => {
                let img = inst
                    .fx
                    .clip(clip)
                    .and_then(|c| c.image(time))
                    .map_err(|e| format!("{} frame at {time}: host status {e}", clip.to_string_lossy()))?;
                match img {
                    Some(img) => render::copy(&img.pixels()?, &mut dst, window),
                    None => render::clear(&mut dst, window),
                }
                Ok(true)
            }
            Shown::Generated { key, pick } => {
                // Natron aborts a viewer's render as soon as another is asked for (scrubbing):
                // honoured there, a generation the viewer started would start over at every
                // move. Its footage is made whole instead; the progress bar's Cancel stops it.
                let interactive = inp.int(kOfxImageEffectPropInteractiveRenderStatus, 0) == Ok(1);
                let honour_abort = !(interactive && crate::caps::host_is_natron());
                let Some(footage) = inst.footage(&key, honour_abort)? else { return Ok(false) };
                let frame = &footage.frames[pick.index(footage.frames.len())];
                render::write_frame(frame, pic, inst.fit(), par, &mut dst, window);
                Ok(true)
            }
        }
    })();
    match result {
        Ok(true) => kOfxStatOK,
        Ok(false) => {
            // Aborted by the host: nothing to keep, and the failure says so; hosts that show the
            // buffer anyway show the source.
            pass_through(inst, t, &mut dst, window);
            kOfxStatFailed
        }
        Err(msg) => {
            inst.report(&msg);
            // Never destroy footage: where there is a source it passes through untouched, and
            // only a generator (nothing to show) draws the error.
            if !pass_through(inst, t, &mut dst, window) {
                render::error_frame(&mut dst, window);
            }
            kOfxStatOK
        }
    }
}

/// Copies the source frame at `t` into the output; `false` when there is none.
fn pass_through(inst: &Instance, t: f64, dst: &mut Pixels, window: OfxRectI) -> bool {
    let Ok(Ok(Some(img))) = inst.source().map(|c| c.image(t)) else { return false };
    match img.pixels() {
        Ok(src) => {
            render::copy(&src, dst, window);
            true
        }
        Err(_) => false,
    }
}

fn instance_changed(inst: &Instance, inp: &Props) -> OfxStatus {
    let name = inp.string(kOfxPropName, 0).unwrap_or_default();
    let t = inp.double(kOfxPropTime, 0).unwrap_or(0.0);
    let set_status = |text: &str| {
        if let Ok(p) = inst.fx.param(params::STATUS) {
            let _ = p.set_string(text);
        }
    };
    if name.as_bytes() == params::NEW_SEED.to_bytes() {
        let seed = new_seed();
        return match inst.fx.param(params::SEED).and_then(|p| p.set_int(seed)) {
            Ok(()) => kOfxStatOK,
            Err(e) => e,
        };
    }
    if name.as_bytes() == params::GENERATE.to_bytes() {
        let started = Instant::now();
        let at = match inst.kind {
            Kind::Generate => generate::first_time(inst),
            Kind::Extend => extend::first_generated_time(inst, t),
            Kind::Animate => animate::first_time(inst),
            Kind::Bridge => bridge::first_generated_time(inst, t),
            Kind::Remix => remix::first_time(inst),
        };
        let result = at.and_then(|at| match inst.shown(at)? {
            Shown::Generated { key, .. } => inst.footage(&key, true).map(|f| f.map(|f| (f, *key))),
            Shown::Source(_) | Shown::Clip(..) => Err("nothing to generate at this time".into()),
        });
        match result {
            Ok(Some((f, key))) => {
                let first = &f.frames[0];
                // How the model read the prompt, as the `kino` command says it.
                let notes: String = jobs::pipeline(&key.settings)
                    .map(|p| {
                        let prompt = &key.settings.prompt;
                        [p.prompt_reading(prompt), p.unknown_words_warning(prompt)]
                            .into_iter()
                            .flatten()
                            .map(|n| format!("; {n}"))
                            .collect()
                    })
                    .unwrap_or_default();
                set_status(&format!(
                    "ready: {} frames {}x{} at {} fps (model {} on {}), {:.1} s{notes}",
                    f.frames.len(),
                    first.width,
                    first.height,
                    f.fps,
                    jobs::model_dir(&key.settings.model).display(),
                    key.settings.device,
                    started.elapsed().as_secs_f64()
                ));
            }
            Ok(None) => set_status("cancelled"),
            Err(msg) => {
                set_status(&format!("error: {msg}"));
                inst.report(&msg);
            }
        }
        return kOfxStatOK;
    }
    kOfxStatReplyDefault
}

/// A seed from the clock, in the seed parameter's range.
fn new_seed() -> i32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0));
    (h.finish() % i32::MAX as u64) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_seeds_are_in_range() {
        let s = new_seed();
        assert!(s >= 0);
    }
}
