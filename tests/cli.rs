//! The `kino` binary end to end: real model package, real ONNX Runtime, real FFmpeg encode,
//! checked with ffprobe and by decoding the files.

use std::path::{Path, PathBuf};

use kino::video::decode_video;

mod common;

use common::*;

#[test]
fn generate_with_defaults_writes_a_browser_playable_mp4() {
    let d = tmpdir("default");
    let out = d.join("clip.mp4");
    let sheet = d.join("sheet.png");
    let r =
        kino(&["generate", "a red circle moving left", "-o", out.to_str().unwrap(), "--seed", "3", "--preview", sheet.to_str().unwrap()]);
    assert_ok(&r);
    let s = ffprobe(&out);
    assert_eq!(s["codec_name"], "h264");
    assert_eq!(s["pix_fmt"], "yuv420p");
    assert_eq!((s["width"].as_u64(), s["height"].as_u64()), (Some(64), Some(64)));
    assert_eq!(s["nb_read_frames"], "17");
    assert_eq!(s["avg_frame_rate"], "8/1");
    let img = image::open(&sheet).unwrap();
    assert!(img.width() > 64 * 8);
}

#[test]
fn same_seed_same_frames_other_seed_or_prompt_other_frames() {
    let d = tmpdir("determinism");
    let run = |name: &str, prompt: &str, seed: &str| {
        let p = d.join(name);
        assert_ok(&kino(&["generate", prompt, "-o", p.to_str().unwrap(), "--seed", seed, "--quiet"]));
        decode_video(&p).unwrap().frames
    };
    let a = run("a.mkv", "a blue square moving up", "11");
    let b = run("b.mkv", "a blue square moving up", "11");
    let c = run("c.mkv", "a blue square moving up", "12");
    let e = run("e.mkv", "a yellow triangle moving right", "11");
    assert_eq!(a.len(), 17);
    assert_eq!(a, b, "same seed must give identical frames");
    assert_eq!(file_bytes(&d.join("a.mkv")), file_bytes(&d.join("b.mkv")), "and the same file, byte for byte");
    assert_ne!(a, c, "another seed must give other frames");
    assert_ne!(a, e, "another prompt must give other frames");
    // Frames of one clip differ from each other (it moves).
    assert_ne!(a[0], a[16]);
    // -p is --prompt, on generate (the flag form) and the commands that take a clip.
    let p = d.join("p.mkv");
    assert_ok(&kino(&["generate", "-p", "a blue square moving up", "-o", p.to_str().unwrap(), "--seed", "11", "-q"]));
    assert_eq!(decode_video(&p).unwrap().frames, a, "generate -p is generate's prompt");
    let (x, y) = (d.join("x.mkv"), d.join("y.mkv"));
    let extend = |flag: &str, out: &Path| {
        let c = d.join("a.mkv");
        assert_ok(&kino(&[
            "extend",
            c.to_str().unwrap(),
            flag,
            "a blue square moving up",
            "--frames",
            "8",
            "--seed",
            "3",
            "-q",
            "-o",
            out.to_str().unwrap(),
        ]));
    };
    extend("-p", &x);
    extend("--prompt", &y);
    assert_eq!(file_bytes(&x), file_bytes(&y), "extend -p is --prompt");
}

#[test]
fn io_binding_and_plain_runs_give_the_same_frames_across_windows() {
    // 5 s = 40 frames: two windows, the second conditioned on the first and reusing its binding.
    let d = tmpdir("binding");
    let run = |name: &str, extra: &[&str]| {
        let p = d.join(name);
        let mut args = vec!["generate", "a green square moving down", "-o", p.to_str().unwrap(), "--seconds", "5", "--seed", "4", "-q"];
        args.extend_from_slice(extra);
        assert_ok(&kino(&args));
        decode_video(&p).unwrap().frames
    };
    let bound = run("bound.mkv", &[]);
    let plain = run("plain.mkv", &["--unbound-runs"]);
    assert_eq!(bound.len(), 40);
    assert!(bound == plain, "IoBinding changed the frames");
}

#[test]
fn length_size_and_png_sequence_options() {
    let d = tmpdir("options");
    let frames_dir = d.join("frames");
    let target = format!("{}/", frames_dir.display());
    assert_ok(&kino(&[
        "generate",
        "a white square standing still",
        "-o",
        &target,
        "--frames",
        "9",
        "--size",
        "96x64",
        "--steps",
        "4",
        "--seed",
        "1",
        "--quiet",
        // The shipped demo model draws 64x64 only; the tiny Wan fixture takes any multiple of 16.
        "--model",
        concat!(env!("CARGO_MANIFEST_DIR"), "/models/fixtures/wan-tiny"),
    ]));
    let names: Vec<String> =
        std::fs::read_dir(&frames_dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(names.iter().filter(|n| n.ends_with(".png")).count(), 9);
    // Marked as kino's, so a later run may replace the folder (and no other folder).
    assert_eq!(names.len(), 10);
    assert!(frames_dir.join(kino::video::FRAMES_MARKER).is_file());
    let img = image::open(frames_dir.join("00000.png")).unwrap();
    assert_eq!((img.width(), img.height()), (96, 64));
    // The demo model says which size it draws rather than drawing garbage at another.
    let refused = kino(&["generate", "x", "-o", d.join("big.mp4").to_str().unwrap(), "--size", "128x128", "--quiet"]);
    assert!(!refused.status.success() && !d.join("big.mp4").exists());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("width 128 is not supported by model kino-shapes: it was trained at 64x64 only"), "{err}");
    // --seconds rounds to the nearest valid count: 1 s at 8 fps -> 9 frames.
    let out = d.join("one.mp4");
    assert_ok(&kino(&["generate", "a green circle moving down", "-o", out.to_str().unwrap(), "--seconds", "1", "--steps", "4", "--quiet"]));
    assert_eq!(ffprobe(&out)["nb_read_frames"], "9");
}

#[test]
fn bad_input_fails_cleanly_with_one_line() {
    let d = tmpdir("bad");
    let out = d.join("clip.mp4");
    let o = out.to_str().unwrap();
    assert_clean_failure(&kino(&["generate", "x", "-o", o, "--size", "63x64"]), &out, "trained at 64x64 only");
    assert_clean_failure(
        &kino(&["generate", "x", "-o", o, "--size", "100000x100000"]),
        &out,
        "--size \"100000x100000\": width must be from 1 to 8192",
    );
    assert_clean_failure(&kino(&["generate", "x", "-o", o, "--size", "big"]), &out, "WIDTHxHEIGHT");
    assert_clean_failure(&kino(&["generate", "x", "-o", o, "--frames", "0"]), &out, "nearest");
    assert_clean_failure(&kino(&["generate", "x", "-o", o, "--frames", "10"]), &out, "nearest: 9");
    assert_clean_failure(&kino(&["generate", "x", "-o", o, "--steps", "0"]), &out, "steps");
    assert_clean_failure(&kino(&["generate", "x", "-o", o, "--seconds", "inf"]), &out, "--seconds inf: kino makes at most an hour");
    assert_clean_failure(&kino(&["generate", "x", "-o", o, "--seconds", "-1"]), &out, "use a positive length");
    assert_clean_failure(&kino(&["generate", "x", "-o", o, "--guidance", "NaN"]), &out, "guidance");
    assert_clean_failure(&kino(&["generate", "x", "-o", o, "--device", "gpu"]), &out, "unknown device");
    assert_clean_failure(&kino(&["generate", "x", "-o", o, "--model", d.join("nope").to_str().unwrap()]), &out, "no such folder");
    // The fix in the command line's words.
    assert_clean_failure(
        &kino(&["generate", "x", "-o", o, "--model", d.join("nope").to_str().unwrap()]),
        &out,
        "no such folder; pass --model with a model package folder",
    );
    assert_clean_failure(&kino(&["generate", "x", "-o", "clip.avi"]), Path::new("clip.avi"), ".mp4");
    let missing = d.join("no/such/dir/clip.mp4");
    assert_clean_failure(&kino(&["generate", "x", "-o", missing.to_str().unwrap()]), &missing, "does not exist");
    assert_clean_failure(&kino(&["generate", "x", "-o", o, "--ort-lib", "/nonexistent/libonnxruntime.so"]), &out, "onnx runtime");
    assert_clean_failure(
        &kino(&["generate", "x", "-o", o, "--ort-lib", d.to_str().unwrap()]),
        &out,
        "is a folder; name the libonnxruntime.so file in it",
    );
    assert_clean_failure(&kino(&["generate", "x", "-o", o, "--cuda-graph"]), &out, "--cuda-graph needs --device cuda");
    assert_clean_failure(
        &kino(&["generate", "x", "-o", o, "--device", "auto", "--cuda-graph", "--unbound-runs"]),
        &out,
        "cannot go with --unbound-runs",
    );
    // A negative number is the flag's value, refused in its own words (not an unknown flag
    // whose hint, `-- -1`, would make it the prompt).
    assert_clean_failure(&kino(&["generate", "x", "-o", o, "--seconds", "-1"]), &out, "--seconds -1: use a positive length");
    assert_clean_failure(&kino(&["generate", "x", "-o", o, "--guidance", "-5"]), &out, "--guidance -5");
    assert_clean_failure(&kino(&["generate", "x", "-o", o, "--seed", "-1"]), &out, "'-1' for '--seed");
    assert_clean_failure(&kino(&["generate", "x", "-o", o, "--keyframe", "-1s=x.png"]), &out, "--keyframe: \"-1s\" is not a time");
    assert_clean_failure(&kino(&["generate", "x", "-o", o, "--prompt-at", "-2=a blue circle"]), &out, "--prompt-at");
    let huge = "a ".repeat(20_000);
    assert_clean_failure(&kino(&["generate", &huge, "-o", o]), &out, "characters");
    // CUDA on a CPU-only ONNX Runtime: a clear error, not a silent fallback.
    let r = kino(&["generate", "x", "-o", o, "--device", "cuda"]);
    if !r.status.success() {
        assert_clean_failure(&r, &out, "cuda");
    }
}

#[test]
fn broken_packages_name_the_field_and_file() {
    let d = tmpdir("broken");
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/kino-shapes");
    let copy = |name: &str| {
        let p = d.join(name);
        std::fs::create_dir_all(&p).unwrap();
        for e in std::fs::read_dir(&shipped).unwrap().flatten() {
            std::fs::copy(e.path(), p.join(e.file_name())).unwrap();
        }
        p
    };
    let edit = |pkg: &Path, f: &dyn Fn(&mut serde_json::Value)| {
        let path = pkg.join("kino.json");
        let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        f(&mut v);
        std::fs::write(&path, serde_json::to_string(&v).unwrap()).unwrap();
    };
    let out = d.join("clip.mp4");
    let gen = |pkg: &Path| {
        kino(&["generate", "a red circle moving left", "-o", out.to_str().unwrap(), "--model", pkg.to_str().unwrap(), "--steps", "2"])
    };

    let p = copy("wrong-input");
    edit(&p, &|v| v["denoiser"]["inputs"]["timestep"]["name"] = "t".into());
    assert_clean_failure(&gen(&p), &out, "denoiser.inputs.timestep");

    let p = copy("wrong-dtype");
    edit(&p, &|v| v["text_encoder"]["inputs"]["input_ids"]["dtype"] = "float32".into());
    assert_clean_failure(&gen(&p), &out, "text_encoder.onnx");

    let p = copy("wrong-mean");
    edit(&p, &|v| v["latent"]["mean"] = serde_json::json!([0.0]));
    assert_clean_failure(&gen(&p), &out, "latent.mean");

    // A compression the graphs do not do: the field is named, not the output that fails later.
    let p = copy("wrong-compression");
    edit(&p, &|v| v["latent"]["spatial_compression"] = 8.into());
    assert_clean_failure(&gen(&p), &out, "latent.spatial_compression is 8, but the VAE decoder makes 32x32 frames");

    let p = copy("future-schema");
    edit(&p, &|v| v["schema_version"] = 99.into());
    assert_clean_failure(&gen(&p), &out, "schema_version 99");

    let p = copy("missing-file");
    std::fs::remove_file(p.join("vae_decoder_step.onnx")).unwrap();
    assert_clean_failure(&gen(&p), &out, "vae_decoder_step.onnx: missing");

    let p = copy("corrupt-onnx");
    std::fs::write(p.join("denoiser.onnx"), b"this is not onnx").unwrap();
    assert_clean_failure(&gen(&p), &out, "denoiser.onnx");

    let p = copy("not-json");
    std::fs::write(p.join("kino.json"), b"{ nope").unwrap();
    assert_clean_failure(&gen(&p), &out, "not valid JSON");

    // Graphs that fail inside ONNX Runtime: kino's one line, and none of ONNX Runtime's own log
    // (it wrote its errors, coloured, straight onto stderr).
    let p = copy("other-tokenizer");
    let wan = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/fixtures/wan-tiny");
    std::fs::copy(wan.join("tokenizer.json"), p.join("tokenizer.json")).unwrap();
    let o = gen(&p);
    assert_clean_failure(&o, &out, "tokenizer.json is not the one the text encoder was exported with");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!stderr.contains("onnxruntime") && !stderr.contains('\u{1b}'), "{stderr}");
    let p = copy("no-caches");
    edit(&p, &|v| v["vae_decoder"]["caches"] = serde_json::json!([]));
    assert_clean_failure(&gen(&p), &out, "`vae_decoder.step.inputs` names the role `cache_in_0`, which kino does not feed");

    // The shipped package itself was not touched by any of this.
    assert!(shipped.join("denoiser.onnx").metadata().unwrap().len() > 1000);
}

/// `--ort-lib` with a bare file name is the file in the working folder, as for every other path
/// (the system's loader would look a bare name up in its library path instead).
#[test]
fn a_relative_ort_library_is_read_from_the_working_folder() {
    let lib = PathBuf::from(std::env::var_os("ORT_DYLIB_PATH").expect("the tests run with ORT_DYLIB_PATH set (test.sh sets it)"));
    let d = tmpdir("ort-relative");
    let out = d.join("clip.mkv");
    let o = kino_command()
        .current_dir(lib.parent().unwrap())
        .args(["generate", "a red circle", "--steps", "1", "-o", out.to_str().unwrap(), "--ort-lib"])
        .arg(lib.file_name().unwrap())
        .output()
        .unwrap();
    assert_ok(&o);
    assert!(out.exists());
}

/// Two packages with one manifest name: `--model NAME` takes the first in the search order, as
/// a shell takes the first command on PATH, and says which it took and which it did not.
#[test]
fn a_name_two_packages_share_is_never_chosen_silently() {
    let d = tmpdir("twins");
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/kino-shapes");
    for place in ["first/one", "second/two"] {
        let p = d.join(place);
        std::fs::create_dir_all(&p).unwrap();
        for e in std::fs::read_dir(&shipped).unwrap().flatten() {
            std::fs::copy(e.path(), p.join(e.file_name())).unwrap();
        }
        let manifest = std::fs::read_to_string(p.join("kino.json")).unwrap();
        std::fs::write(p.join("kino.json"), manifest.replacen("\"kino-shapes\"", "\"twin\"", 1)).unwrap();
    }
    let out = d.join("clip.mp4");
    let search = std::env::join_paths([d.join("first"), d.join("second")]).unwrap();
    let r = common::kino_command()
        .args(["generate", "a red circle moving left", "-o", out.to_str().unwrap(), "--model", "twin", "--steps", "1", "-q"])
        .env("KINO_MODELS_PATH", search)
        .output()
        .unwrap();
    assert_ok(&r);
    let err = String::from_utf8_lossy(&r.stderr);
    let root = d.canonicalize().unwrap();
    let want = format!(
        "2 packages are named \"twin\": using {} (first in the search order), not {}",
        root.join("first/one").display(),
        root.join("second/two").display()
    );
    assert!(err.contains(&want), "{err}");
    // `kino models` lists both and says which one the name does not reach.
    let r = common::kino_command()
        .arg("models")
        .env("KINO_MODELS_PATH", std::env::join_paths([d.join("first"), d.join("second")]).unwrap())
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&r.stdout);
    let lines: Vec<&str> = listed.lines().filter(|l| l.starts_with("twin")).collect();
    assert_eq!(lines.len(), 2, "{listed}");
    assert!(!lines[0].contains("a package above") && lines[1].contains("a package above has this name"), "{listed}");
}

#[test]
fn models_lists_the_shipped_package() {
    let r = kino(&["models"]);
    assert_ok(&r);
    let s = String::from_utf8_lossy(&r.stdout);
    assert!(s.contains("kino-shapes") && s.contains("64x64, 17 frames @ 8 fps"), "{s}");
}

#[test]
fn bench_reports_components_and_time_outside_onnx_runtime() {
    let out = kino(&["bench", "--runs", "2", "--steps", "4", "--threads", "1", "--json"]);
    assert_ok(&out);
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).expect("bench --json prints one JSON object");
    assert_eq!(r["model"], "kino-shapes");
    assert_eq!(r["runs"], 2);
    assert_eq!(r["steps"], 4);
    let names: Vec<&str> = r["components"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["text_encoder", "denoiser", "vae_decoder"]);
    // Guidance 4 on a model with max_batch >= 2: one batched denoiser run per step.
    assert_eq!(r["components"][1]["runs_per_generation"], 4.0);
    let pct = r["outside_ort_pct"].as_f64().unwrap();
    assert!((0.0..100.0).contains(&pct), "{pct}");
    let (e2e, ort) = (r["end_to_end_s"]["median"].as_f64().unwrap(), r["ort_s"]["median"].as_f64().unwrap());
    assert!(ort > 0.0 && ort <= e2e * 1.01, "inside ORT {ort} s of {e2e} s");
    assert!(r["load_cold_s"].as_f64().unwrap() > 0.0 && r["load_warm_s"].as_f64().unwrap() > 0.0);
    let loads = r["component_loads"].as_array().unwrap();
    let loaded: Vec<&str> = loads.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(loaded, ["text_encoder", "denoiser", "vae_decoder"], "each component's load, the VAE encoder never");
    assert!(loads.iter().all(|c| c["cold_s"].as_f64().unwrap() > 0.0 && c["warm_s"].as_f64().unwrap() > 0.0), "{loads:?}");
    assert!(r["peak_rss_mb"].as_f64().unwrap() > 10.0);
    assert_eq!(r["step_ms"]["count"], 2 * 3, "steps after the first, per run");
    assert_eq!((r["io_binding"].as_bool(), r["cuda_graph"].as_bool()), (Some(true), Some(false)));
    // Bound runs are timed like plain ones: the denoiser's runs still count inside ONNX Runtime.
    let plain = kino(&["bench", "--runs", "1", "--steps", "2", "--threads", "1", "--json", "--unbound-runs"]);
    assert_ok(&plain);
    let p: serde_json::Value = serde_json::from_slice(&plain.stdout).unwrap();
    assert_eq!(p["io_binding"].as_bool(), Some(false));
    assert_eq!(p["components"][1]["runs_per_generation"], 2.0);
}

#[test]
fn memory_flags_give_the_same_frames_and_a_prompt_is_cached_once() {
    let d = tmpdir("memory");
    let cache = d.join("cache");
    let run = |name: &str, extra: &[&str]| {
        let p = d.join(name);
        let mut args = vec![
            "generate",
            "a red circle moving up",
            "-o",
            p.to_str().unwrap(),
            "--frames",
            "9",
            "--steps",
            "3",
            "--seed",
            "5",
            "--threads",
            "1",
        ];
        args.extend_from_slice(extra);
        let r = kino_command().env("KINO_CACHE_DIR", &cache).args(&args).output().unwrap();
        assert_ok(&r);
        (decode_video(&p).unwrap().frames, String::from_utf8_lossy(&r.stderr).into_owned())
    };
    let (keep, header) = run("keep.mkv", &["--keep-loaded"]);
    assert!(header.contains("keeping the model loaded"), "{header}");
    let (low, header) = run("low.mkv", &["--low-memory"]);
    assert!(header.contains("low memory"), "{header}");
    let (auto, header) = run("auto.mkv", &[]);
    assert!(!header.contains("low memory") && !header.contains("keeping"), "{header}");
    let (fresh, _) = run("fresh.mkv", &["--low-memory", "--no-embed-cache"]);
    assert_eq!(keep.len(), 9);
    assert!(keep == low && low == auto && auto == fresh, "every mode, cached or not, makes the same frames");
    let entries =
        std::fs::read_dir(cache.join("embeds")).unwrap().flatten().filter(|e| e.path().extension().is_some_and(|x| x == "emb")).count();
    assert_eq!(entries, 1, "one prompt, one cache entry");
    let both = kino(&["generate", "x", "-o", d.join("both.mkv").to_str().unwrap(), "--keep-loaded", "--low-memory"]);
    assert!(!both.status.success() && String::from_utf8_lossy(&both.stderr).contains("cannot be used with"), "{both:?}");
}

/// A damaged entry of the optimised-graph cache costs one run its speed, not every run after:
/// it is removed and written again, and the frames never change.
#[test]
fn a_damaged_cached_graph_is_written_again() {
    let d = tmpdir("graph-cache");
    let cache = d.join("cache");
    let run = |name: &str| {
        let p = d.join(name);
        let r = kino_command()
            .env("KINO_CACHE_DIR", &cache)
            .args(["generate", "a red circle moving up", "-o", p.to_str().unwrap(), "--frames", "5", "--steps", "2", "--seed", "3", "-q"])
            .output()
            .unwrap();
        assert_ok(&r);
        (file_bytes(&p), String::from_utf8_lossy(&r.stderr).into_owned())
    };
    let (first, _) = run("a.mkv");
    let denoiser = std::fs::read_dir(cache.join("ort"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("denoiser")) && p.extension().is_some_and(|x| x == "onnx")
        })
        .max_by_key(|p| p.metadata().unwrap().len())
        .expect("the denoiser's optimised graph is cached");
    let bytes = std::fs::read(&denoiser).unwrap();
    std::fs::write(&denoiser, &bytes[..bytes.len() / 2]).unwrap();
    let (second, said) = run("b.mkv");
    assert!(
        said.contains("cached optimised graph") && said.contains("is not used (it is damaged") && said.contains("optimised again"),
        "{said}"
    );
    let (third, said) = run("c.mkv");
    assert!(!said.contains("cached optimised graph"), "the entry was written again: {said}");
    assert!(first == second && second == third, "the same frames, cached or not");
}

/// Guidance only inside a noise interval: `0,1` is every step (the default's frames), an
/// interval no step reaches is the prompt alone (`--guidance 1`'s frames), one in between
/// differs from both; a bad interval fails naming the flag, with no output.
#[test]
fn guidance_interval_guides_only_the_steps_inside_it() {
    let d = tmpdir("guidance-interval");
    let run = |name: &str, extra: &[&str]| {
        let p = d.join(name);
        let mut args = vec!["generate", "a green square moving up", "-o", p.to_str().unwrap(), "--seed", "3", "-q"];
        args.extend_from_slice(extra);
        assert_ok(&kino(&args));
        decode_video(&p).unwrap().frames
    };
    let every = run("every.mkv", &[]);
    assert!(every == run("all.mkv", &["--guidance-interval", "0,1"]), "0,1 guides every step");
    let alone = run("alone.mkv", &["--guidance", "1"]);
    assert!(alone == run("none.mkv", &["--guidance-interval", "0,0.0001"]), "no step guided: the prompt alone");
    let high = run("high.mkv", &["--guidance-interval", "0.5,1"]);
    assert!(high != every && high != alone, "guided at high noise only: neither");
    for (bad, needle) in [("1,0.5", "0 <= LOW < HIGH <= 1"), ("0.5", "LOW,HIGH"), ("a,1", "not a number")] {
        let out = d.join(format!("bad-{bad}.mkv"));
        let r = kino(&["generate", "x", "--guidance-interval", bad, "-q", "-o", out.to_str().unwrap()]);
        assert_clean_failure(&r, &out, needle);
        assert!(String::from_utf8_lossy(&r.stderr).contains("--guidance-interval"), "the flag is named");
    }
    let b = kino(&["bench", "--runs", "1", "--steps", "2", "--threads", "1", "--json", "--guidance-interval", "0.5,1"]);
    assert_ok(&b);
    let r: serde_json::Value = serde_json::from_slice(&b.stdout).unwrap();
    assert_eq!(r["guidance_interval"], serde_json::json!([0.5, 1.0]));
}

#[test]
fn stochastic_sampler_is_seeded_and_leaves_footage_between_given_frames_deterministic() {
    let d = tmpdir("sampler");
    let run = |name: &str, cmd: &[&str], extra: &[&str]| {
        let p = d.join(name);
        let mut args = cmd.to_vec();
        args.extend_from_slice(&["-o", p.to_str().unwrap(), "--seed", "3", "-q"]);
        args.extend_from_slice(extra);
        assert_ok(&kino(&args));
        decode_video(&p).unwrap().frames
    };
    let gen = ["generate", "a green square moving up"];
    let plain = run("plain.mkv", &gen, &[]);
    assert!(plain == run("sto.mkv", &gen, &["--sampler", "stochastic"]), "the shipped model steps stochastically from text");
    assert!(plain == run("sto2.mkv", &gen, &[]), "the same seed, the same stochastic frames");
    let det = run("det.mkv", &gen, &["--sampler", "deterministic"]);
    assert!(det != plain, "deterministic steps make other frames");
    // A bridge goes from one clip into the other: kino-shapes keeps its steps deterministic
    // (scheduler.stochastic_given_frames false); an explicit sampler applies there too, as an
    // explicit guidance does.
    let clip = d.join("plain.mkv");
    let c = clip.to_str().unwrap();
    let bridge = ["bridge", c, c, "--prompt", "a green square moving up", "--frames", "8"];
    assert!(run("br.mkv", &bridge, &[]) == run("br-det.mkv", &bridge, &["--sampler", "deterministic"]));
    assert!(run("br-sto.mkv", &bridge, &[]) != run("br-sto2.mkv", &bridge, &["--sampler", "stochastic"]), "an explicit sampler applies");
    // Guidance: 2 from text (one window of 17 frames), 4 where footage goes from given frames
    // into the user's (the bridge); an explicit --guidance applies everywhere.
    assert!(plain == run("g2.mkv", &gen, &["--guidance", "2"]), "kino-shapes guides 2 from text");
    assert!(run("br-g4.mkv", &bridge, &["--guidance", "4"]) == run("br.mkv", &bridge, &[]), "and 4 between given frames");
    assert!(run("br-g2.mkv", &bridge, &["--guidance", "2"]) != run("br.mkv", &bridge, &[]), "an explicit 2 applies there too");
    // Extending backwards only arrives at the clip: made as from text.
    let back = ["extend", c, "--prompt", "a green square moving up", "--seconds", "1", "--at", "start"];
    assert!(run("back.mkv", &back, &[]) == run("back-text.mkv", &back, &["--sampler", "stochastic", "--guidance", "2"]));
    // Extending forwards only continues the clip: made as from text (guidance 2, stochastic steps).
    let fwd = ["extend", clip.to_str().unwrap(), "--prompt", "a green square moving up", "--seconds", "2"];
    let ahead = run("fwd.mkv", &fwd, &[]);
    assert!(ahead == run("fwd-g2.mkv", &fwd, &["--guidance", "2"]), "guidance 2 as from text");
    assert!(ahead != run("fwd-det.mkv", &fwd, &["--sampler", "deterministic"]), "stochastic steps as from text");
    // UniPC has no stochastic steps; a sampler nobody knows is refused by name.
    let wan = concat!(env!("CARGO_MANIFEST_DIR"), "/models/fixtures/wan-tiny");
    let out = d.join("wan.mkv");
    let r = kino(&["generate", "x", "--model", wan, "--sampler", "stochastic", "-q", "-o", out.to_str().unwrap()]);
    assert_clean_failure(&r, &out, "stochastic sampler needs a flow-match Euler scheduler");
    let r = kino(&["generate", "x", "--sampler", "ancestral", "-q", "-o", out.to_str().unwrap()]);
    assert!(!r.status.success() && String::from_utf8_lossy(&r.stderr).contains("deterministic or stochastic"));
    assert!(!out.exists());
}

#[test]
fn words_the_model_does_not_know_are_named_in_a_warning() {
    let d = tmpdir("unknown-words");
    let out = d.join("o.mkv");
    let run = |prompt: &str| {
        let o = kino(&["generate", prompt, "--frames", "1", "--steps", "1", "-q", "-o", out.to_str().unwrap()]);
        assert_ok(&o);
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let none = run("zorblax quuxing flibber");
    assert!(none.contains("knows none of the words") && none.contains("\"zorblax\", \"quuxing\", \"flibber\""), "{none}");
    let some = run("a red zorblax circle moving left");
    assert!(some.contains("does not know \"zorblax\"") && !some.contains("knows none"), "{some}");
    assert!(!run("a red circle moving left").contains("warning"), "every word known: no warning");
}

/// People phrase a scene many ways: the demo model's tokenizer reads them as its world's words,
/// so a paraphrase draws the very frames its plain wording draws, and kino says how it read it.
#[test]
fn a_paraphrase_draws_what_its_plain_wording_draws() {
    let d = tmpdir("paraphrase");
    let run = |prompt: &str, name: &str, quiet: bool| {
        let out = d.join(name);
        let mut args = vec!["generate", prompt, "--seed", "4", "--steps", "4", "-o", out.to_str().unwrap()];
        if quiet {
            args.push("-q");
        }
        let o = kino(&args);
        assert_ok(&o);
        (file_bytes(&out), String::from_utf8_lossy(&o.stderr).into_owned())
    };
    let (plain, said) = run("a red circle moving left", "plain.mkv", false);
    assert!(!said.contains(" reads \""), "the world's own words are read as they are: {said}");
    let (para, said) = run("A crimson ball drifts to the left.", "para.mkv", false);
    assert!(said.contains("reads \"A crimson ball drifts to the left.\" as \"a red circle moving left\""), "{said}");
    assert!(!said.contains("warning"), "{said}");
    assert!(plain == para, "a paraphrase of the same scene draws the same frames");
    // Articles whose noun the rules took away, and a direction said twice, are left out.
    let (across, said) = run("In the video, a red ball glides slowly across the screen to the left.", "across.mkv", false);
    assert!(said.contains("as \"a red circle moving left\""), "{said}");
    assert!(across == plain, "{said}");
    // Words it cannot draw are named and left out: the rest still draws that scene.
    let (quick, said) = run("a red circle quickly moving left", "quick.mkv", true);
    assert!(said.contains("does not know \"quickly\"; it reads the prompt without them"), "{said}");
    assert!(!said.contains("reads \"a red"), "--quiet keeps the reading to itself: {said}");
    assert!(quick == plain, "an unknown word left out is as if it were not there");
    let (other, _) = run("a blue square standing still", "other.mkv", true);
    assert!(other != plain, "another scene draws other frames");
}

/// File and folder names are bytes, not always UTF-8 (an old camera card, another locale): a
/// still, a clip and an output folder named so are read and written like any other.
#[test]
fn names_that_are_not_utf8_are_read_and_written() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;

    let d = tmpdir("not-utf8");
    let frames = d.join("frames");
    let f = format!("{}/", frames.display());
    assert_ok(&kino(&["generate", "a red circle moving left", "--seed", "2", "-q", "-o", &f]));
    let still = d.join(OsStr::from_bytes(b"still\xff.png"));
    std::fs::copy(frames.join("00000.png"), &still).unwrap();
    let folder = d.join(OsStr::from_bytes(b"out\xfe"));
    std::fs::create_dir(&folder).unwrap();
    let animated = folder.join(OsStr::from_bytes(b"anim\xfd.mkv"));
    let r = kino_command()
        .args(["animate", "--prompt", "a red circle moving left", "--seed", "2", "-q", "-o"])
        .arg(&animated)
        .arg(&still)
        .output()
        .unwrap();
    assert_ok(&r);
    let made = decode_video(&animated).unwrap().frames;
    assert_eq!(made.len(), 17);
    assert_eq!(made[0], decode_video(&frames.join("00000.png")).unwrap().frames[0], "the still opens the clip");
    for ext in ["mp4", "mkv"] {
        let extended = folder.join(format!("more.{ext}"));
        let r = kino_command()
            .args(["extend", "--prompt", "a red circle moving left", "--frames", "8", "-q", "-o"])
            .arg(&extended)
            .arg(&animated)
            .output()
            .unwrap();
        assert_ok(&r);
        assert_eq!(decode_video(&extended).unwrap().frames.len(), 25, "{ext}");
    }
    // Paths kino reads as text (a keyframe image, a model folder) and prompts: refused before
    // any work, naming the flag.
    let mut key = std::ffi::OsString::from("1=");
    key.push(&still);
    for (args, want) in [
        (vec![OsStr::new("--keyframe"), key.as_os_str()], "--keyframe \"1="),
        (vec![OsStr::new("--model"), OsStr::from_bytes(b"m\xff")], "--model \"m\u{FFFD}\" is not valid UTF-8 text"),
        (vec![OsStr::from_bytes(b"--model=m\xff")], "--model \"m\u{FFFD}\" is not valid UTF-8 text"),
    ] {
        let out = d.join("refused.mp4");
        let r = kino_command().args(["generate", "a red circle moving left", "-o"]).arg(&out).args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(!r.status.success() && err.contains(want) && err.contains("rename the file"), "{err}");
        assert!(!out.exists());
    }
    let r = kino_command().arg("generate").arg(OsStr::from_bytes(b"a red \xff")).output().unwrap();
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(!r.status.success() && err.contains("is not valid UTF-8 text") && err.contains("reads prompts as UTF-8 text"), "{err}");
    // A prompt given by flag is text too, not a file to rename.
    for flag in ["--prompt", "--negative-prompt"] {
        let r = kino_command().args(["generate", flag]).arg(OsStr::from_bytes(b"a red \xff")).output().unwrap();
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(
            err.contains(&format!("{flag} \"a red")) && err.contains("reads prompts as UTF-8 text") && !err.contains("rename"),
            "{err}"
        );
    }
}

/// `--fps` is the output's rate, not a speed-up: the model makes its frames at its own rate and
/// each output frame shows the one nearest in time (as `extend` and the plugins retime), so two
/// seconds at 24 or 25 fps show the same motion as two seconds at the model's 8.
#[test]
fn another_output_rate_keeps_the_motion_pace() {
    let d = tmpdir("fps");
    let at = |fps: &str, cmd: &[&str]| {
        let out = d.join(format!("{}-{fps}.mkv", cmd[0]));
        let mut args = cmd.to_vec();
        args.extend(["--seconds", "2", "--fps", fps, "--seed", "4", "-q", "-o", out.to_str().unwrap()]);
        assert_ok(&kino(&args));
        decode_video(&out).unwrap().frames
    };
    let prompt = "a red circle moving left";
    let native = at("8", &["generate", prompt]);
    assert_eq!(native.len(), 17);
    for (fps, n) in [("24", 48), ("25", 50), ("5", 10)] {
        let f = at(fps, &["generate", prompt]);
        assert_eq!(f.len(), n, "{fps} fps: two seconds");
        let rate: f64 = fps.parse().unwrap();
        for (i, frame) in f.iter().enumerate() {
            let j = ((i as f64 * 8.0 / rate).round() as usize).min(16);
            assert!(*frame == native[j], "{fps} fps: frame {i} shows the model's frame {j}");
        }
    }
    // animate: the still stays first, for as long as its model frame lasts.
    let still = d.join("still.png");
    let first = &native[0];
    image::RgbImage::from_raw(first.width, first.height, first.data.clone()).unwrap().save(&still).unwrap();
    let s = still.to_str().unwrap();
    let anim8 = at("8", &["animate", s, "--prompt", prompt]);
    let anim24 = at("24", &["animate", s, "--prompt", prompt]);
    assert_eq!(anim24.len(), 48);
    assert!(anim24[..2].iter().all(|f| *f == *first), "the still, bit for bit, in the first output frames");
    assert!(anim24[2] == anim8[1] && anim24[47] == anim8[16]);
}
