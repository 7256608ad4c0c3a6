//! What the pipeline's tests share: a package's pipeline on two threads, and a job's frames.

use std::path::Path;

use super::Pipeline;
use crate::error::Result;
use crate::frame::RgbFrame;
use crate::model::ModelPackage;
use crate::runtime::RuntimeOptions;

/// The pipeline of the package at `package` (relative to the crate), on two threads.
pub(super) fn pipeline(package: &str) -> Pipeline {
    let pkg = ModelPackage::load(Path::new(env!("CARGO_MANIFEST_DIR")).join(package)).unwrap();
    Pipeline::from_package(pkg, &RuntimeOptions { threads: Some(2), ..RuntimeOptions::from_env() }).unwrap()
}

/// The frames a job hands on, in order (the job must succeed).
pub(super) fn frames_of(job: impl FnOnce(&mut dyn FnMut(RgbFrame) -> Result<()>) -> Result<()>) -> Vec<RgbFrame> {
    let mut out = Vec::new();
    job(&mut |f| {
        out.push(f);
        Ok(())
    })
    .unwrap();
    out
}
