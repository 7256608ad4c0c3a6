//! kino: text-to-video diffusion over ONNX Runtime.
//!
//! Layers, each knowing only the one below: front doors (the `kino` CLI, the frei0r and OpenFX
//! plugins) -> [`pipeline`] -> [`scheduler`] + [`model`] components -> [`runtime`].
//! [`video`] (ffmpeg encode/decode) sits beside the pipeline for the front doors.

pub mod bench;
pub mod error;
pub mod footage;
pub mod frame;
pub mod limits;
pub mod model;
pub mod pipeline;
pub mod runtime;
pub mod scheduler;
pub mod text;
pub mod video;

pub use error::{Error, Result};
pub use frame::{Fit, PixelAspect, RgbFrame};
pub use model::ModelPackage;
pub use pipeline::{ContextMode, GenerateRequest, Keyframe, Pipeline, Placement, Progress, PromptAt, Stage};
pub use runtime::{Device, EmbeddingCache, Residency, RuntimeOptions};
