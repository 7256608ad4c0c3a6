//! Seeded random mutations of the shipped kino.json and tokenizer.json: loading never panics
//! and every error is one line. `KINO_FUZZ_CASES` sets the number of cases (default 2000).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use serde_json::Value;

use super::package_tests::copy_package;
use super::ModelPackage;
use crate::text::PromptTokenizer;

fn cases() -> u64 {
    std::env::var("KINO_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2000)
}

fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T]) -> &'a T {
    &items[(rng.next_u64() % items.len() as u64) as usize]
}

/// JSON pointers to every value under `v` (the root excluded).
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    let children: Vec<(String, &Value)> = match v {
        Value::Object(m) => m.iter().map(|(k, c)| (format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")), c)).collect(),
        Value::Array(a) => a.iter().enumerate().map(|(i, c)| (format!("{at}/{i}"), c)).collect(),
        _ => return,
    };
    for (p, c) in children {
        out.push(p.clone());
        pointers(c, p, out);
    }
}

/// Values a mutation puts in place of another.
fn replacement(rng: &mut ChaCha8Rng, old: &Value) -> Value {
    let numbers = [0.0, -1.0, 1e308, -1e308, 4294967295.0, 1.8446744073709552e19, 0.5, 1e-300, 65537.0, 8193.0];
    let hostile = [
        "../../etc/shadow",
        "/proc/self/environ",
        "/dev/zero",
        "",
        ".",
        "link-out.onnx",
        "zero.json",
        "a\nb",
        "x\u{0}y",
        "kino.json",
        "denoiser.onnx",
        "tokenizer.json",
    ];
    match rng.next_u64() % 8 {
        0 | 1 if old.is_number() => serde_json::json!(*pick(rng, &numbers)),
        0 | 1 if old.is_string() => Value::String(pick(rng, &hostile).to_string()),
        2 => Value::String("9".repeat(400)),
        3 => Value::Null,
        4 => Value::Bool(rng.next_u64() % 2 == 0),
        5 => serde_json::json!([1, "a", null]),
        6 => serde_json::json!({"file": "../x", "kind": "whole_clip"}),
        _ => serde_json::json!((rng.next_u64() % 20_000) as i64 - 100),
    }
}

/// 1 to 3 random deletions or replacements; sometimes a textual one (NaN, cut short).
fn mutate(rng: &mut ChaCha8Rng, base: &Value) -> Vec<u8> {
    let mut v = base.clone();
    for _ in 0..1 + rng.next_u64() % 3 {
        let mut ps = Vec::new();
        pointers(&v, String::new(), &mut ps);
        if ps.is_empty() {
            break;
        }
        let p = pick(rng, &ps).clone();
        let (parent, key) = p.rsplit_once('/').unwrap();
        if rng.next_u64() % 4 == 0 {
            match v.pointer_mut(parent) {
                Some(Value::Object(m)) => drop(m.remove(&key.replace("~1", "/").replace("~0", "~"))),
                Some(Value::Array(a)) if !a.is_empty() => drop(a.remove(key.parse::<usize>().unwrap_or(0).min(a.len() - 1))),
                _ => {}
            }
        } else if let Some(slot) = v.pointer_mut(&p) {
            *slot = replacement(rng, slot);
        }
    }
    let mut text = serde_json::to_vec(&v).unwrap();
    match rng.next_u64() % 10 {
        0 => {
            // A number spelled as JSON cannot: NaN, Infinity, an overlong exponent.
            let s = String::from_utf8(text).unwrap();
            let word = pick(rng, &["NaN", "Infinity", "-1e99999", "0x10"]);
            text = s.replacen(":1", &format!(":{word}"), 1).into_bytes();
        }
        1 => {
            let cut = (rng.next_u64() % text.len() as u64) as usize;
            text.truncate(cut);
        }
        _ => {}
    }
    text
}

/// Replaces a file by a new one: rewriting in place costs ext4 a flush per call (auto_da_alloc).
fn rewrite(path: &Path, bytes: &[u8]) {
    let _ = std::fs::remove_file(path);
    std::fs::write(path, bytes).unwrap();
}

fn one_line(e: &str, case: u64, what: &str) {
    assert!(!e.contains('\n') && !e.contains('\r'), "case {case} ({what}): a multi-line error: {e:?}");
}

#[test]
fn mutated_manifests_and_tokenizers_never_panic() {
    let pkg = copy_package("fuzz", "models/kino-shapes");
    let outside = pkg.parent().unwrap().join("outside.onnx");
    std::fs::write(&outside, b"x").unwrap();
    std::os::unix::fs::symlink(&outside, pkg.join("link-out.onnx")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", pkg.join("zero.json")).unwrap();
    let manifest: Value = serde_json::from_slice(&std::fs::read(pkg.join("kino.json")).unwrap()).unwrap();
    let tokenizer: Value = serde_json::from_slice(&std::fs::read(pkg.join("tokenizer.json")).unwrap()).unwrap();
    let spec = ModelPackage::load(&pkg).unwrap().manifest.tokenizer;
    let started = std::time::Instant::now();
    let (n, mut loaded) = (cases(), 0);
    for case in 0..n {
        let mut rng = ChaCha8Rng::seed_from_u64(case);
        let text = mutate(&mut rng, &manifest);
        rewrite(&pkg.join("kino.json"), &text);
        let result = catch_unwind(AssertUnwindSafe(|| {
            let pkg = ModelPackage::load(&pkg)?;
            // A package that loads must also be usable: profiles and the tokenizer.
            let m = &pkg.manifest;
            let _ = pkg.shape_profile("denoiser", &m.denoiser.graph);
            let _ = pkg.shape_profile("text_encoder", &m.text_encoder.graph);
            let tok = PromptTokenizer::load(&pkg.dir.join(&m.tokenizer.file), &m.tokenizer)?;
            tok.encode(&["a red circle moving left", ""])
        }));
        match result {
            Err(_) => panic!("case {case} panicked on kino.json {}", String::from_utf8_lossy(&text)),
            Ok(Err(e)) => one_line(&e.to_string(), case, "kino.json"),
            Ok(Ok(_)) => loaded += 1,
        }

        // The tokenizer file, mutated the same way, under the shipped spec.
        let text = mutate(&mut rng, &tokenizer);
        let path = pkg.parent().unwrap().join("tokenizer-fuzz.json");
        rewrite(&path, &text);
        let result = catch_unwind(AssertUnwindSafe(|| {
            PromptTokenizer::load(&path, &spec).and_then(|t| t.encode(&["a red circle moving left", "x"]))
        }));
        match result {
            Err(_) => panic!("case {case} panicked on tokenizer.json {}", String::from_utf8_lossy(&text)),
            Ok(Err(e)) => {
                let e = e.to_string();
                one_line(&e, case, "tokenizer.json");
                // Caught inside encode, but loading should have refused the file.
                assert!(!e.contains("inconsistent"), "case {case}: the tokenizers crate panicked on {}", String::from_utf8_lossy(&text));
            }
            Ok(Ok(_)) => {}
        }
    }
    // Mutations are mostly fatal, but not all: the loop exercises loading, not only parsing.
    assert!(n < 200 || loaded > 0, "no mutated package loaded in {n} cases");
    eprintln!("{n} fuzz cases in {:.1} s ({loaded} packages loaded)", started.elapsed().as_secs_f64());
    std::fs::remove_dir_all(pkg.parent().unwrap()).unwrap();
}
