//! What a run keeps in memory: which model components stay resident between uses, and where a
//! prompt's embeddings are cached so a repeated prompt skips the text encoder.

use std::path::PathBuf;

/// Which model components a pipeline keeps loaded (see `docs/performance.md`, "Memory").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Residency {
    /// The text encoder, denoiser and VAE decoder load with the pipeline and stay; the VAE
    /// encoder loads on first use (extend, animate, chained windows) and stays. For hosts that
    /// render many times with one pipeline.
    #[default]
    KeepLoaded,
    /// Each component loads when a job first needs it and is released once the job is done with
    /// it: the text encoder right after encoding, the denoiser after a single window's last step,
    /// the rest when the job ends. Peak memory is about the largest component, not their sum;
    /// every job pays the loads.
    LowMemory,
    /// Components load when first needed; each job keeps them if its estimated memory with
    /// everything loaded fits [`RuntimeOptions::memory_available`](super::RuntimeOptions), and
    /// runs as [`Residency::LowMemory`] otherwise (or when the memory available is unknown and
    /// the estimate is all there is: then it keeps them).
    Auto,
}

impl Residency {
    /// Auto's choice for a job needing `keep_loaded` bytes with every component resident, given
    /// `available` bytes; the other modes are their own choice.
    pub fn resolve(self, keep_loaded: u64, available: Option<u64>) -> Residency {
        match (self, available) {
            (Residency::Auto, Some(a)) if keep_loaded > a => Residency::LowMemory,
            (Residency::Auto, _) => Residency::KeepLoaded,
            (other, _) => other,
        }
    }
}

/// Where prompt embeddings are cached (see `kino::text::embed_cache`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum EmbeddingCache {
    /// `embeds/` in [`RuntimeOptions::cache_root`](super::RuntimeOptions) (none without a cache root).
    #[default]
    DefaultDir,
    Dir(PathBuf),
    /// Encode every prompt.
    Off,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_keeps_what_fits_and_releases_what_does_not() {
        assert_eq!(Residency::Auto.resolve(10, Some(20)), Residency::KeepLoaded);
        assert_eq!(Residency::Auto.resolve(30, Some(20)), Residency::LowMemory);
        assert_eq!(Residency::Auto.resolve(30, None), Residency::KeepLoaded);
        assert_eq!(Residency::KeepLoaded.resolve(30, Some(20)), Residency::KeepLoaded);
        assert_eq!(Residency::LowMemory.resolve(10, Some(20)), Residency::LowMemory);
    }
}
