//! kino's one error type. Every message says what went wrong and, where there is one, the fix.

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("ONNX Runtime library not found (searched: {searched}). Install it in a venv with `python3 -m pip install onnxruntime==1.32.0` and point kino at the venv with KINO_VENV, or at its libonnxruntime.so (site-packages/onnxruntime/capi/) with --ort-lib or ORT_DYLIB_PATH")]
    RuntimeNotFound { searched: String },

    #[error("could not load ONNX Runtime from {path}: {reason}. Use a libonnxruntime.so of version 1.22 or newer (`python3 -m pip install onnxruntime==1.32.0`)")]
    RuntimeLoad { path: PathBuf, reason: String },

    #[error("ONNX Runtime is already loaded from {} in this process and cannot also be loaded from {}: use one library per process (--ort-lib, ORT_DYLIB_PATH)", shown(loaded), shown(asked))]
    RuntimeConflict { loaded: PathBuf, asked: PathBuf },

    #[error("execution provider {provider} is not available in this ONNX Runtime ({library}): {hint}")]
    ProviderUnavailable { provider: String, library: String, hint: String },

    #[error("unknown device {}: use cpu, cuda, cuda:N, tensorrt, tensorrt:N or auto", quoted(.0))]
    UnknownDevice(String),

    #[error("model package {}: {message}", shown(dir))]
    Package { dir: PathBuf, message: String },

    #[error("model package {}: {file}: {message}", shown(dir))]
    PackageFile { dir: PathBuf, file: String, message: String },

    #[error("{0}")]
    InvalidRequest(String),

    #[error("running {component} ({file}): {reason}")]
    Inference { component: String, file: String, reason: String },

    #[error("tokenizer: {0}")]
    Tokenizer(String),

    #[error("video {}: {message}", shown(path))]
    Video { path: PathBuf, message: String },

    #[error("output {}: {message}", shown(path))]
    Output { path: PathBuf, message: String },

    #[error("frame: {0}")]
    Frame(String),

    #[error("{}: {source}", shown(path))]
    Io { path: PathBuf, source: std::io::Error },

    #[error("cancelled")]
    Cancelled,
}

/// A user's value quoted for a message: escaped, and cut to its first 40 characters so a pasted
/// file does not become the message.
pub fn quoted(s: &str) -> String {
    let head: String = s.chars().take(40).collect();
    if head.len() < s.len() { format!("{head:?}…") } else { format!("{head:?}") }
}

/// A path for a one-line message: control characters (a newline in a file name) escaped.
pub fn shown(path: &std::path::Path) -> String {
    let s = path.display().to_string();
    if s.chars().any(char::is_control) {
        s.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect()
    } else {
        s
    }
}

impl Error {
    pub(crate) fn package(dir: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Package { dir: dir.into(), message: message.into() }
    }

    pub(crate) fn package_file(dir: impl Into<PathBuf>, file: impl Into<String>, message: impl Into<String>) -> Self {
        Error::PackageFile { dir: dir.into(), file: file.into(), message: message.into() }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
}
