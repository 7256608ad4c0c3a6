//! ONNX Runtime: finding the library, execution providers, and sessions.
//!
//! kino links ONNX Runtime at run time (`ort`'s `load-dynamic`), so one binary works with the
//! CPU wheel, the GPU wheel (CUDA, TensorRT) or a system library. The library is loaded once per
//! process; every model component gets its own [`OnnxSession`].

use std::str::FromStr;

use ndarray::{ArrayD, ArrayView, ArrayViewD, Dimension};

use crate::error::{Error, Result};

mod binding;
pub mod cache;
mod external;
mod library;
mod memory;
mod optimized;
mod options;
mod providers;
mod session;
pub use binding::BoundRun;
pub use external::{external_data_files, half_precision_bytes};
pub use library::{ensure_loaded, library_candidates, loaded_library};
pub use memory::{EmbeddingCache, Residency};
pub use options::{OptimizedModels, RuntimeOptions, ShapeProfile};
pub use providers::resolve_device;
pub use session::OnnxSession;

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
    /// Each axis's size where the graph fixes it, `None` where it is dynamic.
    pub dims: Vec<Option<usize>>,
}

/// One input to [`OnnxSession::run`], borrowed: no copy on the way in (the array must be in
/// standard layout; a strided view is an error, not a silent copy).
pub enum Input<'a> {
    F32(ArrayViewD<'a, f32>),
    I64(ArrayViewD<'a, i64>),
}

impl<'a> Input<'a> {
    pub fn f32<D: Dimension>(a: ArrayView<'a, f32, D>) -> Self {
        Input::F32(a.into_dyn())
    }

    pub fn i64<D: Dimension>(a: ArrayView<'a, i64, D>) -> Self {
        Input::I64(a.into_dyn())
    }
}

/// One float output.
pub type Output = ArrayD<f32>;

/// One float output of a run, borrowed from ONNX Runtime (see [`OnnxSession::run_view`]).
pub type OutputView<'a> = ArrayViewD<'a, f32>;

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
}
