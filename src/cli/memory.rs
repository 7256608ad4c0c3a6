//! How much of the model a job keeps in memory: `--keep-loaded` / `--low-memory` (else chosen
//! from the job's estimate and the memory available), `--no-embed-cache`, and the check that
//! refuses a job that cannot fit before any work starts.

use anyhow::{bail, Result};
use clap::Args;

use kino::model::ModelPackage;
use kino::{EmbeddingCache, GenerateRequest, Residency, RuntimeOptions};

use super::job::available_memory;

#[derive(Args)]
pub(crate) struct MemoryArgs {
    /// Keep every model component loaded for the whole run (default when the memory allows).
    #[arg(long, conflicts_with = "low_memory")]
    pub(crate) keep_loaded: bool,
    /// Load each model component when it is needed and release it when done: the text encoder
    /// right after encoding. Peak memory is about the largest component instead of their sum
    /// (default when the memory does not allow keeping them all).
    #[arg(long)]
    pub(crate) low_memory: bool,
    /// Encode the prompt even when its embeddings are cached, and cache nothing.
    #[arg(long)]
    pub(crate) no_embed_cache: bool,
}

impl MemoryArgs {
    /// Chooses the job's residency into `opts` and refuses a job whose estimated memory under it
    /// is more than this machine has available. `extra`: bytes the job holds besides the model
    /// (an input still, a clip's context frames); `encodes_frames`: it continues from frames.
    pub(crate) fn plan(
        &self,
        opts: &mut RuntimeOptions,
        req: &GenerateRequest,
        pkg: &ModelPackage,
        extra: u64,
        encodes_frames: bool,
    ) -> Result<()> {
        let available = available_memory();
        let keep = req.estimated_memory_as(pkg, extra, encodes_frames, Residency::KeepLoaded);
        let low = req.estimated_memory_as(pkg, extra, encodes_frames, Residency::LowMemory);
        opts.memory_available = available;
        opts.residency = match (self.keep_loaded, self.low_memory) {
            (true, _) => Residency::KeepLoaded,
            (_, true) => Residency::LowMemory,
            // Decided here, where the job's own frames are counted; Auto left for the pipeline
            // means keep (it loads each component on first use, so a cached prompt skips the
            // text encoder).
            _ => match Residency::Auto.resolve(keep, available) {
                Residency::LowMemory => Residency::LowMemory,
                _ => Residency::Auto,
            },
        };
        if self.no_embed_cache {
            opts.embedding_cache = EmbeddingCache::Off;
        }
        let need = if opts.residency == Residency::LowMemory { low } else { keep };
        let Some(available) = available else { return Ok(()) };
        if need > available {
            let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
            let hint = if opts.residency != Residency::LowMemory && low <= available {
                format!(" --low-memory (about {:.1} GiB),", gib(low))
            } else {
                String::new()
            };
            bail!(
                "this job needs about {:.1} GiB of memory and {:.1} GiB is available: use{hint} a smaller --size (the model's default is {}x{}), fewer frames per window, or close other programs",
                gib(need),
                gib(available),
                pkg.manifest.video.default_width,
                pkg.manifest.video.default_height
            );
        }
        Ok(())
    }
}

/// The run header's words for the residency, where one was chosen.
pub(crate) fn residency_note(opts: &RuntimeOptions) -> &'static str {
    match opts.residency {
        Residency::KeepLoaded => ", keeping the model loaded",
        Residency::LowMemory => ", low memory: each component loaded when needed",
        Residency::Auto => "",
    }
}
