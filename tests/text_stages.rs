//! A text encoder split into two graphs (`tests/fixtures/text-stages/wan-tiny`, the wan-tiny
//! encoder as a chain): `kino generate` makes the one-graph package's frames, with the chain kept
//! loaded or streamed one graph at a time, and `kino bench --low-memory` times the streamed chain.

mod common;

use std::path::{Path, PathBuf};

use common::*;

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

/// wan-tiny with the staged graphs dropped in and the fixture's `text_encoder.json` as the
/// manifest's `text_encoder` block.
fn staged_package(dir: &Path) -> PathBuf {
    let pkg = dir.join("staged");
    std::fs::create_dir_all(&pkg).unwrap();
    for e in std::fs::read_dir(repo("models/fixtures/wan-tiny")).unwrap().flatten() {
        std::fs::copy(e.path(), pkg.join(e.file_name())).unwrap();
    }
    let stages = repo("tests/fixtures/text-stages/wan-tiny");
    for e in std::fs::read_dir(&stages).unwrap().flatten().filter(|e| e.file_name() != "text_encoder.json") {
        std::fs::copy(e.path(), pkg.join(e.file_name())).unwrap();
    }
    let mut m: serde_json::Value = serde_json::from_slice(&file_bytes(&pkg.join("kino.json"))).unwrap();
    m["text_encoder"] = serde_json::from_slice(&file_bytes(&stages.join("text_encoder.json"))).unwrap();
    std::fs::write(pkg.join("kino.json"), serde_json::to_vec_pretty(&m).unwrap()).unwrap();
    pkg
}

/// The PNG frames `kino generate` writes into `out` for `pkg`, decoded.
fn generate(pkg: &Path, out: &Path, extra: &[&str]) -> Vec<kino::RgbFrame> {
    let mut args = vec!["generate", "a red circle moving left", "--seed", "5", "--steps", "3", "--threads", "1"];
    args.extend(["--no-embed-cache", "--quiet"]);
    args.extend(extra);
    let r = kino_command().args(&args).arg("--model").arg(pkg).arg("-o").arg(format!("{}/", out.display())).output().unwrap();
    assert_ok(&r);
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(out).unwrap().flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "png")).collect();
    files.sort();
    files.iter().map(|f| kino::video::decode_image(f).unwrap()).collect()
}

#[test]
fn staged_encoder_frames_match_the_one_graph_package_kept_or_streamed() {
    let d = tmpdir("stages-frames");
    let staged = staged_package(&d);
    let want = generate(&repo("models/fixtures/wan-tiny"), &d.join("one"), &["--keep-loaded"]);
    assert!(!want.is_empty());
    for (tag, flag) in [("kept", "--keep-loaded"), ("streamed", "--low-memory")] {
        let got = generate(&staged, &d.join(tag), &[flag]);
        // On this fixture the chain's embeddings equal the one graph's to the bit (the unit tests
        // allow 1e-5), so the frames are identical.
        assert_eq!(got.len(), want.len(), "{tag}");
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!(g == w, "{tag} frame {i}: mean abs diff {} levels", g.mean_abs_diff(w));
        }
    }
}

#[test]
fn a_missing_stage_file_is_named_before_anything_loads() {
    let d = tmpdir("stages-missing");
    let staged = staged_package(&d);
    let m: serde_json::Value = serde_json::from_slice(&file_bytes(&staged.join("kino.json"))).unwrap();
    let stage = m["text_encoder"]["stages"][0]["file"].as_str().unwrap().to_string();
    std::fs::remove_file(staged.join(&stage)).unwrap();
    let out = d.join("out.mp4");
    let r = kino_command().args(["generate", "x", "--model"]).arg(&staged).arg("-o").arg(&out).output().unwrap();
    assert_clean_failure(&r, &out, "field `text_encoder.stages[0].file`");
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains(&stage) && err.contains("missing"), "{err}");
}

#[test]
fn bench_low_memory_times_the_streamed_encoder_and_each_step() {
    let d = tmpdir("stages-bench");
    let staged = staged_package(&d);
    let args = ["bench", "--low-memory", "--runs", "2", "--steps", "3", "--threads", "1", "--json", "--model"];
    let out = kino_command().args(args).arg(&staged).output().unwrap();
    assert_ok(&out);
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).expect("bench --json prints one JSON object");
    assert_eq!(r["low_memory"], true);
    let loads = r["component_loads"].as_array().unwrap();
    let names: Vec<&str> = loads.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["text_encoder", "denoiser", "vae_decoder"]);
    assert!(loads.iter().all(|c| c["cold_s"].as_f64().unwrap() > 0.0 && c["warm_s"].as_f64().unwrap() > 0.0), "{loads:?}");
    let streamed: Vec<bool> = loads.iter().map(|c| c["streamed"].as_bool().unwrap()).collect();
    assert_eq!(streamed, [true, false, false], "the text encoder's load is its graphs' opening");
    assert_eq!(r["step_ms"]["count"], 2 * 2, "steps after the first, per run");
    assert!(r["step_ms"]["median"].as_f64().unwrap() > 0.0);
    // No session outlives its use: no per-component runs, no time inside ONNX Runtime claimed.
    assert_eq!(r["components"].as_array().unwrap().len(), 0);
    assert!(r["ort_s"].is_null() && r["outside_ort_pct"].is_null(), "{r}");
}
