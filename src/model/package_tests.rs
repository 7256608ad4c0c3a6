//! Hostile and broken packages: every one is a one-line error from `ModelPackage::load`, before
//! anything outside the package is opened or anything large is allocated.

use std::path::{Path, PathBuf};

use super::ModelPackage;

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

/// A writable copy of a shipped package in a fresh temp folder (`<tmp>/pkg`).
pub(crate) fn copy_package(tag: &str, from: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("kino-pkg-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    let pkg = d.join("pkg");
    std::fs::create_dir_all(&pkg).unwrap();
    for e in std::fs::read_dir(repo(from)).unwrap().flatten() {
        std::fs::copy(e.path(), pkg.join(e.file_name())).unwrap();
    }
    pkg
}

/// A copy of the wan-tiny fixture whose text encoder is the two-graph chain of
/// `tests/fixtures/text-stages/wan-tiny` (its graphs, and its `text_encoder.json` as the
/// manifest's `text_encoder` block).
pub(crate) fn staged_package(tag: &str) -> PathBuf {
    let pkg = copy_package(tag, "models/fixtures/wan-tiny");
    let stages = repo("tests/fixtures/text-stages/wan-tiny");
    for e in std::fs::read_dir(&stages).unwrap().flatten().filter(|e| e.file_name() != "text_encoder.json") {
        std::fs::copy(e.path(), pkg.join(e.file_name())).unwrap();
    }
    let mut m = manifest(&pkg);
    m["text_encoder"] = serde_json::from_slice(&std::fs::read(stages.join("text_encoder.json")).unwrap()).unwrap();
    std::fs::write(pkg.join("kino.json"), serde_json::to_vec_pretty(&m).unwrap()).unwrap();
    pkg
}

pub(crate) fn manifest(pkg: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(pkg.join("kino.json")).unwrap()).unwrap()
}

pub(crate) fn load_err(pkg: &Path) -> String {
    let e = ModelPackage::load(pkg).expect_err("a broken package must not load").to_string();
    assert!(!e.contains('\n'), "one line: {e}");
    e
}

/// A wrong field is named by its path, whatever part of parsing finds it, and a number too long
/// to read is shown in exponent form.
#[test]
fn wrong_fields_are_named_by_their_path() {
    let pkg = copy_package("field-paths", "models/kino-shapes");
    let shipped = manifest(&pkg);
    let with = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut m = shipped.clone();
        edit(&mut m);
        std::fs::write(pkg.join("kino.json"), serde_json::to_vec_pretty(&m).unwrap()).unwrap();
        load_err(&pkg)
    };
    let e = with(&|m| m["video"]["fps"] = "8".into());
    assert!(e.contains("field `video.fps`: invalid type: string \"8\""), "{e}");
    let e = with(&|m| m["scheduler"]["kind"] = "nonsense".into());
    assert!(e.contains("field `scheduler.kind`: unknown variant `nonsense`"), "{e}");
    let e = with(&|m| m["tokenizer"]["unknown_words"] = "forget".into());
    assert!(e.contains("field `tokenizer.unknown_words`: unknown variant `forget`, expected `keep` or `drop`"), "{e}");
    let e = with(&|m| m["video"]["fps"] = 1e300.into());
    assert!(e.contains("field `video.fps`: 1e300 must be within"), "{e}");
    std::fs::remove_dir_all(pkg.parent().unwrap()).unwrap();
}

#[test]
fn shipped_packages_load() {
    for p in [
        "models/kino-shapes",
        "models/fixtures/wan-tiny",
        "models/fixtures/ltx-tiny",
        "models/fixtures/wan-i2v-tiny",
        "models/fixtures/wan-flf2v-tiny",
    ] {
        ModelPackage::load(repo(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    }
}

#[test]
fn numbers_out_of_range_name_field_and_range() {
    let pkg = copy_package("ranges", "models/kino-shapes");
    let original = manifest(&pkg);
    let cases: &[(&str, serde_json::Value, &str)] = &[
        ("/tokenizer/max_length", 4294967295u64.into(), "field `tokenizer.max_length`: 4294967295 must be within [1, 4096]"),
        ("/tokenizer/max_length", 0.into(), "field `tokenizer.max_length`: 0 must be within [1, 4096]"),
        ("/latent/scaling_factor", 0.into(), "field `latent.scaling_factor`: 0 must be a finite number above 0"),
        ("/latent/scaling_factor", 1e308.into(), "field `latent.scaling_factor`: inf must be a finite number above 0"),
        ("/latent/mean/0", 1e300.into(), "field `latent.mean[0]`: inf must be a finite number"),
        ("/denoiser/max_batch", 0.into(), "field `denoiser.max_batch`: 0 must be within [1, 64]"),
        ("/denoiser/text_dim", 65.into(), "field `denoiser.text_dim`: 65 must be within [64, 64]"),
        ("/text_encoder/text_dim", 0.into(), "field `text_encoder.text_dim`: 0 must be within [1, 65536]"),
        ("/latent/spatial_compression", 128.into(), "field `latent.spatial_compression`: 128 must be within [1, 64]"),
        ("/video/max_size", 100000.into(), "field `video.max_size`: 100000 must be within [1, 8192]"),
        ("/video/min_size", 512.into(), "field `video.max_size`: 64 must be within [512, 8192]"),
        ("/video/max_frames", 4000.into(), "field `video.max_frames`: 4000 must be within [1, 1025]"),
        ("/video/default_frames", 37.into(), "field `video.default_frames`: 37 must be within [1, 17]"),
        ("/video/fps", 0.into(), "field `video.fps`: 0 must be within (0, 240]"),
        ("/video/fps", 1000.into(), "field `video.fps`: 1000 must be within (0, 240]"),
        ("/defaults/steps", 0.into(), "field `defaults.steps`: 0 must be within [1, 1000]"),
        ("/defaults/guidance", 51.into(), "field `defaults.guidance`: 51 must be within [0, 50]"),
        ("/defaults/candidates", 0.into(), "field `defaults.candidates`: 0 must be within [1, 16]"),
        ("/defaults/candidates", 17.into(), "field `defaults.candidates`: 17 must be within [1, 16]"),
        ("/defaults/candidates", u64::MAX.into(), "field `defaults.candidates`: 18446744073709551615 must be within [1, 16]"),
        ("/scheduler/shift", 0.into(), "field `scheduler.shift`: 0 must be within [0.001, 1000]"),
        ("/scheduler/num_train_timesteps", 0.into(), "field `scheduler.num_train_timesteps`: 0 must be within [1, 100000]"),
        ("/conditioning/context_frames", 17.into(), "field `conditioning.context_frames`: 17 frames are 5 latent frames"),
        ("/conditioning/context_frames", 0.into(), "field `conditioning.context_frames`: 0 must be within [1, 17]"),
        ("/vae_decoder/step_latent_frames", 0.into(), "field `vae_decoder.step_latent_frames`: 0 must be within [1, 64]"),
        ("/vae_decoder/caches", serde_json::json!(vec!["c"; 257]), "field `vae_decoder.caches`: 257 caches; at most 256"),
    ];
    for (pointer, value, want) in cases {
        let mut m = original.clone();
        *m.pointer_mut(pointer).unwrap() = value.clone();
        std::fs::write(pkg.join("kino.json"), serde_json::to_vec(&m).unwrap()).unwrap();
        let e = load_err(&pkg);
        assert!(e.contains(&format!("kino.json: {want}")), "{pointer} = {value}: {e}");
    }
    // An optional field, absent from the package: a guidance interval must rise within [0, 1].
    let mut m = original.clone();
    m["defaults"]["guidance_interval"] = serde_json::json!([0.8, 0.2]);
    std::fs::write(pkg.join("kino.json"), serde_json::to_vec(&m).unwrap()).unwrap();
    let e = load_err(&pkg);
    assert!(
        e.contains("kino.json: field `defaults.guidance_interval`: noise levels 0.8,0.2: give LOW,HIGH with 0 <= LOW < HIGH <= 1"),
        "{e}"
    );
    // The largest latent the limits allow is bounded too, not only each number.
    let mut m = original.clone();
    m["video"]["max_size"] = 8192.into();
    m["video"]["max_frames"] = 1025.into();
    std::fs::write(pkg.join("kino.json"), serde_json::to_vec(&m).unwrap()).unwrap();
    assert!(load_err(&pkg).contains("the largest latent would hold"));
    std::fs::remove_dir_all(pkg.parent().unwrap()).unwrap();
}

#[test]
fn context_places_are_declared_and_checked() {
    use crate::model::ContextAt;
    let pkg = copy_package("context-at", "models/kino-shapes");
    let original = manifest(&pkg);
    let write = |m: &serde_json::Value| std::fs::write(pkg.join("kino.json"), serde_json::to_vec(m).unwrap()).unwrap();

    // A package from before the field: clean context at either end, nothing else.
    let mut m = original.clone();
    let cond = m["conditioning"].as_object_mut().unwrap();
    cond.remove("context_at");
    cond.remove("keyframe_latent");
    write(&m);
    let p = ModelPackage::load(&pkg).unwrap();
    assert_eq!(p.manifest.conditioning.context_places(), vec![ContextAt::Start, ContextAt::End]);
    assert!(!p.manifest.conditioning.supports(ContextAt::BothEnds));

    let mut m = original.clone();
    m["conditioning"]["context_at"] = serde_json::json!(["start", "both_ends", "keyframes"]);
    m["conditioning"]["keyframe_latent"] = "still_group".into();
    write(&m);
    let p = ModelPackage::load(&pkg).unwrap();
    assert!(p.manifest.conditioning.supports(ContextAt::BothEnds) && !p.manifest.conditioning.supports(ContextAt::End));

    let cases: [(&str, serde_json::Value, &str); 3] = [
        ("/conditioning/clean_context", false.into(), "places for clean context need `conditioning.clean_context: true`"),
        ("/conditioning/keyframe_latent", serde_json::Value::Null, "`keyframes` needs `conditioning.keyframe_latent`"),
        ("/conditioning/context_at", serde_json::json!(["middle"]), "unknown variant `middle`"),
    ];
    for (pointer, value, want) in cases {
        let mut bad = m.clone();
        *bad.pointer_mut(pointer).unwrap() = value.clone();
        write(&bad);
        let e = load_err(&pkg);
        assert!(e.contains(want), "{pointer} = {value}: {e}");
    }
    // Extra context tokens need positions: the demo model's denoiser takes none.
    let mut bad = original.clone();
    bad["conditioning"]["context_tokens"] = true.into();
    write(&bad);
    let e = load_err(&pkg);
    assert!(e.contains("`conditioning.context_tokens`") && e.contains("denoiser.video_coords"), "{e}");
    std::fs::remove_dir_all(pkg.parent().unwrap()).unwrap();
}

/// A graph that disagrees with the manifest on what kino feeds it is refused when it opens,
/// naming the field, not after the denoising with ONNX Runtime's words.
#[test]
fn graphs_that_disagree_with_the_manifest_are_refused_when_they_open() {
    use crate::model::{Denoiser, VaeDecoder};
    use crate::runtime::{Device, RuntimeOptions};
    let pkg = copy_package("graph-agree", "models/kino-shapes");
    let original = manifest(&pkg);
    let write = |m: &serde_json::Value| std::fs::write(pkg.join("kino.json"), serde_json::to_vec(m).unwrap()).unwrap();
    let opts = RuntimeOptions { threads: Some(1), ..RuntimeOptions::from_env() };
    let decoder_err = || VaeDecoder::load(&ModelPackage::load(&pkg).unwrap(), Device::Cpu, &opts).err().map(|e| e.to_string());
    assert_eq!(decoder_err(), None, "the shipped package opens");
    // No caches listed: the step graph's cache input would go unfed.
    let mut bad = original.clone();
    bad["vae_decoder"]["caches"] = serde_json::json!([]);
    write(&bad);
    let e = decoder_err().unwrap();
    assert!(e.contains("`vae_decoder.step.inputs` names the role `cache_in_0`, which kino does not feed") && e.contains("lists 0"), "{e}");
    // A cache role on the first graph, which starts a clip.
    let mut bad = original.clone();
    bad["vae_decoder"]["first"]["inputs"]["cache_in_0"] = bad["vae_decoder"]["step"]["inputs"]["cache_in_0"].clone();
    write(&bad);
    let e = decoder_err().unwrap();
    assert!(e.contains("`vae_decoder.first.inputs` names the role `cache_in_0`") && e.contains("takes no caches"), "{e}");
    // Another model's decoder (16 latent channels, where this package has 4).
    write(&original);
    std::fs::copy(repo("models/fixtures/wan-tiny/vae_decoder_first.onnx"), pkg.join("vae_decoder_first.onnx")).unwrap();
    let e = decoder_err().unwrap();
    assert!(e.contains("has 16 at axis 1, but `latent.channels` says 4"), "{e}");
    // A denoiser of 4 latent channels in a package that says 8.
    let mut bad = original.clone();
    bad["latent"]["channels"] = 8.into();
    bad["latent"]["mean"] = serde_json::json!(vec![0.0; 8]);
    bad["latent"]["std"] = serde_json::json!(vec![1.0; 8]);
    write(&bad);
    let e = Denoiser::load(&ModelPackage::load(&pkg).unwrap(), Device::Cpu, &opts).err().unwrap().to_string();
    assert!(e.contains("has 4 at axis 1, but `latent.channels` says 8"), "{e}");
    std::fs::remove_dir_all(pkg.parent().unwrap()).unwrap();
}

/// A manifest saved with a byte-order mark loads; a name that would break a listing or a
/// terminal line does not.
#[test]
fn byte_order_marks_load_and_names_are_one_readable_line() {
    let pkg = copy_package("bom-name", "models/kino-shapes");
    let original = std::fs::read(pkg.join("kino.json")).unwrap();
    std::fs::write(pkg.join("kino.json"), [b"\xef\xbb\xbf".as_slice(), &original].concat()).unwrap();
    let tok = std::fs::read(pkg.join("tokenizer.json")).unwrap();
    std::fs::write(pkg.join("tokenizer.json"), [b"\xef\xbb\xbf".as_slice(), &tok].concat()).unwrap();
    let p = ModelPackage::load(&pkg).unwrap();
    assert_eq!(p.manifest.name, "kino-shapes");
    let t = crate::text::PromptTokenizer::load(&pkg.join("tokenizer.json"), &p.manifest.tokenizer).unwrap();
    assert!(t.encode(&["a red circle"]).is_ok());
    for name in ["evil\n\u{1b}[31mred", "", "   ", &"x".repeat(101)] {
        let mut m: serde_json::Value = serde_json::from_slice(&original).unwrap();
        m["name"] = name.into();
        std::fs::write(pkg.join("kino.json"), serde_json::to_vec(&m).unwrap()).unwrap();
        let e = load_err(&pkg);
        assert!(e.contains("field `name`") && e.contains("1 to 100 characters on one line") && !e.contains('\u{1b}'), "{e}");
    }
    std::fs::remove_dir_all(pkg.parent().unwrap()).unwrap();
}

#[test]
fn context_channels_and_image_frames_come_with_their_inputs() {
    let pkg = copy_package("context-channels", "models/fixtures/wan-flf2v-tiny");
    let original = manifest(&pkg);
    let write = |m: &serde_json::Value| std::fs::write(pkg.join("kino.json"), serde_json::to_vec(m).unwrap()).unwrap();
    let p = ModelPackage::load(&pkg).unwrap();
    assert!(p.manifest.conditioning.context_channels && p.manifest.image_encoder.is_some());
    assert!(p.named_files().iter().any(|(field, f)| field == "image_encoder.file" && f == "image_encoder.onnx"));
    let cases: [(&str, serde_json::Value, &str); 5] = [
        ("/conditioning/clean_context", true.into(), "goes without `clean_context`"),
        ("/vae_encoder", serde_json::Value::Null, "needs `vae_encoder` and the denoiser input role `condition`"),
        ("/image_encoder", serde_json::Value::Null, "`conditioning.image_frames`: needs"),
        ("/conditioning/image_frames", serde_json::json!(["first", "last", "first"]), "at most two"),
        ("/image_encoder/tokens", 0.into(), "`image_encoder.tokens`"),
    ];
    for (pointer, value, want) in cases {
        let mut bad = original.clone();
        *bad.pointer_mut(pointer).unwrap() = value.clone();
        write(&bad);
        let e = load_err(&pkg);
        assert!(e.contains(want), "{pointer} = {value}: {e}");
    }
    // Without image frames a denoiser that takes image tokens is refused when it opens.
    let mut bad = original.clone();
    bad["conditioning"]["image_frames"] = serde_json::json!([]);
    write(&bad);
    let p = ModelPackage::load(&pkg).unwrap();
    let e = crate::model::Denoiser::load(&p, crate::runtime::Device::Cpu, &crate::runtime::RuntimeOptions::from_env())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("`image_embeds` and `conditioning.image_frames` come together"), "{e}");
    std::fs::remove_dir_all(pkg.parent().unwrap()).unwrap();
}

#[test]
fn a_package_names_only_its_own_regular_files() {
    let pkg = copy_package("paths", "models/kino-shapes");
    let original = manifest(&pkg);
    let outside = pkg.parent().unwrap().join("outside.onnx");
    std::fs::copy(pkg.join("denoiser.onnx"), &outside).unwrap();
    std::os::unix::fs::symlink(&outside, pkg.join("link-out.onnx")).unwrap();
    std::os::unix::fs::symlink("denoiser.onnx", pkg.join("link-in.onnx")).unwrap();
    for (file, want) in [
        ("../outside.onnx", "goes up a folder"),
        ("../../../../../../etc/shadow", "goes up a folder"),
        ("/etc/shadow", "is an absolute path"),
        ("/proc/self/environ", "is an absolute path"),
        ("link-out.onnx", "symlink that leaves the package folder"),
        (".", "not a regular file"),
        ("link-in.onnx", ""),
    ] {
        let mut m = original.clone();
        m["denoiser"]["file"] = file.into();
        std::fs::write(pkg.join("kino.json"), serde_json::to_vec(&m).unwrap()).unwrap();
        if want.is_empty() {
            ModelPackage::load(&pkg).unwrap();
            continue;
        }
        let e = load_err(&pkg);
        assert!(e.contains(want) && e.contains("field `denoiser.file`"), "{file}: {e}");
    }
    // kino.json itself: a symlink to /dev/zero, and a file over the cap.
    std::fs::remove_file(pkg.join("kino.json")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", pkg.join("kino.json")).unwrap();
    assert!(load_err(&pkg).contains("leaves the package folder"));
    std::fs::remove_file(pkg.join("kino.json")).unwrap();
    let mut big = serde_json::to_vec(&original).unwrap();
    big.resize(5 << 20, b' ');
    std::fs::write(pkg.join("kino.json"), &big).unwrap();
    assert!(load_err(&pkg).contains("larger than 4 MiB"));
    std::fs::remove_dir_all(pkg.parent().unwrap()).unwrap();
}

#[test]
fn external_data_is_checked_and_named() {
    let pkg = copy_package("external", "models/kino-shapes");
    let graph = std::fs::read(repo("tests/fixtures/external-data/model.onnx")).unwrap();
    // The graph without its data: the error names the data file.
    std::fs::write(pkg.join("denoiser.onnx"), &graph).unwrap();
    let e = load_err(&pkg);
    assert!(e.contains("model.onnx_data: missing (the external data of denoiser.onnx)"), "{e}");
    // With it, the package loads (the graph's inputs are only checked when a session opens).
    std::fs::copy(repo("tests/fixtures/external-data/model.onnx_data"), pkg.join("model.onnx_data")).unwrap();
    ModelPackage::load(&pkg).unwrap();
    // A graph whose data location leaves the package.
    let name = b"model.onnx_data";
    let at = graph.windows(name.len()).position(|w| w == name).unwrap();
    let mut hostile = graph.clone();
    hostile[at..at + name.len()].copy_from_slice(b"../../etc/passw");
    std::fs::write(pkg.join("denoiser.onnx"), &hostile).unwrap();
    assert!(load_err(&pkg).contains("goes up a folder"));
    // Not ONNX at all.
    std::fs::write(pkg.join("denoiser.onnx"), b"this is not onnx").unwrap();
    assert!(load_err(&pkg).contains("denoiser.onnx: not an ONNX graph"));
    // Empty files parse as an empty graph or fail later: said at load, graph or tokenizer.
    std::fs::write(pkg.join("denoiser.onnx"), b"").unwrap();
    assert!(load_err(&pkg).contains("denoiser.onnx: is empty (0 bytes)"), "{}", load_err(&pkg));
    std::fs::copy(repo("models/kino-shapes/denoiser.onnx"), pkg.join("denoiser.onnx")).unwrap();
    std::fs::write(pkg.join("tokenizer.json"), b"").unwrap();
    assert!(load_err(&pkg).contains("tokenizer.json: is empty (0 bytes)"), "{}", load_err(&pkg));
    std::fs::remove_dir_all(pkg.parent().unwrap()).unwrap();
}
