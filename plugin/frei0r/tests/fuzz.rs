//! The frei0r parameters as a host sets them (strings, in parameter order), fuzzed: every
//! setting parses to a request or to a one-line error, with no panic and no allocation over
//! 64 MiB (`KINO_FUZZ_CASES` sets the count; see tests/fuzz.rs at the top of the repository).

#[path = "../../../tests/common/hostile.rs"]
mod hostile;

use std::path::Path;
use std::time::Instant;

use hostile::{cases, take_largest_allocation, Hostile, PeakAlloc};
use kino_frei0r::{Kind, Settings};

#[global_allocator]
static ALLOC: PeakAlloc = PeakAlloc;

#[test]
fn parameters() {
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/kino-shapes");
    let pipeline = kino::Pipeline::load(&model, &kino::RuntimeOptions { threads: Some(1), ..kino::RuntimeOptions::from_env() }).unwrap();
    let n = cases(20_000);
    take_largest_allocation();
    let t0 = Instant::now();
    let mut accepted = 0usize;
    for seed in 0..n as u64 {
        let mut h = Hostile::new(seed);
        let mut s = Settings::default();
        for _ in 0..1 + h.below(3) {
            let slot = h.below(Kind::Extend.params().len() + 1);
            let value = h.string();
            if let Some(v) = s.slot(slot) {
                *v = value;
            }
        }
        let r = std::panic::catch_unwind(|| {
            let results = [s.time_scale(seed % 2 == 0).map(drop), s.start_seconds().map(drop), s.request(&pipeline).map(drop)];
            for r in &results {
                if let Err(msg) = r {
                    assert!(!msg.trim().is_empty() && !msg.contains('\n'), "seed {seed}: {msg:?}");
                }
            }
            results[2].is_ok()
        });
        match r {
            Ok(ok) => accepted += ok as usize,
            Err(_) => panic!("seed {seed} panicked"),
        }
    }
    let largest = take_largest_allocation();
    eprintln!(
        "fuzz frei0r parameters: {n} cases ({accepted} valid requests) in {:.2} s, largest allocation {} KiB",
        t0.elapsed().as_secs_f64(),
        largest >> 10
    );
    assert!(largest <= 64 << 20, "an allocation of {largest} bytes");
    assert!(accepted > 0, "no case made a valid request: the fuzz never reached the request builder's success path");
}
