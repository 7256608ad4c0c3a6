//! Fuzzing on stable Rust: every parser and validator a user's typing reaches, fed seeded hostile
//! values. Each must return a value or a one-line error: no panic, no abort, no allocation over
//! 64 MiB. CI runs a few thousand cases per parser; a bench-style run sets more:
//! `KINO_FUZZ_CASES=100000 cargo test --release --test fuzz -- --nocapture` (counts and times
//! are printed).

#[path = "common/hostile.rs"]
mod hostile;

use std::path::Path;
use std::time::Instant;

use hostile::{cases, take_largest_allocation, Hostile, PeakAlloc};
use kino::model::ModelPackage;
use kino::pipeline::{parse_size, GenerateRequest};
use kino::text::PromptTokenizer;
use kino::Device;

#[global_allocator]
static ALLOC: PeakAlloc = PeakAlloc;

const MAX_ALLOCATION: usize = 64 << 20;

/// Runs `case` on `n` seeded inputs; a panic names the seed that reproduces it.
fn fuzz(name: &str, default_cases: usize, mut case: impl FnMut(&mut Hostile) -> Result<(), String>) {
    let n = cases(default_cases);
    take_largest_allocation();
    let t0 = Instant::now();
    let mut errors = 0usize;
    for seed in 0..n as u64 {
        let mut h = Hostile::new(seed);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| case(&mut h)));
        match r {
            Ok(Ok(())) => {}
            Ok(Err(msg)) => {
                errors += 1;
                assert!(!msg.trim().is_empty() && !msg.contains('\n'), "{name} seed {seed}: error is not one line: {msg:?}");
            }
            Err(_) => panic!("{name}: seed {seed} panicked"),
        }
    }
    let largest = take_largest_allocation();
    eprintln!("fuzz {name}: {n} cases ({errors} errors) in {:.2} s, largest allocation {} KiB", t0.elapsed().as_secs_f64(), largest >> 10);
    assert!(largest <= MAX_ALLOCATION, "{name}: an allocation of {largest} bytes");
}

fn shipped() -> ModelPackage {
    ModelPackage::load(Path::new(env!("CARGO_MANIFEST_DIR")).join("models/kino-shapes")).unwrap()
}

#[test]
fn size_parser() {
    fuzz("parse_size", 20_000, |h| {
        let s = if h.below(3) == 0 { format!("{}x{}", h.string(), h.string()) } else { h.string() };
        match parse_size(&s, "--size") {
            Ok((w, hgt)) => {
                assert!((1..=8192).contains(&w) && (1..=8192).contains(&hgt), "{s:?} -> {w}x{hgt}");
                Ok(())
            }
            Err(e) => Err(e.to_string()),
        }
    });
}

#[test]
fn device_parser() {
    fuzz("device", 20_000, |h| h.string().parse::<Device>().map(drop).map_err(|e| e.to_string()));
}

#[test]
fn output_paths() {
    // Only checks (metadata reads): nothing is written.
    let mut accepted = 0usize;
    fuzz("output path", 5_000, |h| {
        let suffix = ["", ".mp4", ".mkv", "/", "_%03d.png", ".MOV", "/x.mp4"][h.below(7)];
        let p = format!("{}{suffix}", h.string());
        let inputs = [Path::new("Cargo.toml")];
        kino::video::check_output(Path::new(&p), &inputs).map(drop).map_err(|e| e.to_string())?;
        accepted += 1;
        kino::video::check_png_output(Path::new(&format!("{p}.png")), &inputs).map_err(|e| e.to_string())
    });
    assert!(accepted > 0, "no path was accepted: the fuzz never reached the checks past the format");
}

#[test]
fn request_validation() {
    let pkg = shipped();
    fuzz("request", 20_000, |h| {
        let mut req = GenerateRequest::defaults_for(&pkg, h.string());
        match h.below(6) {
            0 => req.width = h.u64() as u32,
            1 => req.height = h.u64() as u32,
            2 => req.frames = h.u64() as u32,
            3 => req.steps = h.u64() as usize,
            4 => req.guidance = h.f64() as f32,
            _ => req.negative_prompt = Some(h.string()),
        }
        req.validate(&pkg).map_err(|e| e.to_string())
    });
}

#[test]
fn prompt_tokenizer() {
    let pkg = shipped();
    let spec = &pkg.manifest.tokenizer;
    let tok = PromptTokenizer::load(&pkg.dir.join(&spec.file), spec).unwrap();
    fuzz("tokenizer", 5_000, |h| {
        let (a, b) = (h.string(), h.string());
        let batch = tok.encode(&[&a, &b]).map_err(|e| e.to_string())?;
        assert!(batch.ids.ncols() <= spec.max_length.max(1) && batch.ids.nrows() == 2 && batch.mask.dim() == batch.ids.dim(), "{a:?}");
        Ok(())
    });
}
