//! How sessions are built: the options the front doors fill.

use std::path::PathBuf;

use super::{Device, EmbeddingCache, Residency};

/// How sessions are built.
#[derive(Clone, Debug, Default)]
pub struct RuntimeOptions {
    pub device: Device,
    /// Intra-op threads; `None` uses every core.
    pub threads: Option<usize>,
    /// Explicit path to `libonnxruntime.so` (`--ort-lib`, `ORT_DYLIB_PATH`): it must exist.
    pub ort_library: Option<PathBuf>,
    /// Where to look for `libonnxruntime.so*` without `ort_library`, before the system's library
    /// folders: folders holding the library, or Python venvs with the `onnxruntime` wheel.
    pub ort_search: Vec<PathBuf>,
    /// kino's cache folder (`KINO_CACHE_DIR`, else `~/.cache/kino`): optimised graphs go to its
    /// `ort/`, TensorRT engines to its `trt/`. `None`: nothing is cached on disk.
    pub cache_root: Option<PathBuf>,
    /// Where TensorRT keeps built engines (default: `trt/` in `cache_root`).
    pub cache_dir: Option<PathBuf>,
    /// Where optimised graphs are kept so later loads skip graph optimisation.
    pub optimized_models: OptimizedModels,
    /// Size budget of the optimised-graph cache in bytes (`KINO_GRAPH_CACHE_MB`; default
    /// [`cache::DEFAULT_BUDGET`], 16 GiB): past it, the least recently used graphs are removed.
    /// A graph larger than the budget is optimised in memory and not saved.
    pub optimized_budget: Option<u64>,
    /// Run the denoiser without IoBinding (ONNX Runtime allocates each run's output). Bound and
    /// unbound runs give identical results; this exists to compare them.
    pub unbound_runs: bool,
    /// CUDA: capture each bound denoiser run as a CUDA graph and replay it (static shapes per
    /// window; ONNX Runtime refuses graphs with nodes it cannot place on the GPU). Only the
    /// denoiser's session gets it: the other components run unbound, with changing shapes.
    pub cuda_graph: bool,
    /// Bytes of frames a backwards extend holds in memory before its spool goes to a temporary
    /// file (`KINO_SPOOL_MB`; default 32 MiB).
    pub spool_memory: Option<usize>,
    /// Which components stay loaded between uses (default: all of them, as a host wants).
    pub residency: Residency,
    /// Bytes of memory free for this run, as the front door measured it (`MemAvailable`):
    /// what [`Residency::Auto`] compares a job's estimate with. `None`: unknown.
    pub memory_available: Option<u64>,
    /// Where prompt embeddings are cached (default: `embeds/` in `cache_root`).
    pub embedding_cache: EmbeddingCache,
}

impl RuntimeOptions {
    /// The defaults plus what the environment says, for the front doors: `ORT_DYLIB_PATH`
    /// (`ort_library`); `KINO_VENV`, the venvs in `~/.cache/kino` and `LD_LIBRARY_PATH`
    /// (`ort_search`); `KINO_CACHE_DIR` (`cache_root`, else `~/.cache/kino`); `KINO_SPOOL_MB`
    /// (`spool_memory`); `KINO_GRAPH_CACHE_MB` (`optimized_budget`, 0: no optimised-graph cache).
    /// The library itself reads no environment variables.
    pub fn from_env() -> Self {
        let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        let user_cache = var("HOME").map(|h| PathBuf::from(h).join(".cache/kino"));
        let mut ort_search: Vec<PathBuf> = var("KINO_VENV").map(PathBuf::from).into_iter().collect();
        // The venvs kino's setup makes (scripts/setup.sh, run.sh) live in the user cache.
        if let Some(Ok(rd)) = user_cache.as_ref().map(std::fs::read_dir) {
            let mut venvs: Vec<PathBuf> = rd.flatten().map(|e| e.path()).filter(|p| p.join("pyvenv.cfg").exists()).collect();
            venvs.sort();
            ort_search.extend(venvs);
        }
        if let Some(ld) = var("LD_LIBRARY_PATH") {
            ort_search.extend(std::env::split_paths(&ld));
        }
        let spool_mb = mebibytes("KINO_SPOOL_MB", std::env::var("KINO_SPOOL_MB").ok().as_deref(), "the default (32)");
        let (optimized_models, optimized_budget) = graph_cache(std::env::var("KINO_GRAPH_CACHE_MB").ok().as_deref());
        RuntimeOptions {
            ort_library: var("ORT_DYLIB_PATH").map(PathBuf::from),
            ort_search,
            cache_root: var("KINO_CACHE_DIR").map(PathBuf::from).or(user_cache).or_else(|| Some(std::env::temp_dir().join(".cache/kino"))),
            spool_memory: spool_mb.map(|mb| usize::try_from(mb.saturating_mul(1 << 20)).unwrap_or(usize::MAX)),
            optimized_models,
            optimized_budget,
            ..Default::default()
        }
    }
}

/// The optimised-graph cache from `KINO_GRAPH_CACHE_MB`: a budget in MiB, 0 for no cache (every
/// load optimises in memory); unset, empty or not a whole number: the default.
fn graph_cache(mb: Option<&str>) -> (OptimizedModels, Option<u64>) {
    match mebibytes("KINO_GRAPH_CACHE_MB", mb, "the default budget") {
        Some(0) => (OptimizedModels::Off, None),
        Some(mb) => (OptimizedModels::DefaultDir, Some(mb.saturating_mul(1 << 20))),
        None => (OptimizedModels::DefaultDir, None),
    }
}

/// A size in MiB from the environment variable `name`: unset or empty is None; a number too
/// large for any machine is as large as can be (no limit); anything else that is not a whole
/// number is None, with a warning saying what is used instead.
fn mebibytes(name: &str, value: Option<&str>, instead: &str) -> Option<u64> {
    let v = value.map(str::trim).filter(|v| !v.is_empty())?;
    match v.parse::<u64>() {
        Ok(mb) => Some(mb),
        Err(e) if *e.kind() == std::num::IntErrorKind::PosOverflow => Some(u64::MAX),
        Err(_) => {
            log::warn!("{name}: {v:?} is not a whole number of MiB; using {instead}");
            None
        }
    }
}

/// The optimised-graph cache ([`cache`]): ONNX Runtime's graph optimisation (fusions, constant
/// folding, layout changes) runs once per graph content and device, its result is saved, and every
/// session, the first one included, loads the saved graph, so every process runs the same
/// optimised graph.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum OptimizedModels {
    /// `ort/` in [`RuntimeOptions::cache_root`] (none without a cache root).
    #[default]
    DefaultDir,
    Dir(PathBuf),
    /// Optimise in memory at every load.
    Off,
}

/// A TensorRT optimisation profile: the smallest, typical and largest shape of each dynamic
/// input, as ONNX Runtime's `trt_profile_{min,opt,max}_shapes` options spell them
/// (`name:1x16x5x60x104,other:1x512`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShapeProfile {
    pub min: String,
    pub opt: String,
    pub max: String,
}

impl ShapeProfile {
    /// Adds one input's shapes.
    pub fn push(&mut self, name: &str, min: &[usize], opt: &[usize], max: &[usize]) {
        let dims = |d: &[usize]| d.iter().map(usize::to_string).collect::<Vec<_>>().join("x");
        for (list, d) in [(&mut self.min, min), (&mut self.opt, opt), (&mut self.max, max)] {
            if !list.is_empty() {
                list.push(',');
            }
            list.push_str(&format!("{name}:{}", dims(d)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_cache_budget_from_the_environment() {
        assert_eq!(graph_cache(None), (OptimizedModels::DefaultDir, None));
        assert_eq!(graph_cache(Some("")), (OptimizedModels::DefaultDir, None));
        assert_eq!(graph_cache(Some("0")), (OptimizedModels::Off, None), "0: no optimised-graph cache");
        assert_eq!(graph_cache(Some(" 40960 ")), (OptimizedModels::DefaultDir, Some(40 << 30)));
        assert_eq!(graph_cache(Some("-5")), (OptimizedModels::DefaultDir, None), "not a size: the default");
        assert_eq!(graph_cache(Some("lots")), (OptimizedModels::DefaultDir, None));
        assert_eq!(graph_cache(Some("18446744073709551615")).1, Some(u64::MAX), "saturates");
        assert_eq!(graph_cache(Some("99999999999999999999999")).1, Some(u64::MAX), "too large for u64: no limit, not an error");
    }

    #[test]
    fn spool_size_from_the_environment() {
        assert_eq!(mebibytes("KINO_SPOOL_MB", Some(" 0 "), "-"), Some(0), "0: spool every frame to disk");
        assert_eq!(mebibytes("KINO_SPOOL_MB", Some("99999999999999999999999"), "-"), Some(u64::MAX));
        assert_eq!(mebibytes("KINO_SPOOL_MB", Some("1.5"), "-"), None);
        assert_eq!(mebibytes("KINO_SPOOL_MB", None, "-"), None);
    }
}
