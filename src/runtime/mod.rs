//! ONNX Runtime: finding the library, execution providers, and sessions.
//!
//! kino links ONNX Runtime at run time (`ort`'s `load-dynamic`), so one binary works with the
//! CPU wheel, the GPU wheel (CUDA, TensorRT) or a system library. The library is loaded once per
//! process; every model component gets its own [`OnnxSession`].

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Mutex;

use ort::ep::ExecutionProvider;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::{TensorElementType, TensorRef, ValueType};

use crate::error::{Error, Result};

mod binding;
pub mod cache;
mod external;
mod library;
pub use binding::BoundRun;
pub use external::external_data_files;
pub use library::{ensure_loaded, library_candidates, loaded_library};

/// Where a model runs, as chosen by `--device`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Device {
    #[default]
    Cpu,
    Cuda(u32),
    TensorRt(u32),
    /// The best available provider (TensorRT, then CUDA, then CPU), with a log line saying which.
    Auto,
}

impl FromStr for Device {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let lower = s.trim().to_ascii_lowercase();
        let (name, index) = match lower.split_once(':') {
            Some((n, i)) => (n, Some(i.parse::<u32>().map_err(|_| Error::UnknownDevice(s.to_string()))?)),
            None => (lower.as_str(), None),
        };
        match (name, index) {
            ("cpu", None) => Ok(Device::Cpu),
            ("auto", None) => Ok(Device::Auto),
            ("cuda", i) => Ok(Device::Cuda(i.unwrap_or(0))),
            ("tensorrt" | "trt", i) => Ok(Device::TensorRt(i.unwrap_or(0))),
            _ => Err(Error::UnknownDevice(s.to_string())),
        }
    }
}

impl std::fmt::Display for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Device::Cpu => write!(f, "cpu"),
            Device::Cuda(i) => write!(f, "cuda:{i}"),
            Device::TensorRt(i) => write!(f, "tensorrt:{i}"),
            Device::Auto => write!(f, "auto"),
        }
    }
}

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
    /// Size budget of the optimised-graph cache in bytes (default [`cache::DEFAULT_BUDGET`],
    /// 4 GiB): past it, the least recently used graphs are removed.
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
}

impl RuntimeOptions {
    /// The defaults plus what the environment says, for the front doors: `ORT_DYLIB_PATH`
    /// (`ort_library`); `KINO_VENV`, the venvs in `~/.cache/kino` and `LD_LIBRARY_PATH`
    /// (`ort_search`); `KINO_CACHE_DIR` (`cache_root`, else `~/.cache/kino`); `KINO_SPOOL_MB`
    /// (`spool_memory`). The library itself reads no environment variables.
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
        let spool_mb = std::env::var("KINO_SPOOL_MB").ok().and_then(|v| v.trim().parse::<usize>().ok());
        RuntimeOptions {
            ort_library: var("ORT_DYLIB_PATH").map(PathBuf::from),
            ort_search,
            cache_root: var("KINO_CACHE_DIR").map(PathBuf::from).or(user_cache).or_else(|| Some(std::env::temp_dir().join(".cache/kino"))),
            spool_memory: spool_mb.map(|mb| mb.saturating_mul(1 << 20)),
            ..Default::default()
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

/// The cache folder for optimised graphs on `device`; `None` where caching does not apply.
fn optimized_dir(device: Device, opts: &RuntimeOptions) -> Option<PathBuf> {
    // GPU providers compile their own engines (TensorRT has its engine cache); CPU only here.
    if device != Device::Cpu {
        return None;
    }
    match &opts.optimized_models {
        OptimizedModels::Off => None,
        OptimizedModels::DefaultDir => opts.cache_root.as_ref().map(|r| r.join("ort")),
        OptimizedModels::Dir(d) => Some(d.clone()),
    }
}

/// Element types kino's contract uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DType {
    F32,
    F16,
    I64,
    Other,
}

impl DType {
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "float32",
            DType::F16 => "float16",
            DType::I64 => "int64",
            DType::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "float32" => Some(DType::F32),
            "float16" => Some(DType::F16),
            "int64" => Some(DType::I64),
            _ => None,
        }
    }
}

/// A graph input or output as the session reports it.
#[derive(Clone, Debug)]
pub struct TensorInfo {
    pub name: String,
    pub dtype: DType,
    pub rank: usize,
}

/// One input to [`OnnxSession::run`], borrowed: no copy on the way in.
pub enum Input<'a> {
    F32(&'a [usize], &'a [f32]),
    I64(&'a [usize], &'a [i64]),
}

/// One float output.
#[derive(Clone, Debug)]
pub struct Output {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// An ONNX Runtime session for one model component.
pub struct OnnxSession {
    session: Mutex<Session>,
    pub file: PathBuf,
    pub inputs: Vec<TensorInfo>,
    pub outputs: Vec<TensorInfo>,
    pub provider: Device,
    /// The optimised graph this session runs, when it came from (or went into) the cache.
    pub optimized_file: Option<PathBuf>,
    /// Seconds spent inside ONNX Runtime per run, while recording (see [`OnnxSession::record_runs`]).
    runs: Mutex<Option<Vec<f64>>>,
    /// Runs replay CUDA graphs: each binding gets its own graph id (its own captured graph).
    cuda_graph: bool,
    next_graph_id: std::sync::atomic::AtomicUsize,
}

fn tensor_info(name: &str, ty: &ValueType) -> TensorInfo {
    let (dtype, rank) = match ty {
        ValueType::Tensor { ty, shape, .. } => (
            match ty {
                TensorElementType::Float32 => DType::F32,
                TensorElementType::Float16 => DType::F16,
                TensorElementType::Int64 => DType::I64,
                _ => DType::Other,
            },
            shape.len(),
        ),
        _ => (DType::Other, 0),
    };
    TensorInfo { name: name.to_string(), dtype, rank }
}

/// Whether ONNX Runtime was built with the provider this device needs.
fn provider_available(device: Device) -> bool {
    match device {
        Device::Cpu | Device::Auto => true,
        Device::Cuda(_) => <ort::ep::CUDA as ExecutionProvider>::is_available().unwrap_or(false),
        Device::TensorRt(_) => <ort::ep::TensorRT as ExecutionProvider>::is_available().unwrap_or(false),
    }
}

/// Resolves `Auto` and checks the provider exists, so a missing GPU is a clear error up front.
pub fn resolve_device(opts: &RuntimeOptions) -> Result<Device> {
    ensure_loaded(opts)?;
    let library = loaded_library().map(|p| p.display().to_string()).unwrap_or_default();
    match opts.device {
        Device::Auto => {
            for d in [Device::TensorRt(0), Device::Cuda(0)] {
                if provider_available(d) {
                    log::info!("--device auto chose {d}");
                    return Ok(d);
                }
            }
            log::warn!("--device auto: no CUDA or TensorRT provider in {library}; running on CPU");
            Ok(Device::Cpu)
        }
        d if provider_available(d) => Ok(d),
        d => Err(Error::ProviderUnavailable {
            provider: d.to_string(),
            library,
            hint: "install the GPU build (`python3 -m pip install onnxruntime-gpu==1.32.0`) on a machine with an NVIDIA driver and point --ort-lib at its libonnxruntime.so, or use --device cpu / --device auto".into(),
        }),
    }
}

impl OnnxSession {
    /// Opens `file` on the chosen device (already resolved by [`resolve_device`]).
    /// `profile` gives TensorRT the shape ranges to build one engine for (without it, TensorRT
    /// builds a new engine for every new shape).
    pub fn open(file: &Path, device: Device, opts: &RuntimeOptions, profile: Option<&ShapeProfile>) -> Result<Self> {
        let env = ensure_loaded(opts)?;
        let fail = |e: String| Error::Inference { component: "session".into(), file: file.display().to_string(), reason: e };
        let threads = opts.threads.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
        let mut builder = Session::builder(env)
            .map_err(|e| fail(e.to_string()))?
            .with_optimization_level(GraphOptimizationLevel::All)
            .map_err(|e| fail(e.to_string()))?
            .with_intra_threads(threads.max(1))
            .map_err(|e| fail(e.to_string()))?;
        let providers = match device {
            Device::Cpu | Device::Auto => vec![],
            Device::Cuda(i) => vec![cuda_provider(i, opts).build().error_on_failure()],
            Device::TensorRt(i) => vec![tensorrt_provider(i, opts, profile).build().error_on_failure(), cuda_provider(i, opts).build()],
        };
        if !providers.is_empty() {
            builder = builder.with_execution_providers(providers).map_err(|e| fail(e.to_string()))?;
        }
        let session_from = |b: ort::session::builder::SessionBuilder, path: &Path| -> Result<Session> {
            let mut b = b;
            b.commit_from_file(path).map_err(|e| fail(e.to_string()))
        };
        let (session, source) = match cached_graph(builder.clone(), file, device, opts) {
            // Already optimised: loading skips the optimisation passes. An entry removed by
            // another process's eviction since is optimised again in memory.
            Some(path) => match builder.clone().with_optimization_level(GraphOptimizationLevel::Disable).map_err(|e| fail(e.to_string())).and_then(|b| session_from(b, &path)) {
                Ok(s) => (s, Some(path)),
                Err(e) => {
                    log::warn!("cannot load the cached optimised graph {} ({e}); optimising {} in memory", path.display(), file.display());
                    (session_from(builder, file)?, None)
                }
            },
            None => (session_from(builder, file)?, None),
        };
        if let (Some(dir), Some(path)) = (optimized_dir(device, opts), &source) {
            cache::evict(&dir, opts.optimized_budget.unwrap_or(cache::DEFAULT_BUDGET), path);
        }
        let inputs = session.inputs().iter().map(|o| tensor_info(o.name(), o.dtype())).collect();
        let outputs = session.outputs().iter().map(|o| tensor_info(o.name(), o.dtype())).collect();
        let cuda_graph = opts.cuda_graph && matches!(device, Device::Cuda(_) | Device::TensorRt(_));
        Ok(OnnxSession {
            session: Mutex::new(session),
            file: file.to_path_buf(),
            inputs,
            outputs,
            provider: device,
            optimized_file: source,
            runs: Mutex::new(None),
            cuda_graph,
            next_graph_id: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    /// Starts (or stops) recording the time of each run, clearing what was recorded.
    pub fn record_runs(&self, on: bool) {
        if let Ok(mut r) = self.runs.lock() {
            *r = on.then(Vec::new);
        }
    }

    /// The seconds each run took inside ONNX Runtime since recording started (and clears them).
    pub fn take_runs(&self) -> Vec<f64> {
        self.runs.lock().ok().and_then(|mut r| r.as_mut().map(std::mem::take)).unwrap_or_default()
    }

    /// A new set of bound inputs and outputs for this session (see [`BoundRun`]).
    pub fn bind(&self, component: &str) -> Result<BoundRun> {
        let fail = |e: String| Error::Inference { component: component.into(), file: self.file.display().to_string(), reason: e };
        let session = self.session.lock().map_err(|_| fail("session lock poisoned by an earlier panic".into()))?;
        // Each binding replays its own captured graph (its tensors' addresses are its own).
        let graph_id = self.cuda_graph.then(|| 1 + self.next_graph_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        BoundRun::new(&session, self.provider, graph_id).map_err(|e| fail(e.to_string()))
    }

    /// Runs the graph on `bound`'s tensors; the outputs are then read from `bound`.
    pub fn run_bound(&self, component: &str, bound: &mut BoundRun) -> Result<()> {
        let fail = |e: String| Error::Inference { component: component.into(), file: self.file.display().to_string(), reason: e };
        let mut session = self.session.lock().map_err(|_| fail("session lock poisoned by an earlier panic".into()))?;
        let started = std::time::Instant::now();
        bound.run(&mut session).map_err(|e| fail(e.to_string()))?;
        self.record(started);
        Ok(())
    }

    /// Records the time of a run that began at `started`, while recording is on.
    fn record(&self, started: std::time::Instant) {
        if let Ok(mut runs) = self.runs.lock() {
            if let Some(r) = runs.as_mut() {
                r.push(started.elapsed().as_secs_f64());
            }
        }
    }

    /// Runs the graph and returns the named float outputs in the order asked.
    pub fn run(&self, component: &str, inputs: &[(&str, Input<'_>)], outputs: &[&str]) -> Result<Vec<Output>> {
        self.run_view(component, inputs, outputs, |views| Ok(views.iter().map(|v| Output { shape: v.shape.clone(), data: v.data.to_vec() }).collect()))
    }

    /// Runs the graph and hands the named float outputs, as views into ONNX Runtime's memory, to
    /// `read`: no copy, no allocation (the denoiser's velocity goes straight into guidance).
    pub fn run_view<R>(&self, component: &str, inputs: &[(&str, Input<'_>)], outputs: &[&str], read: impl FnOnce(&[OutputView<'_>]) -> Result<R>) -> Result<R> {
        let fail = |e: String| Error::Inference { component: component.into(), file: self.file.display().to_string(), reason: e };
        let mut values: Vec<(std::borrow::Cow<'_, str>, ort::session::SessionInputValue<'_>)> = Vec::with_capacity(inputs.len());
        for (name, input) in inputs {
            let v: ort::session::SessionInputValue<'_> = match input {
                Input::F32(shape, data) => TensorRef::from_array_view((shape.to_vec(), *data)).map_err(|e| fail(e.to_string()))?.into(),
                Input::I64(shape, data) => TensorRef::from_array_view((shape.to_vec(), *data)).map_err(|e| fail(e.to_string()))?.into(),
            };
            values.push(((*name).into(), v));
        }
        let mut session = self.session.lock().map_err(|_| fail("session lock poisoned by an earlier panic".into()))?;
        let started = std::time::Instant::now();
        let result = session.run(values).map_err(|e| fail(e.to_string()))?;
        self.record(started);
        let mut views = Vec::with_capacity(outputs.len());
        for name in outputs {
            let value = result.get(*name).ok_or_else(|| fail(format!("graph produced no output named {name:?}")))?;
            let (shape, data) = value.try_extract_tensor::<f32>().map_err(|e| fail(e.to_string()))?;
            views.push(OutputView { shape: shape.iter().map(|&d| d.max(0) as usize).collect(), data });
        }
        read(&views)
    }
}

/// One float output of a run, borrowed from ONNX Runtime (see [`OnnxSession::run_view`]).
pub struct OutputView<'a> {
    pub shape: Vec<usize>,
    pub data: &'a [f32],
}

/// The CUDA provider's options for device `i`.
fn cuda_provider(i: u32, opts: &RuntimeOptions) -> ort::ep::CUDA {
    ort::ep::CUDA::default().with_device_id(i as i32).with_cuda_graph(opts.cuda_graph)
}

/// The TensorRT provider's options: fp16, engine and timing caches, and the shape profile.
fn tensorrt_provider(i: u32, opts: &RuntimeOptions, profile: Option<&ShapeProfile>) -> ort::ep::TensorRT {
    let mut trt = ort::ep::TensorRT::default().with_device_id(i as i32).with_fp16(true).with_cuda_graph(opts.cuda_graph);
    // Without a cache folder TensorRT builds its engines again in every process.
    if let Some(cache) = opts.cache_dir.clone().or_else(|| opts.cache_root.as_ref().map(|r| r.join("trt"))) {
        trt = trt
            .with_engine_cache(true)
            .with_engine_cache_path(cache.display().to_string())
            .with_timing_cache(true)
            .with_timing_cache_path(cache.display().to_string());
    }
    if let Some(p) = profile {
        trt = trt.with_profile_min_shapes(&p.min).with_profile_opt_shapes(&p.opt).with_profile_max_shapes(&p.max);
    }
    trt
}

/// The cached optimised graph of `file` on `device`, made now if it is not there yet; `None`
/// where caching does not apply or fails (a read-only or full cache only costs speed).
fn cached_graph(builder: ort::session::builder::SessionBuilder, file: &Path, device: Device, opts: &RuntimeOptions) -> Option<PathBuf> {
    let dir = optimized_dir(device, opts)?;
    let entry = match cache::entry(&dir, file, device, loaded_library().as_deref()) {
        Ok(e) => e,
        Err(e) => {
            log::warn!("cannot cache the optimised graph of {} ({e}); optimising in memory", file.display());
            return None;
        }
    };
    if entry.graph.is_file() {
        cache::touch(&entry.graph);
        return Some(entry.graph);
    }
    // An entry that could never fit would only push everything else out.
    if entry.source_bytes > opts.optimized_budget.unwrap_or(cache::DEFAULT_BUDGET) {
        log::info!("{} is larger than the optimised-graph cache's budget; optimising in memory", file.display());
        return None;
    }
    match save_optimized(builder, file, &entry) {
        Ok(()) => Some(entry.graph),
        Err(e) => {
            log::warn!("cannot cache the optimised graph of {} ({e}); optimising in memory", file.display());
            None
        }
    }
}

/// Optimises `file` with `builder`'s settings and saves the result as `entry` atomically (a
/// unique temporary name, then a rename), so concurrent processes never read a half-written
/// graph. Initializers of graphs with external data go to the entry's own data file (named in
/// the saved graph), so the entry never refers to the source's data files.
fn save_optimized(builder: ort::session::builder::SessionBuilder, file: &Path, entry: &cache::Entry) -> std::result::Result<(), String> {
    let dest = &entry.graph;
    let dir = dest.parent().ok_or("no cache folder")?;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let name = dest.file_name().unwrap_or_default().to_string_lossy().into_owned();
    let tmp = dir.join(cache::temp_name(&name));
    let mut builder = builder;
    let mut data = None;
    if entry.external {
        let stem = name.strip_suffix(".onnx").unwrap_or(&name);
        let data_name = format!("{stem}.{}.data", cache::unique());
        builder = builder.with_config_entry("session.optimized_model_external_initializers_file_name", &data_name).map_err(|e| e.to_string())?;
        builder = builder
            .with_config_entry("session.optimized_model_external_initializers_min_size_in_bytes", cache::EXTERNAL_MIN.to_string())
            .map_err(|e| e.to_string())?;
        data = Some(dir.join(data_name));
    }
    let result = builder
        .with_optimized_model_path(&tmp)
        .map_err(|e| e.to_string())
        .and_then(|mut b| b.commit_from_file(file).map(drop).map_err(|e| e.to_string()))
        .and_then(|()| std::fs::rename(&tmp, dest).map_err(|e| e.to_string()));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
        if let Some(d) = data {
            let _ = std::fs::remove_file(d);
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_devices() {
        assert_eq!("cpu".parse::<Device>().unwrap(), Device::Cpu);
        assert_eq!("CUDA".parse::<Device>().unwrap(), Device::Cuda(0));
        assert_eq!("cuda:1".parse::<Device>().unwrap(), Device::Cuda(1));
        assert_eq!("tensorrt:2".parse::<Device>().unwrap(), Device::TensorRt(2));
        assert_eq!("auto".parse::<Device>().unwrap(), Device::Auto);
        assert!("gpu".parse::<Device>().is_err());
        assert!("cuda:x".parse::<Device>().is_err());
    }

    /// The GPU providers' options as ONNX Runtime will receive them (they build on any machine;
    /// only registering them needs the GPU library).
    #[test]
    fn gpu_provider_options() {
        let plain = RuntimeOptions::default();
        let graphs = RuntimeOptions { cuda_graph: true, cache_dir: Some(PathBuf::from("/tmp/kino-trt")), ..Default::default() };
        let cuda = format!("{:?}", cuda_provider(1, &graphs));
        assert!(cuda.contains(r#""device_id": "1""#), "{cuda}");
        assert!(cuda.contains(r#""enable_cuda_graph": "true""#), "{cuda}");
        assert!(format!("{:?}", cuda_provider(0, &plain)).contains(r#""enable_cuda_graph": "false""#));

        let mut profile = ShapeProfile::default();
        profile.push("latents", &[1, 16, 1, 4, 4], &[2, 16, 5, 8, 8], &[2, 16, 9, 16, 16]);
        let trt = format!("{:?}", tensorrt_provider(0, &graphs, Some(&profile)));
        for want in [
            r#""trt_fp16_enable": "true""#,
            r#""trt_engine_cache_enable": "true""#,
            r#""trt_engine_cache_path": "/tmp/kino-trt""#,
            r#""trt_timing_cache_enable": "true""#,
            r#""trt_cuda_graph_enable": "true""#,
            r#""trt_profile_min_shapes": "latents:1x16x1x4x4""#,
            r#""trt_profile_opt_shapes": "latents:2x16x5x8x8""#,
            r#""trt_profile_max_shapes": "latents:2x16x9x16x16""#,
        ] {
            assert!(trt.contains(want), "{want} missing from {trt}");
        }
        assert!(!format!("{:?}", tensorrt_provider(0, &plain, None)).contains("trt_profile_min_shapes"));
    }

    #[test]
    fn cuda_on_a_cpu_build_is_a_clear_error() {
        let opts = RuntimeOptions { device: Device::Cuda(0), ..RuntimeOptions::from_env() };
        match resolve_device(&opts) {
            Err(Error::ProviderUnavailable { provider, hint, .. }) => {
                assert_eq!(provider, "cuda:0");
                assert!(hint.contains("onnxruntime-gpu"));
            }
            // A machine with the GPU wheel and a driver may legitimately have CUDA.
            Ok(Device::Cuda(0)) => {}
            other => panic!("unexpected: {other:?}"),
        }
        let auto = RuntimeOptions { device: Device::Auto, ..RuntimeOptions::from_env() };
        assert!(resolve_device(&auto).is_ok());
    }
}
