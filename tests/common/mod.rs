//! Helpers shared by the integration tests that drive the `kino` binary.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

pub fn kino(args: &[&str]) -> Output {
    kino_command().args(args).output().expect("run kino")
}

/// The `kino` binary, told where the checkout's models are: it finds them beside itself only
/// when the target folder is inside the checkout (`target/release/kino` -> `models`).
pub fn kino_command() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kino"));
    c.env("KINO_MODELS_PATH", Path::new(env!("CARGO_MANIFEST_DIR")).join("models"));
    c
}

mod scratch;
pub use scratch::Scratch;

pub fn tmpdir(tag: &str) -> Scratch {
    Scratch::new(&format!("kino-cli-{tag}"))
}

pub fn assert_ok(out: &Output) {
    assert!(out.status.success(), "kino failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// A failure: non-zero exit, one `error:` line, and no file left at `output`.
pub fn assert_clean_failure(out: &Output, output: &Path, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "expected failure, got success: {stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "one error line expected: {stderr}");
    assert!(errors[0].to_lowercase().contains(&needle.to_lowercase()), "{needle:?} not in {:?}", errors[0]);
    assert!(!output.exists(), "partial output left at {}", output.display());
    let dir = output.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            assert!(!e.file_name().to_string_lossy().contains("partial"), "temp file left: {:?}", e.path());
        }
    }
}

pub fn ffprobe(path: &Path) -> serde_json::Value {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=codec_name,width,height,pix_fmt,nb_read_frames,avg_frame_rate",
            "-of",
            "json",
        ])
        .arg(path)
        .output()
        .expect("ffprobe is installed (scripts/setup.sh)");
    assert!(out.status.success());
    serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["streams"][0].clone()
}

/// Every frame of a video file, decoded as RGB.
pub fn frames(path: &Path) -> Vec<kino::RgbFrame> {
    kino::video::decode_video(path).unwrap().frames
}

pub fn file_bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

pub fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    xs[xs.len() / 2]
}

/// Seeds for checks measured over several clips: a seam's size depends on the clip the model
/// drew, so one seed is one sample. `base` first, then two more at a fixed stride.
pub fn seeds(base: u64) -> [u64; 3] {
    [base, base + 1000, base + 2000]
}

/// A floor that holds for the typical clip: at most `floor` for the median of `ratios` (one per
/// clip), all of them printed. The editing toolkit's seam floors are checked this way; the
/// share of clips at or under the floor is what docs/demo-model.md reports.
pub fn assert_median_at_most(what: &str, ratios: &[f64], floor: f64) {
    let m = median(ratios.to_vec());
    let under = ratios.iter().filter(|r| **r <= floor).count();
    eprintln!("{what}: {ratios:.2?}, median {m:.2}, {under} of {} at or under {floor}", ratios.len());
    assert!(m <= floor, "{what}: median {m:.2} over {floor} ({ratios:.2?})");
}

/// The frame's median colour per channel: its background (the object covers far less than half).
pub fn median_colour(f: &kino::RgbFrame) -> [u8; 3] {
    [0, 1, 2].map(|c| {
        let mut v: Vec<u8> = f.data.iter().skip(c).step_by(3).copied().collect();
        v.sort_unstable();
        v[v.len() / 2]
    })
}

/// The object's centre per frame: pixels far from the frame's median colour, averaged around
/// the wrap (the demo world is a torus).
pub fn centre(f: &kino::RgbFrame) -> Option<(f64, f64)> {
    let bg = median_colour(f);
    let (w, h) = (f.width as usize, f.height as usize);
    let (mut sx, mut cx, mut sy, mut cy, mut n) = (0.0, 0.0, 0.0, 0.0, 0usize);
    for y in 0..h {
        for x in 0..w {
            let p = &f.data[3 * (y * w + x)..3 * (y * w + x) + 3];
            if (0..3).any(|c| (p[c] as i32 - bg[c] as i32).abs() > 60) {
                let (ax, ay) = (std::f64::consts::TAU * x as f64 / w as f64, std::f64::consts::TAU * y as f64 / h as f64);
                (sx, cx, sy, cy, n) = (sx + ax.sin(), cx + ax.cos(), sy + ay.sin(), cy + ay.cos(), n + 1);
            }
        }
    }
    let wrap = |s: f64, c: f64, size: usize| (s.atan2(c).rem_euclid(std::f64::consts::TAU)) * size as f64 / std::f64::consts::TAU;
    (n > 0).then(|| (wrap(sx, cx, w), wrap(sy, cy, h)))
}
