//! Parity with diffusers on real architectures: the tiny random-weight Wan2.1 and LTX-Video
//! packages in models/fixtures, fed the same initial latents as diffusers' WanPipeline and
//! LTXPipeline were (tests/fixtures/parity, written by `python -m kino_export.reference.parity_wan`
//! / `parity_ltx`), must give the same frames to 1e-4 in [-1, 1] units.

use std::path::{Path, PathBuf};

use kino::model::ModelPackage;
use kino::pipeline::{Condition, GenerateRequest, Pipeline};
use kino::runtime::RuntimeOptions;
use kino::scheduler::SchedulerConfig;
use kino::RgbFrame;
use serde::Deserialize;

const TOLERANCE: f32 = 1e-4;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[derive(Deserialize)]
struct Case {
    prompt: String,
    negative_prompt: String,
    width: u32,
    height: u32,
    frames: u32,
    steps: usize,
    guidance: f32,
    scheduler: Option<SchedulerConfig>,
    /// Fields merged into the package's kino.json for this case (e.g. LTXConditionPipeline's
    /// causal position offset).
    #[serde(default)]
    manifest: Option<serde_json::Value>,
    /// Frames the window continues from (`context.u8`: RGB24, `[n, H, W, 3]`).
    #[serde(default)]
    context: Option<ContextFrames>,
    /// LTXConditionPipeline's conditions (`condition<i>.u8`: RGB24, `[n, H, W, 3]`).
    #[serde(default)]
    conditions: Vec<ConditionSpec>,
    /// WanImageToVideoPipeline's images (`images.u8`: RGB24, `[n, H, W, 3]`), at these frames.
    #[serde(default)]
    image_frames: Vec<usize>,
    noise_shape: Vec<usize>,
    frames_shape: Vec<usize>,
}

#[derive(Deserialize)]
struct ContextFrames {
    file: String,
    frames: usize,
}

#[derive(Deserialize)]
struct ConditionSpec {
    file: String,
    frames: usize,
    frame_index: usize,
    strength: f32,
}

/// RGB24 frames `[n, H, W, 3]` from `path`.
fn read_frames(path: &Path, n: usize, width: u32, height: u32) -> Vec<RgbFrame> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let size = (width * height * 3) as usize;
    assert_eq!(bytes.len(), n * size, "{} size", path.display());
    bytes.chunks_exact(size).map(|b| RgbFrame { width, height, data: b.to_vec() }).collect()
}

/// `patch` merged into `base`, objects key by key.
fn merge(base: &mut serde_json::Value, patch: &serde_json::Value) {
    match (base, patch) {
        (serde_json::Value::Object(b), serde_json::Value::Object(p)) => {
            for (k, v) in p {
                merge(b.entry(k.clone()).or_insert(serde_json::Value::Null), v);
            }
        }
        (b, p) => *b = p.clone(),
    }
}

fn read_f32(path: &Path) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

/// One case: its name, settings, initial latents, expected latents and expected frames.
type ParityCase = (String, Case, Vec<f32>, Vec<f32>, Vec<RgbFrame>);

/// The cases of a package, sorted by name.
fn cases(package: &str) -> Vec<ParityCase> {
    let dir = root().join("tests/fixtures/parity").join(package);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let d = dir.join(&name);
            let case: Case = serde_json::from_str(&std::fs::read_to_string(d.join("case.json")).unwrap()).unwrap();
            let noise = read_f32(&d.join("noise.f32"));
            let frames = read_f32(&d.join("frames.f32"));
            assert_eq!(noise.len(), case.noise_shape.iter().product::<usize>(), "{name}: noise.f32 size");
            assert_eq!(frames.len(), case.frames_shape.iter().product::<usize>(), "{name}: frames.f32 size");
            let context = match &case.context {
                None => Vec::new(),
                Some(c) => read_frames(&d.join(&c.file), c.frames, case.width, case.height),
            };
            (name, case, noise, frames, context)
        })
        .collect()
}

fn load(package: &str, case: &Case, edit: impl FnOnce(&mut ModelPackage)) -> Pipeline {
    let mut pkg = ModelPackage::load(root().join("models/fixtures").join(package)).unwrap();
    if let Some(patch) = &case.manifest {
        let mut m = serde_json::to_value(&pkg.manifest).unwrap();
        merge(&mut m, patch);
        pkg.manifest = serde_json::from_value(m).expect("case manifest overrides");
    }
    if let Some(s) = &case.scheduler {
        pkg.manifest.scheduler = s.clone();
    }
    edit(&mut pkg);
    let opts = RuntimeOptions { threads: Some(2), ..RuntimeOptions::from_env() };
    Pipeline::from_package(pkg, &opts).unwrap()
}

fn request(c: &Case) -> GenerateRequest {
    GenerateRequest {
        prompt: c.prompt.clone(),
        negative_prompt: Some(c.negative_prompt.clone()),
        width: c.width,
        height: c.height,
        frames: c.frames,
        steps: c.steps,
        guidance: c.guidance,
        guidance_given_frames: None,
        guidance_interval: None,
        seed: 0,
        sampler: None,
        context_mode: None,
        storyboard: Vec::new(),
        candidates: 1,
    }
}

/// Runs every case of `package` and returns (name, max abs error); asserts the tolerance and the
/// coverage the issue asks for: two shapes on the package's scheduler, one on another scheduler.
fn check_package(package: &str, edit: &dyn Fn(&mut ModelPackage)) -> Vec<(String, f32)> {
    let all: Vec<_> = cases(package).into_iter().filter(|c| c.1.context.is_none() && c.1.conditions.is_empty()).collect();
    let mut report = Vec::new();
    let mut shapes = std::collections::BTreeSet::new();
    let mut other_schedulers = 0;
    for (name, case, noise, want, context) in &all {
        let pipe = load(package, case, |p| edit(p));
        let req = request(case);
        assert_eq!(pipe.latent_shape(&req).to_vec(), case.noise_shape, "{name}: latent shape");
        let context = (!context.is_empty()).then_some(context.as_slice());
        let got = pipe.generate_raw(&req, Some(latents(noise, case)), context).unwrap();
        assert_eq!(got.shape(), case.frames_shape, "{name}: frame shape");
        let err = got.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        let spread = want.iter().map(|x| x.abs()).fold(0f32, f32::max);
        eprintln!(
            "{package}/{name}: {}x{}x{} frames, max abs error {err:.3e} (max |frame| {spread:.3})",
            case.width, case.height, case.frames
        );
        // A constant picture would match anything: the reference must have content.
        assert!(spread > 0.05, "{package}/{name}: reference frames are flat");
        match (&case.scheduler, &case.manifest, &case.context) {
            (None, None, None) => {
                shapes.insert((case.width, case.height, case.frames));
            }
            (Some(_), _, None) => other_schedulers += 1,
            _ => {}
        }
        report.push((name.clone(), err));
    }
    let worst: Vec<&(String, f32)> = report.iter().filter(|(_, e)| *e > TOLERANCE).collect();
    assert!(worst.is_empty(), "{package}: max abs error above {TOLERANCE}: {worst:?}");
    assert!(shapes.len() >= 2, "{package}: parity needs two shapes on the package's scheduler, found {shapes:?}");
    assert!(other_schedulers >= 1, "{package}: parity needs one case on another scheduler");
    report
}

#[test]
fn parity_wan_tiny_matches_diffusers_wan_pipeline() {
    let report = check_package("wan-tiny", &|_| {});
    assert!(report.len() >= 3);
}

#[test]
fn parity_ltx_tiny_matches_diffusers_ltx_pipeline() {
    // The references decode without decode noise (its RNG is diffusers'); the timestep input is kept.
    let report = check_package("ltx-tiny", &|p| set_decode_noise(p, 0.0));
    assert!(report.len() >= 3);
}

/// LTXConditionPipeline with a video condition at frame 0 (strength 1): kino's native context
/// mode (clean context tokens at timestep 0, per-token timesteps, LTX's causal positions).
#[test]
fn parity_ltx_tiny_conditioned_matches_diffusers_ltx_condition_pipeline() {
    let conditioned: Vec<_> = cases("ltx-tiny").into_iter().filter(|c| c.1.context.is_some()).collect();
    assert!(!conditioned.is_empty(), "no LTXConditionPipeline case");
    for (name, case, noise, want, context) in &conditioned {
        let pipe = load("ltx-tiny", case, |p| set_decode_noise(p, 0.0));
        let req = request(case);
        let got = pipe.generate_raw(&req, Some(latents(noise, case)), Some(context)).unwrap();
        assert_eq!(got.shape(), case.frames_shape, "{name}: frame shape");
        let err = got.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        eprintln!(
            "ltx-tiny/{name}: {} context frames, {}x{}x{}, max abs error {err:.3e}",
            context.len(),
            case.width,
            case.height,
            case.frames
        );
        assert!(err <= TOLERANCE, "ltx-tiny/{name}: max abs error {err} > {TOLERANCE}");
        // The context must matter: without it the same noise gives other frames.
        let free = pipe.generate_raw(&req, Some(latents(noise, case)), None).unwrap();
        let apart = free.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(apart > 100.0 * TOLERANCE, "ltx-tiny/{name}: the context changed nothing ({apart})");
    }
}

/// LTXConditionPipeline with conditions away from frame 0 (extra tokens at their RoPE positions),
/// first and last frames at once, a clip mid-video and a strength below 1.
#[test]
fn parity_ltx_tiny_conditions_anywhere_match_diffusers_ltx_condition_pipeline() {
    let dir = root().join("tests/fixtures/parity/ltx-tiny");
    let all: Vec<_> = cases("ltx-tiny").into_iter().filter(|c| !c.1.conditions.is_empty()).collect();
    let (mut away, mut several, mut clip_away, mut weak) = (false, false, false, false);
    for (name, case, noise, want, _) in &all {
        let conditions: Vec<Condition> = case
            .conditions
            .iter()
            .map(|c| Condition {
                frames: read_frames(&dir.join(name).join(&c.file), c.frames, case.width, case.height),
                frame_index: c.frame_index,
                strength: c.strength,
            })
            .collect();
        away |= conditions.iter().any(|c| c.frame_index > 0 && c.frames.len() == 1);
        clip_away |= conditions.iter().any(|c| c.frame_index > 0 && c.frames.len() > 1);
        several |= conditions.len() > 1;
        weak |= conditions.iter().any(|c| c.strength < 1.0);
        let pipe = load("ltx-tiny", case, |p| set_decode_noise(p, 0.0));
        let req = request(case);
        let got = pipe.generate_conditioned(&req, Some(latents(noise, case)), &conditions).unwrap();
        assert_eq!(got.shape(), case.frames_shape, "{name}: frame shape");
        let err = got.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        let at: Vec<String> = conditions.iter().map(|c| format!("{}@{}x{}", c.frames.len(), c.frame_index, c.strength)).collect();
        eprintln!("ltx-tiny/{name}: conditions {at:?}, max abs error {err:.3e}");
        assert!(err <= TOLERANCE, "ltx-tiny/{name}: max abs error {err} > {TOLERANCE}");
        // Each condition matters: without it the same noise gives other frames.
        for skip in 0..conditions.len() {
            let rest: Vec<Condition> = conditions.iter().enumerate().filter(|(i, _)| *i != skip).map(|(_, c)| c.clone()).collect();
            let other = pipe.generate_conditioned(&req, Some(latents(noise, case)), &rest).unwrap();
            let apart = other.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            assert!(apart > 100.0 * TOLERANCE, "ltx-tiny/{name}: condition {} changed nothing ({apart})", skip + 1);
        }
    }
    assert!(away && several && clip_away && weak, "cases: an image away from frame 0, several, a clip away from 0, strength < 1");
}

/// Wan2.1 image-to-video (an image at frame 0) and first-last-frame (images at the first and last
/// frames): the given frames as the denoiser's condition channels and image tokens
/// (`conditioning.context_channels`), against diffusers' WanImageToVideoPipeline.
#[test]
fn parity_wan_i2v_and_flf2v_tiny_match_diffusers_wan_image_to_video_pipeline() {
    for package in ["wan-i2v-tiny", "wan-flf2v-tiny"] {
        let all = cases(package);
        assert!(!all.is_empty(), "{package}: no case");
        for (name, case, noise, want, _) in &all {
            let dir = root().join("tests/fixtures/parity").join(package).join(name);
            let images = read_frames(&dir.join("images.u8"), case.image_frames.len(), case.width, case.height);
            let conditions: Vec<Condition> = images
                .iter()
                .zip(&case.image_frames)
                .map(|(f, &at)| Condition { frames: vec![f.clone()], frame_index: at, strength: 1.0 })
                .collect();
            let req = request(case);
            for unbound_runs in [false, true] {
                let pkg = ModelPackage::load(root().join("models/fixtures").join(package)).unwrap();
                let opts = RuntimeOptions { threads: Some(2), unbound_runs, ..RuntimeOptions::from_env() };
                let pipe = Pipeline::from_package(pkg, &opts).unwrap();
                let got = pipe.generate_conditioned(&req, Some(latents(noise, case)), &conditions).unwrap();
                assert_eq!(got.shape(), case.frames_shape, "{name}: frame shape");
                let err = got.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
                eprintln!("{package}/{name}: images at {:?}, unbound runs {unbound_runs}, max abs error {err:.3e}", case.image_frames);
                assert!(err <= TOLERANCE, "{package}/{name}: max abs error {err} > {TOLERANCE}");
            }
            // The images matter: another first image gives other frames.
            let pipe = load(package, case, |_| {});
            let mut other = conditions.clone();
            other[0].frames[0].data.iter_mut().for_each(|v| *v = 255 - *v);
            let apart = pipe.generate_conditioned(&req, Some(latents(noise, case)), &other).unwrap();
            let apart = apart.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            assert!(apart > 100.0 * TOLERANCE, "{package}/{name}: the image changed nothing ({apart})");
            // Every window needs the frames whose images the model sees.
            let err = pipe.generate_conditioned(&req, Some(latents(noise, case)), &[]).unwrap_err().to_string();
            assert!(err.contains("makes video from given frames") && err.contains("not text alone"), "{err}");
            if conditions.len() > 1 {
                let err = pipe.generate_conditioned(&req, Some(latents(noise, case)), &conditions[1..]).unwrap_err().to_string();
                assert!(err.contains("first frame of every window given"), "{err}");
                let err = pipe.generate_conditioned(&req, Some(latents(noise, case)), &conditions[..1]).unwrap_err().to_string();
                assert!(err.contains("last frame of every window given"), "{err}");
            }
        }
    }
}

/// A first-last-frame bridge lays its window out as WanImageToVideoPipeline lays out `image` and
/// `last_image`: bridging one image to another with `4k + 3` new frames is the conditioned
/// window of the parity case (checked against diffusers above) with the same noise, so the
/// frames past the seams' carried residual are that window's frames.
#[test]
fn first_last_frame_bridge_is_the_pipelines_first_and_last_frame() {
    let package = "wan-flf2v-tiny";
    let (name, case, _, _, _) = cases(package).into_iter().next().unwrap();
    let dir = root().join("tests/fixtures/parity").join(package).join(&name);
    let images = read_frames(&dir.join("images.u8"), 2, case.width, case.height);
    let req = GenerateRequest { seed: 17, ..request(&case) };
    // A window as long as the case's (the fixture's default window is 9 frames).
    let pipe = load(package, &case, |p| p.manifest.video.default_frames = case.frames);
    let count = case.frames as usize - 2;
    let conditions = [
        Condition { frames: vec![images[0].clone()], frame_index: 0, strength: 1.0 },
        Condition { frames: vec![images[1].clone()], frame_index: count + 1, strength: 1.0 },
    ];
    let window = pipe.generate_conditioned(&req, None, &conditions).unwrap();
    let mut made = Vec::new();
    pipe.bridge(&req, &images[..1], &images[1..], count, &mut |_| true, &mut |f| {
        made.push(f);
        Ok(())
    })
    .unwrap();
    assert_eq!(made.len(), count);
    // The seams' residual fades over 4 frames from each end; the middle is the window's own.
    let (w, h) = (case.width as usize, case.height as usize);
    let mut compared = 0;
    for (i, f) in made.iter().enumerate().skip(4).take(count.saturating_sub(8)) {
        for (p, px) in f.data.chunks_exact(3).enumerate() {
            for (c, &v) in px.iter().enumerate() {
                let x = window[[0, c, i + 1, p / w, p % w]];
                let want = ((x.clamp(-1.0, 1.0) + 1.0) * 127.5).round();
                assert!((v as f32 - want).abs() <= 1.0, "bridge frame {i}, pixel {p}: {v} against the window's {want}");
                compared += 1;
            }
        }
    }
    assert!(compared >= 3 * w * h, "compared {compared} values");
}

/// IoBinding (the default) and plain runs give bit-identical frames: guidance batched (Wan) and
/// as two runs (max_batch 1), per-token timesteps and video_coords (LTX), and a binding reused
/// by a second generation of the same shapes.
#[test]
fn io_binding_gives_the_same_frames_as_plain_runs() {
    for package in ["wan-tiny", "ltx-tiny"] {
        for max_batch in [None, Some(1)] {
            let (name, case, noise, _, _) = cases(package).into_iter().find(|c| c.1.context.is_none() && c.1.scheduler.is_none()).unwrap();
            let open = |unbound_runs: bool| {
                let mut pkg = ModelPackage::load(root().join("models/fixtures").join(package)).unwrap();
                if let Some(b) = max_batch {
                    pkg.manifest.denoiser.max_batch = b;
                }
                let opts = RuntimeOptions { threads: Some(2), unbound_runs, ..RuntimeOptions::from_env() };
                Pipeline::from_package(pkg, &opts).unwrap()
            };
            let req = request(&case);
            let plain = open(true).generate_raw(&req, Some(latents(&noise, &case)), None).unwrap();
            let bound = open(false);
            for round in 0..2 {
                let got = bound.generate_raw(&req, Some(latents(&noise, &case)), None).unwrap();
                assert!(got == plain, "{package}/{name} (max_batch {max_batch:?}, round {round}): bound runs differ from plain runs");
            }
        }
    }
}

#[test]
fn cuda_graphs_need_bound_runs() {
    let pkg = ModelPackage::load(root().join("models/fixtures/wan-tiny")).unwrap();
    let opts = RuntimeOptions { cuda_graph: true, unbound_runs: true, ..RuntimeOptions::from_env() };
    let err = Pipeline::from_package(pkg, &opts).err().expect("refused").to_string();
    assert!(err.contains("--unbound-runs"), "{err}");
}

fn set_decode_noise(pkg: &mut ModelPackage, scale: f32) {
    match &mut pkg.manifest.vae_decoder {
        kino::model::manifest::VaeSpec::WholeClip { decode_noise_scale, timestep_conditioned, .. } => {
            assert!(*timestep_conditioned, "the LTX fixture's decoder must be timestep-conditioned");
            *decode_noise_scale = scale;
        }
        _ => panic!("the LTX fixture's decoder is whole-clip"),
    }
}

#[test]
fn parity_ltx_decode_noise_is_seeded_and_mixed_in() {
    let (_, case, noise, _, _) = cases("ltx-tiny").into_iter().find(|c| c.1.context.is_none()).unwrap();
    let req = request(&case);
    let quiet = load("ltx-tiny", &case, |p| set_decode_noise(p, 0.0));
    let noisy = load("ltx-tiny", &case, |p| set_decode_noise(p, 0.025));
    let a = quiet.generate_raw(&req, Some(latents(&noise, &case)), None).unwrap();
    let b = noisy.generate_raw(&req, Some(latents(&noise, &case)), None).unwrap();
    let b2 = noisy.generate_raw(&req, Some(latents(&noise, &case)), None).unwrap();
    assert_eq!(b, b2, "same seed, same frames");
    let diff = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
    assert!(diff > 1e-4, "decode noise changed nothing ({diff})");
    let other = GenerateRequest { seed: 1, ..req };
    let c = noisy.generate_raw(&other, Some(latents(&noise, &case)), None).unwrap();
    assert_ne!(b, c, "the decode noise follows the seed");
}

/// The causal-chunk VAE encoder (1 frame, then 4 per step, caches threaded through) against
/// diffusers' `AutoencoderKLWan.encode(...).latent_dist.mode()` on a 9-frame clip.
#[test]
fn parity_wan_tiny_chunked_vae_encoder_matches_diffusers() {
    let d = root().join("tests/fixtures/parity/wan-tiny-vae/encode_32x32x9");
    let meta: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(d.join("case.json")).unwrap()).unwrap();
    let shape: Vec<usize> = serde_json::from_value(meta["frames_shape"].clone()).unwrap();
    let want_shape: Vec<usize> = serde_json::from_value(meta["latents_shape"].clone()).unwrap();
    let frames = read_f32(&d.join("frames.f32"));
    let want = read_f32(&d.join("latents.f32"));
    let pkg = ModelPackage::load(root().join("models/fixtures/wan-tiny")).unwrap();
    let pipe = Pipeline::from_package(pkg, &RuntimeOptions { threads: Some(2), ..RuntimeOptions::from_env() }).unwrap();
    let encoder = pipe.vae_encoder("the parity check").expect("the Wan fixture has a VAE encoder");
    let frames = ndarray::ArrayView5::from_shape([shape[0], shape[1], shape[2], shape[3], shape[4]], &frames).unwrap();
    let got = encoder.encode(frames).unwrap();
    assert_eq!(got.shape(), want_shape);
    let err = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    let spread = want.iter().map(|x| x.abs()).fold(0f32, f32::max);
    eprintln!("wan-tiny VAE encoder: latents {want_shape:?}, max abs error {err:.3e} (max |latent| {spread:.3})");
    assert!(err <= TOLERANCE, "max abs error {err}");
}

/// A case's noise as the initial latents of its window.
fn latents<'a>(noise: &'a [f32], case: &Case) -> ndarray::ArrayView5<'a, f32> {
    let s = &case.noise_shape;
    ndarray::ArrayView5::from_shape([s[0], s[1], s[2], s[3], s[4]], noise).expect("noise.f32 holds noise_shape's values")
}
