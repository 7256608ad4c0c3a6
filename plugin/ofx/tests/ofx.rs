//! The OpenFX plugin in a spec-following test host ([`host`]): the bundle is laid out and
//! found as editors find it, each effect renders to PNG, and the frames are compared with the
//! `kino` binary's (lossless PNG/FFV1, so "equal" means bit-exact).
//!
//! Needs the `kino` binary beside the test (cargo build --release --workspace) and ONNX Runtime
//! (scripts/setup.sh). The tests share one loaded bundle per process and take turns; footage is
//! cached process-wide, so each test uses its own prompts and seeds.

mod common;
mod host;

use std::ffi::{c_uint, c_void};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Instant;

use common::*;
use host::{Frame, Host, RenderOpts, Source, Value};
use kino_ofx::abi::*;

#[test]
fn ofx_bundle_loads_and_describes_three_effects() {
    let _t = turn();
    let found = host::discover(plugin_path());
    assert_eq!(found.len(), 1, "one bundle on the path: {found:?}");
    assert!(found[0].ends_with(format!("Kino.ofx.bundle/Contents/{}/Kino.ofx", host::arch_dir())));
    let host = Host::load(plugin_path());
    let ids: Vec<&str> = host.plugins.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, [GENERATE, EXTEND, ANIMATE]);
    for p in &host.plugins {
        let labels = p.descriptor.props.str(kOfxPropLabel);
        assert!(labels.starts_with("Kino "), "{labels}");
        let mut contexts: Vec<&String> = p.contexts.keys().collect();
        contexts.sort();
        // Generate is a filter too, for hosts that offer no generator context (MLT).
        let want: &[&str] = if p.id == GENERATE { &[FILTER, GENERAL, GENERATOR] } else { &[FILTER, GENERAL] };
        assert_eq!(contexts, want, "{}", p.id);
        assert_eq!(p.descriptor.props.strs(kOfxImageEffectPropSupportedPixelDepths), ["OfxBitDepthByte", "OfxBitDepthShort", "OfxBitDepthFloat"]);
        assert_eq!(p.descriptor.props.ints(kOfxImageEffectPropTemporalClipAccess), [(p.id != GENERATE) as i32], "reads other times");
    }
    // The panel: every param, typed; every numeric one with min/max and display min/max.
    let inst = host.instance(EXTEND, GENERAL, Some(Source { width: 16, height: 16, first: 0.0, frames: vec![vec![0; 16 * 16 * 4]; 9] }));
    let names = inst.param_names();
    let kind = |n: &str| names.iter().find(|(name, _)| name == n).map(|(_, k)| k.clone()).unwrap_or_else(|| panic!("no param {n}"));
    for (n, k) in [
        ("prompt", "OfxParamTypeString"),
        ("negativePrompt", "OfxParamTypeString"),
        ("seed", "OfxParamTypeInteger"),
        ("newSeed", "OfxParamTypePushButton"),
        ("steps", "OfxParamTypeInteger"),
        ("guidance", "OfxParamTypeDouble"),
        ("duration", "OfxParamTypeDouble"),
        ("model", "OfxParamTypeString"),
        ("device", "OfxParamTypeChoice"),
        ("placement", "OfxParamTypeChoice"),
        ("seam", "OfxParamTypeInteger"),
        ("generate", "OfxParamTypePushButton"),
        ("status", "OfxParamTypeString"),
    ] {
        assert_eq!(kind(n), k, "{n}");
    }
    for (n, k) in &names {
        if k == "OfxParamTypeInteger" || k == "OfxParamTypeDouble" {
            let p = inst.param_props(n);
            for prop in [kOfxParamPropMin, kOfxParamPropMax, kOfxParamPropDisplayMin, kOfxParamPropDisplayMax] {
                assert!(p.written(prop), "{n} has no {prop:?}");
            }
        }
    }
    assert_eq!(inst.param_props("prompt").str(kOfxParamPropStringMode), "OfxParamStringIsMultiLine");
    assert_eq!(inst.param_props("model").str(kOfxParamPropStringMode), "OfxParamStringIsDirectoryPath");
    assert_eq!(inst.param_props("status").str(kOfxParamPropStringMode), "OfxParamStringIsLabel");
    assert_eq!(inst.param_props("device").strs(kOfxParamPropChoiceOption), ["cpu", "cuda", "tensorrt"]);
    drop(inst);
    // Unloading one effect leaves the others working (they share the host's suites).
    let mut host = host;
    host.unload_plugin(EXTEND);
    host.unload_plugin(ANIMATE);
    let inst = host.instance(GENERATE, GENERATOR, None);
    set_common(&inst, "an orange square standing still", 12, 4);
    assert!(!inst.render(0.0, RenderOpts::default()).expect("Generate still renders").is_error_frame());
    drop(inst);
    host.unload();
}

#[test]
fn ofx_generate_matches_kino_generate() {
    let _t = turn();
    let d = tmpdir("generate");
    let reference = d.join("ref");
    kino(&["generate", "a red circle moving left", "--seed", "3", "--steps", "4", "-o", &format!("{}/", reference.display())]);
    let want = png_frames(&reference);
    assert_eq!(want.len(), 17);

    let host = Host::load(plugin_path());
    let inst = host.instance(GENERATE, GENERATOR, None);
    set_common(&inst, "a red circle moving left", 3, 4);
    inst.set_output_range(0.0, 16.0);
    let out = d.join("ofx");
    std::fs::create_dir_all(&out).unwrap();
    let t0 = Instant::now();
    let first = inst.render(0.0, RenderOpts::default()).unwrap();
    let first_ms = t0.elapsed().as_millis();
    let t1 = Instant::now();
    let got = render_all(&inst, 0..17, Some(&out));
    eprintln!("generate: first frame (generates the clip) {first_ms} ms, then {:.2} ms per frame", t1.elapsed().as_secs_f64() * 1000.0 / 17.0);
    assert_eq!(first, got[0]);
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!(as_rgb(g) == *w, "frame {i} differs from kino generate's");
        assert!(g.rgba.chunks_exact(4).all(|p| p[3] == 255), "opaque");
    }
    // The PNGs written are those frames.
    assert!(png_frames(&out)[..] == want[..]);
    // Long renders report progress: start, updates rising to 1, end; the second render none.
    let progress = host.log.progress.lock().unwrap().clone();
    assert!(progress.first().is_some_and(|s| s.starts_with("start Kino Generate")), "{progress:?}");
    assert_eq!(progress.last().map(String::as_str), Some("end"));
    assert_eq!(progress.iter().filter(|s| s.starts_with("start")).count(), 1, "generated once: {progress:?}");
    let updates: Vec<f64> = progress.iter().filter_map(|s| s.strip_prefix("update ")).map(|v| v.parse().unwrap()).collect();
    assert!(updates.windows(2).all(|w| w[0] <= w[1]) && updates.last() == Some(&1.0), "{updates:?}");
    drop(inst);

    // The general context (hosts without generators): no inputs; the time domain is the clip.
    let inst = host.instance(GENERATE, GENERAL, None);
    set_common(&inst, "a red circle moving left", 3, 4);
    assert_eq!(inst.time_domain(), Some((0.0, 16.0)));
    assert!(as_rgb(&inst.render(5.0, RenderOpts::default()).unwrap()) == want[5]);
    // Past the duration the last frame holds.
    assert!(as_rgb(&inst.render(40.0, RenderOpts::default()).unwrap()) == want[16]);
    drop(inst);
    host.unload();
}

#[test]
fn ofx_pixel_depths_row_layouts_and_render_scale_agree() {
    let _t = turn();
    let d = tmpdir("depths");
    let reference = d.join("ref");
    kino(&["generate", "a blue square moving up", "--seed", "11", "--steps", "4", "-o", &format!("{}/", reference.display())]);
    let want = png_frames(&reference);
    let mut host = Host::load(plugin_path());
    host.project = (128.0, 128.0);
    let inst = host.instance(GENERATE, GENERATOR, None);
    set_common(&inst, "a blue square moving up", 11, 4);
    let base = inst.render(7.0, RenderOpts::default()).unwrap();
    assert_eq!((base.width, base.height), (128, 128), "the project's size");
    for depth in [kOfxBitDepthByte, kOfxBitDepthShort, kOfxBitDepthFloat] {
        for negative_rows in [false, true] {
            let f = inst.render(7.0, RenderOpts { depth, negative_rows, ..Default::default() }).unwrap();
            assert!(f == base, "{depth:?} negative_rows={negative_rows}");
            f.save_png(&d.join(format!("{}-{negative_rows}.png", depth.to_string_lossy())));
        }
    }
    // Half scale renders the model's 64x64 frame as it is.
    let half = inst.render(7.0, RenderOpts { scale: 0.5, ..Default::default() }).unwrap();
    assert_eq!((half.width, half.height), (64, 64));
    assert!(as_rgb(&half) == want[7], "at render scale 0.5 the frame is kino generate's");
    drop(inst);
    host.unload();
}

#[test]
fn ofx_extend_passes_source_through_and_matches_kino_extend() {
    let _t = turn();
    let d = tmpdir("extend");
    let base = d.join("base.mkv");
    kino(&["generate", "a green square moving right", "--seed", "5", "--steps", "4", "-o", base.to_str().unwrap()]);
    let clip = kino::video::decode_video(&base).unwrap().frames;
    assert_eq!(clip.len(), 17);
    let after = d.join("after");
    kino(&[
        "extend",
        base.to_str().unwrap(),
        "--prompt",
        "a green square moving right",
        "--frames",
        "16",
        "--seed",
        "6",
        "--steps",
        "4",
        "-o",
        &format!("{}/", after.display()),
    ]);
    let want_after = png_frames(&after);
    assert_eq!(want_after.len(), 33);
    let before = d.join("before");
    kino(&[
        "extend",
        base.to_str().unwrap(),
        "--at",
        "start",
        "--prompt",
        "a green square moving right",
        "--frames",
        "16",
        "--seed",
        "6",
        "--steps",
        "4",
        "-o",
        &format!("{}/", before.display()),
    ]);
    let want_before = png_frames(&before);

    let host = Host::load(plugin_path());
    // Filter context: inside the clip the frames are the clip's, bit for bit.
    let inst = host.instance(EXTEND, FILTER, Some(source_of(&clip)));
    set_common(&inst, "a green square moving right", 6, 4);
    inst.set("duration", Value::Double(2.0));
    let passed = render_all(&inst, 0..17, None);
    for (i, f) in passed.iter().enumerate() {
        assert!(as_rgb(f) == clip[i], "source frame {i} passes through untouched");
    }
    // Hosts that ask IsIdentity first get the same answer without a render.
    let ident = inst.render(3.0, RenderOpts { use_identity: true, ..Default::default() }).unwrap();
    assert!(as_rgb(&ident) == clip[3]);
    // Short and float sources pass through exactly too.
    for depth in [kOfxBitDepthShort, kOfxBitDepthFloat] {
        assert!(as_rgb(&inst.render(9.0, RenderOpts { depth, negative_rows: true, ..Default::default() }).unwrap()) == clip[9]);
    }
    drop(inst);

    // A seam inside the clip (hosts that keep a filter as long as its source: extend a clip
    // whose tail is a held frame): frames up to it pass through, later ones continue the clip
    // up to the seam, as extending the first 13 frames does.
    let inst = host.instance(EXTEND, FILTER, Some(source_of(&clip)));
    set_common(&inst, "a green square moving right", 6, 4);
    inst.set("seam", Value::Int(12));
    let seamed = render_all(&inst, 0..17, None);
    drop(inst);
    let inst = host.instance(EXTEND, GENERAL, Some(source_of(&clip[..13])));
    set_common(&inst, "a green square moving right", 6, 4);
    let shorter = render_all(&inst, 0..17, None);
    drop(inst);
    for (i, f) in seamed.iter().enumerate() {
        if i <= 12 {
            assert!(as_rgb(f) == clip[i], "frame {i} before the seam passes through");
        } else {
            assert!(*f == shorter[i] && as_rgb(f) != clip[i], "frame {i} after the seam is generated");
        }
    }

    // General context: the time domain grows by the duration; past the end, kino extend's frames.
    let inst = host.instance(EXTEND, GENERAL, Some(source_of(&clip)));
    set_common(&inst, "a green square moving right", 6, 4);
    inst.set("duration", Value::Double(2.0));
    assert_eq!(inst.time_domain(), Some((0.0, 32.0)));
    let out = d.join("ofx-after");
    std::fs::create_dir_all(&out).unwrap();
    let got = render_all(&inst, 0..33, Some(&out));
    for (i, (g, w)) in got.iter().zip(&want_after).enumerate() {
        assert!(as_rgb(g) == *w, "appended output frame {i} differs from kino extend's");
    }
    assert!(host.log.violations.lock().unwrap().is_empty(), "{:?}", host.log.violations.lock().unwrap());

    // Prepend: the new footage comes before the clip (negative times), as `kino extend --at start`.
    inst.set("placement", Value::Int(1));
    assert_eq!(inst.time_domain(), Some((-16.0, 16.0)));
    let got = render_all(&inst, -16..17, None);
    for (i, (g, w)) in got.iter().zip(&want_before).enumerate() {
        assert!(as_rgb(g) == *w, "prepended output frame {i} differs from kino extend --at start's");
    }
    assert!(host.log.violations.lock().unwrap().is_empty(), "{:?}", host.log.violations.lock().unwrap());
    drop(inst);
    host.unload();
}

#[test]
fn ofx_animate_starts_from_the_chosen_frame() {
    let _t = turn();
    let d = tmpdir("animate");
    let seq = d.join("seq");
    kino(&["generate", "a white triangle standing still", "--seed", "8", "--steps", "4", "-o", &format!("{}/", seq.display())]);
    let clip = png_frames(&seq);
    let still = seq.join("00004.png");
    let reference = d.join("ref");
    kino(&[
        "animate",
        still.to_str().unwrap(),
        "--prompt",
        "a white triangle moving up",
        "--seed",
        "9",
        "--steps",
        "4",
        "-o",
        &format!("{}/", reference.display()),
    ]);
    let want = png_frames(&reference);

    let host = Host::load(plugin_path());
    let inst = host.instance(ANIMATE, FILTER, Some(source_of(&clip)));
    set_common(&inst, "a white triangle moving up", 9, 4);
    inst.set("stillTime", Value::Double(4.0));
    let out = d.join("ofx");
    std::fs::create_dir_all(&out).unwrap();
    let got = render_all(&inst, 0..17, Some(&out));
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!(as_rgb(g) == *w, "animated frame {i} differs from kino animate's");
    }
    assert!(got[16] != got[0]);
    assert!(host.log.violations.lock().unwrap().is_empty(), "{:?}", host.log.violations.lock().unwrap());
    drop(inst);
    host.unload();
}

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
    assert!(errors[0].1.contains("set Model package to") && !errors[0].1.contains("--model") && !errors[0].1.contains("kino models"), "{:?}", errors[0]);
    // The Generate button says so in the status line.
    inst.press("generate");
    match inst.param("status") {
        Value::Str(s) => assert!(s.starts_with("error:") && s.contains("/nowhere/model"), "{s}"),
        v => panic!("{v:?}"),
    }
    drop(inst);
    // Over a source, the same error leaves the footage alone: the source passes through.
    let clip: Vec<kino::RgbFrame> = (0..3u8).map(|k| kino::RgbFrame { width: 24, height: 16, data: (0..24 * 16 * 3).map(|i| (i as u8).wrapping_mul(7) ^ k).collect() }).collect();
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
    drop(inst);
    host.unload();
    host::offer_progress_v2(true);
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
    drop(inst);
    host.unload();
}

/// The host's own suites behave as the headers say (so the tests above test the plugin).
#[test]
fn ofx_test_host_suites_follow_the_spec() {
    let _t = turn();
    // SAFETY (whole test): calling this host's own suite functions with valid arguments.
    unsafe {
        let prop = &*(host::suite(kOfxPropertySuite, 1) as *const OfxPropertySuiteV1);
        let set = host::PropSet::new("test").int(c"A", 2, &[1, 2]).string(c"S", 0, &[]);
        let h = set.handle();
        let mut v = 0;
        assert_eq!((prop.propGetInt)(h, c"A".as_ptr(), 1, &mut v), kOfxStatOK);
        assert_eq!(v, 2);
        assert_eq!((prop.propGetInt)(h, c"A".as_ptr(), 2, &mut v), kOfxStatErrBadIndex);
        assert_eq!((prop.propGetInt)(h, c"B".as_ptr(), 0, &mut v), kOfxStatErrUnknown);
        let mut d = 0.0;
        assert_eq!((prop.propGetDouble)(h, c"A".as_ptr(), 0, &mut d), kOfxStatErrValue);
        assert_eq!((prop.propSetString)(h, c"S".as_ptr(), 1, c"x".as_ptr()), kOfxStatErrBadIndex);
        assert_eq!((prop.propSetString)(h, c"S".as_ptr(), 0, c"x".as_ptr()), kOfxStatOK);
        let mut n = 0;
        assert_eq!((prop.propGetDimension)(h, c"S".as_ptr(), &mut n), kOfxStatOK);
        assert_eq!(n, 1);
        assert!(host::suite(c"OfxNoSuchSuite", 1).is_null());

        let mem = &*(host::suite(kOfxMemorySuite, 1) as *const OfxMemorySuiteV1);
        let mut p = std::ptr::null_mut();
        assert_eq!((mem.memoryAlloc)(std::ptr::null_mut(), 100, &mut p), kOfxStatOK);
        assert_eq!((mem.memoryFree)(p), kOfxStatOK);
        assert_eq!((mem.memoryFree)(p), kOfxStatErrBadHandle);

        let mt = &*(host::suite(kOfxMultiThreadSuite, 1) as *const OfxMultiThreadSuiteV1);
        static HITS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        unsafe extern "C" fn work(i: c_uint, n: c_uint, _arg: *mut c_void) {
            assert!(i < n);
            HITS.fetch_add(1, Ordering::SeqCst);
        }
        assert_eq!((mt.multiThread)(work, 3, std::ptr::null_mut()), kOfxStatOK);
        assert_eq!(HITS.load(Ordering::SeqCst), 3);
        let mut m = std::ptr::null_mut();
        assert_eq!((mt.mutexCreate)(&mut m, 0), kOfxStatOK);
        assert_eq!((mt.mutexLock)(m), kOfxStatOK);
        assert_eq!((mt.mutexLock)(m), kOfxStatOK, "recursive");
        assert_eq!((mt.mutexUnLock)(m), kOfxStatOK);
        assert_eq!((mt.mutexUnLock)(m), kOfxStatOK);
        assert_eq!((mt.mutexDestroy)(m), kOfxStatOK);
    }
}

#[test]
fn the_plugin_holds_no_build_folder_path() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap();
    let build = format!("{}/models", root.display());
    let libs: Vec<PathBuf> = [target_dir().join("libkino_ofx.so"), target_dir().join("deps/libkino_ofx.so")].into_iter().filter(|p| p.is_file()).collect();
    assert!(!libs.is_empty(), "libkino_ofx.so not built");
    for lib in libs {
        let bytes = std::fs::read(&lib).unwrap();
        assert!(!bytes.windows(build.len()).any(|w| w == build.as_bytes()), "{} names {build}", lib.display());
    }
}

/// A 4:3 clip extended by a square model: frames before Start pass through untouched, the
/// context is read through the inverse of Fit (Letterbox: the source's centre, cropped square;
/// Crop: the whole source, letterboxed into the square), and the footage `kino extend` makes
/// from exactly those frames is placed with Fit, never stretched.
#[test]
fn ofx_extend_of_a_4_3_clip_reads_and_places_through_fit() {
    use kino::frame::Fit;
    let _t = turn();
    let d = tmpdir("extend-43");
    let seq = d.join("seq");
    kino(&["generate", "a green square moving right", "--seed", "5", "--steps", "4", "-o", &format!("{}/", seq.display())]);
    // A 4:3 source: the square clip at 128x128, its middle 96 rows; then 16 held frames.
    let wide: Vec<kino::RgbFrame> = png_frames(&seq).iter().map(|f| f.fitted(128, 96, Fit::Crop)).collect();
    let mut src = wide.clone();
    src.extend(std::iter::repeat_n(wide[16].clone(), 16));
    let host = Host::load(plugin_path());
    for (choice, fit) in [(0, Fit::Letterbox), (1, Fit::Crop)] {
        // What the model is given: the 17 real frames read back at 64x64 through the inverse.
        let ctx = d.join(format!("ctx-{choice}"));
        std::fs::create_dir_all(&ctx).unwrap();
        for (i, f) in wide.iter().enumerate() {
            let m = f.fitted(64, 64, fit.inverse());
            image::RgbImage::from_raw(64, 64, m.data).unwrap().save(ctx.join(format!("{i:05}.png"))).unwrap();
        }
        let clip = d.join(format!("ctx-{choice}.mkv"));
        let ok = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-framerate", "8", "-i"])
            .arg(ctx.join("%05d.png"))
            .args(["-c:v", "ffv1", "-pix_fmt", "bgr0"])
            .arg(&clip)
            .status()
            .unwrap();
        assert!(ok.success());
        let after = d.join(format!("after-{choice}"));
        kino(&["extend", clip.to_str().unwrap(), "--prompt", "a green square moving right", "--frames", "16", "--seed", "6", "--steps", "4", "-o", &format!("{}/", after.display())]);
        let want = png_frames(&after);
        assert_eq!(want.len(), 33);

        let inst = host.instance(EXTEND, FILTER, Some(source_of(&src)));
        set_common(&inst, "a green square moving right", 6, 4);
        inst.set("duration", Value::Double(2.0));
        inst.set("start", Value::Int(17));
        inst.set("fit", Value::Int(choice));
        let got = render_all(&inst, 0..33, None);
        for (i, g) in got.iter().enumerate() {
            let g = as_rgb(g);
            if i < 17 {
                assert!(g == wide[i], "{fit:?}: source frame {i} passes through untouched");
            } else {
                assert!(g == want[i].fitted(128, 96, fit), "{fit:?}: frame {i} is kino extend's from the fitted context, placed with Fit");
            }
        }
        if fit == Fit::Letterbox {
            let g = as_rgb(&got[20]);
            assert!((0..96).all(|y| g.data[3 * y * 128..3 * (y * 128 + 16)].iter().all(|&v| v == 0)), "pillarbox bars");
        }
    }
    host.unload();
}
