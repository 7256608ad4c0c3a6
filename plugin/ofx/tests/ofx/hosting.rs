//! How hosts drive the plugin: an instance per frame, threads, errors, buttons, abort.

use std::sync::atomic::Ordering;

use crate::common::*;
use crate::host::{self, Frame, Host, RenderOpts, Value};
use kino_ofx::abi::*;

#[test]
fn ofx_mlt_like_instance_per_frame_and_repeated_renders() {
    let _t = turn();
    let host = Host::load(plugin_path());
    let render = |t: i32| {
        // MLT's OpenFX host builds an instance per frame and sets every parameter on it.
        let inst = host.instance(GENERATE, GENERATOR, None);
        set_common(&inst, "a yellow circle moving right", 4, 4);
        inst.render(t as f64, RenderOpts::default()).unwrap()
    };
    let first: Vec<Frame> = (0..17).map(render).collect();
    let again: Vec<Frame> = (0..17).rev().map(render).collect();
    assert!(first.iter().eq(again.iter().rev()), "re-rendered frames are identical");
    assert!(first[0] != first[16]);
    let starts = host.log.progress.lock().unwrap().iter().filter(|s| s.starts_with("start")).count();
    assert_eq!(starts, 1, "the clip is generated once for 34 instances");
    // Instances in several threads at once (Resolve renders frames in parallel).
    let par: Vec<Frame> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4).map(|t| s.spawn(move || render(t * 4))).collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (k, f) in par.iter().enumerate() {
        assert!(*f == first[k * 4]);
    }
    // After PurgeCaches the footage is made again, the same.
    host.instance(GENERATE, GENERATOR, None).purge_caches();
    assert!(render(9) == first[9]);
    let starts = host.log.progress.lock().unwrap().iter().filter(|s| s.starts_with("start")).count();
    assert_eq!(starts, 2, "generated again after the purge");
    host.unload();
}

#[test]
fn ofx_missing_model_posts_an_error_and_draws_error_frames() {
    let _t = turn();
    let host = Host::load(plugin_path());
    let inst = host.instance(GENERATE, GENERATOR, None);
    set_common(&inst, "a red circle", 1, 4);
    inst.set("model", Value::Str("/nowhere/model".into()));
    for t in 0..3 {
        let f = inst.render(t as f64, RenderOpts::default()).expect("the render succeeds, showing the error");
        assert!(f.is_error_frame(), "frame {t} shows the error");
        assert!(f.rgba.chunks_exact(4).any(|p| p[..3] == [200, 20, 20]) && f.rgba.chunks_exact(4).any(|p| p[..3] == [30, 30, 30]));
    }
    let msgs = host.log.messages.lock().unwrap().clone();
    let errors: Vec<&(String, String)> = msgs.iter().filter(|(k, _)| k == "OfxMessageError").collect();
    assert_eq!(errors.len(), 1, "posted once, not per frame: {msgs:?}");
    assert!(errors[0].1.contains("/nowhere/model"), "{:?}", errors[0]);
    // The fix in the panel's words: the field to set, never the command line's flag.
    assert!(
        errors[0].1.contains("set Model package to") && !errors[0].1.contains("--model") && !errors[0].1.contains("kino models"),
        "{:?}",
        errors[0]
    );
    // The Generate button says so in the status line.
    inst.press("generate");
    match inst.param("status") {
        Value::Str(s) => assert!(s.starts_with("error:") && s.contains("/nowhere/model"), "{s}"),
        v => panic!("{v:?}"),
    }
    drop(inst);
    // Over a source, the same error leaves the footage alone: the source passes through.
    let clip: Vec<kino::RgbFrame> = (0..3u8)
        .map(|k| kino::RgbFrame { width: 24, height: 16, data: (0..24 * 16 * 3).map(|i| (i as u8).wrapping_mul(7) ^ k).collect() })
        .collect();
    for id in [EXTEND, ANIMATE, GENERATE] {
        let inst = host.instance(id, FILTER, Some(source_of(&clip)));
        set_common(&inst, "a red circle", 1, 4);
        inst.set("model", Value::Str("/nowhere/model".into()));
        if id != GENERATE {
            inst.set("start", Value::Int(0)); // every frame would be generated
        }
        for (t, want) in clip.iter().enumerate() {
            let f = inst.render(t as f64, RenderOpts::default()).unwrap();
            assert!(as_rgb(&f) == *want, "{id} at {t}: the source passes through, no error frame");
        }
    }
    // A filter with nothing connected: an error frame, no crash.
    let inst = host.instance(ANIMATE, FILTER, None);
    let f = inst.render(0.0, RenderOpts::default());
    assert!(f.map_or(true, |f| f.is_error_frame()));
    drop(inst);
    host.unload();
}

#[test]
fn ofx_buttons_new_seed_and_generate_update_the_panel() {
    let _t = turn();
    host::offer_progress_v2(false); // this host speaks progress V1 only
    let host = Host::load(plugin_path());
    let inst = host.instance(GENERATE, GENERATOR, None);
    set_common(&inst, "a cyan circle moving down", 0, 4);
    inst.press("newSeed");
    let seed = match inst.param("seed") {
        Value::Int(s) => s,
        v => panic!("{v:?}"),
    };
    assert!(seed > 0, "a new seed: {seed}");
    inst.press("generate");
    match inst.param("status") {
        Value::Str(s) => {
            assert!(s.starts_with("ready: 17 frames 64x64"), "{s}");
            assert!(s.contains("Kino.ofx.bundle/Contents/Resources/models/kino-shapes on cpu"), "the model inside the bundle: {s}");
        }
        v => panic!("{v:?}"),
    }
    let progress = host.log.progress.lock().unwrap().clone();
    assert!(progress.first().is_some_and(|s| s == "start Kino Generate: generating"), "V1 progress: {progress:?}");
    assert_eq!(host::OUT_OF_ACTION_SETS.load(Ordering::SeqCst), 0, "values are set only in InstanceChanged");
    let before = progress.len();
    // Rendering afterwards uses the footage the button made.
    inst.render(3.0, RenderOpts::default()).unwrap();
    assert_eq!(host.log.progress.lock().unwrap().len(), before);
    // The Status says how the model read a prompt in other words, and what it does not know.
    set_common(&inst, "A cyan ball drifting down quickly.", 0, 4);
    inst.press("generate");
    match inst.param("status") {
        Value::Str(s) => {
            assert!(s.starts_with("ready: 17 frames 64x64"), "{s}");
            assert!(s.contains("as \"a cyan circle moving down\"") && s.contains("does not know \"quickly\""), "{s}");
        }
        v => panic!("{v:?}"),
    }
    drop(inst);
    host.unload();
    host::offer_progress_v2(true);
}

/// A progress bar that answers "no" before it has taken any update is not yet shown (Natron
/// starts a render thread's bar later, on its main thread): the render goes on. Once it has
/// taken one, "no" is the user's Cancel.
#[test]
fn ofx_progress_cancels_only_once_the_bar_is_shown() {
    let _t = turn();
    let host = Host::load(plugin_path());
    let inst = host.instance(GENERATE, GENERATOR, None);
    set_common(&inst, "a cyan circle moving up", 78, 4);
    host.log.progress_pending.store(2, Ordering::SeqCst);
    let f = inst.render(2.0, RenderOpts::default()).expect("a bar not yet shown does not cancel");
    assert!(!f.is_error_frame());
    assert!(host.log.progress_pending.load(Ordering::SeqCst) == 0, "the plugin reported progress through it");
    // New footage (another seed), and the user cancels after the second update.
    set_common(&inst, "a cyan circle moving up", 79, 4);
    let seen = host.log.updates.load(Ordering::SeqCst);
    host.log.cancel_after.store(seen + 2, Ordering::SeqCst);
    assert_eq!(inst.render(2.0, RenderOpts::default()).err(), Some(kOfxStatFailed), "Cancel on the bar stops the render");
    host.log.cancel_after.store(0, Ordering::SeqCst);
    drop(inst);
    host.unload();
}

#[test]
fn ofx_abort_cancels_and_the_next_render_recovers() {
    let _t = turn();
    let host = Host::load(plugin_path());
    let inst = host.instance(GENERATE, GENERATOR, None);
    set_common(&inst, "a magenta triangle moving left", 77, 4);
    host.log.abort_after.store(1, Ordering::SeqCst);
    let r = inst.render(2.0, RenderOpts::default());
    assert_eq!(r.err(), Some(kOfxStatFailed), "an aborted render fails");
    assert!(host.log.aborted.load(Ordering::SeqCst));
    assert_eq!(host.log.progress.lock().unwrap().last().map(String::as_str), Some("end"), "progress closed");
    host.log.abort_after.store(0, Ordering::SeqCst);
    let f = inst.render(2.0, RenderOpts::default()).expect("cancellation is not remembered");
    assert!(!f.is_error_frame());
    // Natron aborts a viewer's render whenever another is asked for (scrubbing): there an
    // interactive render makes its footage whole, so the next one finds it made; its final
    // renders still stop on abort.
    let interactive = RenderOpts { interactive: true, ..Default::default() };
    let abort_soon = || host.log.abort_after.store(host.log.updates.load(Ordering::SeqCst) + 1, Ordering::SeqCst);
    set_common(&inst, "a magenta triangle moving left", 78, 4);
    abort_soon();
    assert_eq!(inst.render(2.0, interactive).err(), Some(kOfxStatFailed), "elsewhere a viewer's render stops too");
    host.name_as("fr.inria.Natron");
    abort_soon();
    assert_eq!(inst.render(2.0, RenderOpts::default()).err(), Some(kOfxStatFailed), "a final render stops");
    abort_soon();
    let f = inst.render(2.0, interactive).expect("a viewer's render in Natron is not cut short");
    assert!(!f.is_error_frame());
    host.log.abort_after.store(0, Ordering::SeqCst);
    host.name_as("org.kino.testhost");
    drop(inst);
    host.unload();
}
