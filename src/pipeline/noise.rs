//! Seeded Gaussian noise. ChaCha8 is specified bit for bit, so the same seed gives the same
//! noise on every machine and every kino version that keeps this function.

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `n` standard normal samples from `seed` (Box-Muller in f64, rounded to f32).
pub fn gaussian_noise(seed: u64, n: usize) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(n + 1);
    while out.len() < n {
        // Uniforms in (0, 1]: 53 random bits, never exactly 0 (ln(0) would be -inf).
        let u1 = ((rng.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64;
        let u2 = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let r = (-2.0 * u1.ln()).sqrt();
        let theta = 2.0 * std::f64::consts::PI * u2;
        out.push((r * theta.cos()) as f32);
        out.push((r * theta.sin()) as f32);
    }
    out.truncate(n);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_noise_different_seed_different_noise() {
        assert_eq!(gaussian_noise(7, 1001), gaussian_noise(7, 1001));
        assert_ne!(gaussian_noise(7, 16), gaussian_noise(8, 16));
        // A prefix is stable: asking for more samples does not change the first ones.
        assert_eq!(gaussian_noise(7, 10)[..], gaussian_noise(7, 20)[..10]);
    }

    #[test]
    fn noise_is_standard_normal() {
        let x = gaussian_noise(1, 200_000);
        let mean = x.iter().map(|&v| v as f64).sum::<f64>() / x.len() as f64;
        let var = x.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / x.len() as f64;
        assert!(mean.abs() < 0.01, "{mean}");
        assert!((var - 1.0).abs() < 0.02, "{var}");
        assert!(x.iter().all(|v| v.is_finite()));
    }
}
