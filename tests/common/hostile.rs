//! Hostile values for the parser fuzz tests (tests/fuzz.rs and the plugins' fuzz tests include
//! this file): seeded, so a failure names the case that reproduces it, and a global allocator
//! that remembers the largest single allocation, so "no allocation over a bound" is checked.
#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The system allocator, recording the largest request.
pub struct PeakAlloc;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call unchanged to the system allocator; only records sizes.
unsafe impl GlobalAlloc for PeakAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// The largest single allocation so far, and resets the record.
pub fn take_largest_allocation() -> usize {
    LARGEST.swap(0, Ordering::Relaxed)
}

/// Cases per parser: `KINO_FUZZ_CASES` (a bench-style run sets 100000 or more), else `default`.
pub fn cases(default: usize) -> usize {
    std::env::var("KINO_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

pub struct Hostile {
    rng: ChaCha8Rng,
}

const SPECIAL: &[&str] = &[
    "",
    " ",
    "0",
    "-0",
    "-1",
    "1",
    "2",
    "16",
    "64",
    "4294967295",
    "4294967296",
    "18446744073709551615",
    "-9223372036854775808",
    "1e308",
    "-1e308",
    "1e-9",
    "NaN",
    "nan",
    "inf",
    "-inf",
    "0x10",
    "1_000",
    "+5",
    "5.",
    ".5",
    "1,5",
    "64x64",
    "64X64",
    "x",
    "64x",
    "x64",
    "0x0",
    "8192x8192",
    "8193x64",
    "１２",
    "٣",
    "\u{0}",
    "\u{202e}",
    "\u{feff}12",
    "%n%s%x",
    "../../etc/passwd",
    "/dev/zero",
    "a|b",
    "a:b",
    "a'b",
    "\"",
    "\\",
    "\n",
    "\t12\t",
    "auto",
    "cpu",
    "cuda:",
    "cuda:-1",
    "cuda:99999999999",
    "tensorrt:0",
    "s",
    "ms",
    "2s",
    "16f",
    "2.5",
    "-2.5",
    "3600",
    "3600.0001",
    "108001",
];

impl Hostile {
    pub fn new(seed: u64) -> Self {
        Hostile { rng: ChaCha8Rng::seed_from_u64(seed) }
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.rng.next_u64() % n.max(1) as u64) as usize
    }

    /// A hostile string: a special value, a mutation of one, random bytes as text, or (rarely)
    /// something very long.
    pub fn string(&mut self) -> String {
        match self.below(10) {
            0..=3 => SPECIAL[self.below(SPECIAL.len())].to_string(),
            4..=5 => {
                let mut s: Vec<char> = SPECIAL[self.below(SPECIAL.len())].chars().collect();
                for _ in 0..1 + self.below(3) {
                    let c = char::from_u32(self.rng.next_u32() % 0x3000).unwrap_or('?');
                    match self.below(3) {
                        0 if !s.is_empty() => {
                            let i = self.below(s.len());
                            s[i] = c;
                        }
                        1 => {
                            let i = self.below(s.len() + 1);
                            s.insert(i, c);
                        }
                        _ if !s.is_empty() => {
                            let i = self.below(s.len());
                            s.remove(i);
                        }
                        _ => {}
                    }
                }
                s.into_iter().collect()
            }
            6..=7 => (0..self.below(24)).map(|_| char::from_u32(32 + self.rng.next_u32() % 96).unwrap_or('?')).collect(),
            8 => self.number(),
            _ => {
                let n = [1_000, 20_001, 200_000][self.below(3)];
                let c = ['a', '9', 'é', '字'][self.below(4)];
                std::iter::repeat_n(c, n).collect()
            }
        }
    }

    /// A number as text: extremes, fractions, exponents.
    pub fn number(&mut self) -> String {
        match self.below(4) {
            0 => (self.rng.next_u64() as i64).to_string(),
            1 => format!("{}", f64::from_bits(self.rng.next_u64())),
            2 => format!("{:e}", (self.rng.next_u32() as f64) * 10f64.powi(self.below(40) as i32 - 20)),
            _ => (self.rng.next_u32() % 300).to_string(),
        }
    }

    pub fn f64(&mut self) -> f64 {
        match self.below(4) {
            0 => f64::from_bits(self.rng.next_u64()),
            1 => [0.0, -0.0, 1e-300, -1.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, f64::MAX, 3600.0, 0.125][self.below(10)],
            _ => (self.rng.next_u32() as f64 / 1e4) - 1e4,
        }
    }

    pub fn u64(&mut self) -> u64 {
        match self.below(3) {
            0 => self.rng.next_u64(),
            1 => [0, 1, u32::MAX as u64, u64::MAX, 108_000, 108_001][self.below(6)],
            _ => self.rng.next_u64() % 2000,
        }
    }
}
