//! The bundle as editors find it, the effects it describes, and the test host itself.

use std::ffi::{c_uint, c_void};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use crate::common::*;
use crate::host::{self, Host, RenderOpts, Source};
use kino_ofx::abi::*;

#[test]
fn ofx_bundle_loads_and_describes_five_effects() {
    let _t = turn();
    let found = host::discover(plugin_path());
    assert_eq!(found.len(), 1, "one bundle on the path: {found:?}");
    assert!(found[0].ends_with(format!("Kino.ofx.bundle/Contents/{}/Kino.ofx", host::arch_dir())));
    let host = Host::load(plugin_path());
    let ids: Vec<&str> = host.plugins.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, [GENERATE, EXTEND, ANIMATE, BRIDGE, REMIX]);
    for p in &host.plugins {
        let labels = p.descriptor.props.str(kOfxPropLabel);
        assert!(labels.starts_with("Kino "), "{labels}");
        let mut contexts: Vec<&String> = p.contexts.keys().collect();
        contexts.sort();
        // Generate is a filter too, for hosts that offer no generator context (MLT).
        // Bridge is a transition, and a two-input effect for hosts without transitions.
        let want: &[&str] = match p.id.as_str() {
            GENERATE => &[FILTER, GENERAL, GENERATOR],
            BRIDGE => &[GENERAL, TRANSITION],
            _ => &[FILTER, GENERAL],
        };
        assert_eq!(contexts, want, "{}", p.id);
        assert_eq!(
            p.descriptor.props.strs(kOfxImageEffectPropSupportedPixelDepths),
            ["OfxBitDepthByte", "OfxBitDepthShort", "OfxBitDepthFloat"]
        );
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
        ("guidanceInterval", "OfxParamTypeString"),
        ("sampler", "OfxParamTypeChoice"),
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
    assert_eq!(inst.param_props("sampler").strs(kOfxParamPropChoiceOption), ["The model's default", "Deterministic", "Stochastic"]);
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
    let libs: Vec<PathBuf> =
        [target_dir().join("libkino_ofx.so"), target_dir().join("deps/libkino_ofx.so")].into_iter().filter(|p| p.is_file()).collect();
    assert!(!libs.is_empty(), "libkino_ofx.so not built");
    for lib in libs {
        let bytes = std::fs::read(&lib).unwrap();
        assert!(!bytes.windows(build.len()).any(|w| w == build.as_bytes()), "{} names {build}", lib.display());
    }
}
