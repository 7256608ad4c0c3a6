//! A session: one model component's graph on one device, run with borrowed inputs.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::{TensorElementType, TensorRef, ValueType};

use super::library::ensure_loaded;
use super::optimized::{cached_graph, optimized_dir};
use super::providers::{cuda_provider, tensorrt_provider};
use super::{cache, BoundRun, DType, Device, Input, Output, OutputView, RuntimeOptions, ShapeProfile, TensorInfo};
use crate::error::{Error, Result};

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
    let (dtype, dims) = match ty {
        ValueType::Tensor { ty, shape, .. } => (
            match ty {
                TensorElementType::Float32 => DType::F32,
                TensorElementType::Float16 => DType::F16,
                TensorElementType::Int64 => DType::I64,
                _ => DType::Other,
            },
            shape.iter().map(|&d| usize::try_from(d).ok().filter(|&d| d > 0)).collect(),
        ),
        _ => (DType::Other, Vec::new()),
    };
    TensorInfo { name: name.to_string(), dtype, rank: dims.len(), dims }
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
            Some(entry) => match builder
                .clone()
                .with_optimization_level(GraphOptimizationLevel::Disable)
                .map_err(|e| fail(e.to_string()))
                .and_then(|b| session_from(b, &entry.graph))
            {
                Ok(s) => (s, Some(entry.graph)),
                Err(e) => {
                    // A damaged entry (a disk filled mid-write by another tool, a bad sector) is
                    // removed, so the next run writes it again rather than failing on it forever.
                    let removed = entry.remove();
                    log::warn!(
                        "cannot load the cached optimised graph {} ({e}); optimising {} in memory{}",
                        entry.graph.display(),
                        file.display(),
                        if removed { "; the entry is removed and will be written again" } else { "" }
                    );
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
        self.run_view(component, inputs, outputs, |views| Ok(views.iter().map(|v| v.to_owned()).collect()))
    }

    /// Runs the graph and hands the named float outputs, as views into ONNX Runtime's memory, to
    /// `read`: no copy, no allocation (the denoiser's velocity goes straight into guidance).
    pub fn run_view<R>(
        &self,
        component: &str,
        inputs: &[(&str, Input<'_>)],
        outputs: &[&str],
        read: impl FnOnce(&[OutputView<'_>]) -> Result<R>,
    ) -> Result<R> {
        let fail = |e: String| Error::Inference { component: component.into(), file: self.file.display().to_string(), reason: e };
        let mut values: Vec<(std::borrow::Cow<'_, str>, ort::session::SessionInputValue<'_>)> = Vec::with_capacity(inputs.len());
        for (name, input) in inputs {
            let v: ort::session::SessionInputValue<'_> = match input {
                Input::F32(a) => TensorRef::from_array_view(a.view()).map_err(|e| fail(e.to_string()))?.into(),
                Input::I64(a) => TensorRef::from_array_view(a.view()).map_err(|e| fail(e.to_string()))?.into(),
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
            views.push(value.try_extract_array::<f32>().map_err(|e| fail(e.to_string()))?);
        }
        read(&views)
    }
}
