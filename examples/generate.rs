//! kino as a library: load a model package, generate a clip from a prompt, write it.
//!
//! cargo run --release --example generate -- "a red circle moving left" clip.mp4 [MODEL_DIR]
//!
//! The engine is quiet (it returns errors and logs through `log`); what to print is the caller's.

use std::path::PathBuf;

use kino::{video, GenerateRequest, ModelPackage, Pipeline, RuntimeOptions};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let prompt = args.next().unwrap_or_else(|| "a red circle moving left".into());
    let output = PathBuf::from(args.next().unwrap_or_else(|| "clip.mp4".into()));
    let model = args.next().map(PathBuf::from).unwrap_or_else(|| kino::model::ModelSearch::from_env().default_model_dir());

    // Check the output first: it must replace nothing but an earlier output.
    video::check_output(&output, &[])?;
    let package = ModelPackage::load(&model)?;
    let mut request = GenerateRequest::defaults_for(&package, prompt);
    request.seed = 7;
    request.validate(&package)?;

    // ONNX Runtime is found through ORT_DYLIB_PATH or kino's usual places; CPU, all cores.
    let pipeline = Pipeline::from_package(package, &RuntimeOptions::from_env())?;
    let fps = pipeline.package.manifest.video.fps;
    let mut encoder = video::VideoEncoder::create(&output, request.width, request.height, fps)?;
    pipeline.generate(&request, &mut |_progress| true, &mut |frame| encoder.push(&frame))?;
    let frames = encoder.finish()?;
    println!("wrote {} ({frames} frames at {fps} fps)", output.display());
    Ok(())
}
