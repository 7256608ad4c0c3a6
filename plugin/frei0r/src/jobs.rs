//! Generation shared by every plugin instance in the process.
//!
//! Hosts make many instances (MLT one per worker thread, and re-sends every parameter for every
//! frame), so nothing expensive lives in an instance: loaded pipelines are cached by (model,
//! device), and generated footage by everything that determines it ([`JobKey`]). Footage is made
//! in segments, lazily, as hosts ask for later times; each segment after the first continues
//! from the last frames of the one before, so a clip of any length has no seams.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use kino::model::{default_model_dir_with, resolve_model_with};
use kino::{GenerateRequest, Pipeline, Placement, RgbFrame};

use crate::params::Settings;

/// How the first segment starts.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum Start {
    /// From the prompt alone.
    Text,
    /// Continuing these frames (model size), which end just before the new footage.
    After(Vec<RgbFrame>),
    /// From a still (model size): frame 0 is the still.
    Still(RgbFrame),
}

#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct JobKey {
    pub settings: Settings,
    pub start: Start,
}

/// Footage for one key, grown segment by segment.
pub struct Job {
    pipeline: Arc<Pipeline>,
    request: GenerateRequest,
    start: Start,
    frames: Mutex<Vec<RgbFrame>>,
}

impl Job {
    /// Frames at the model's rate.
    pub fn fps(&self) -> f64 {
        self.pipeline.package.manifest.video.fps
    }

    /// Model frame `index` (at the model's size), generating segments up to it first.
    pub fn frame(&self, index: usize) -> Result<RgbFrame, String> {
        // Holding the lock while generating: other instances asking for the same footage wait
        // for it instead of making it again.
        let mut frames = self.frames.lock().unwrap_or_else(|e| e.into_inner());
        if index > MAX_FRAMES {
            return Err(format!("frame {index} is past the longest clip kino makes here ({MAX_FRAMES} model frames)"));
        }
        while frames.len() <= index {
            let next = self.segment(&frames).map_err(|e| e.to_string())?;
            if next.is_empty() {
                return Err("the model produced no frames".into());
            }
            frames.extend(next);
        }
        Ok(frames[index].clone())
    }

    fn segment(&self, so_far: &[RgbFrame]) -> kino::Result<Vec<RgbFrame>> {
        let p = &self.pipeline;
        let mut out = Vec::new();
        let mut push = |f: RgbFrame| {
            out.push(f);
            Ok(())
        };
        let (ctx_frames, _) = p.window_layout();
        let count = p.frames_per_window();
        if so_far.is_empty() {
            match &self.start {
                Start::Text => p.generate(&self.request, &mut |_| true, &mut push)?,
                Start::Still(still) => p.animate(&self.request, still, &mut |_| true, &mut push)?,
                Start::After(ctx) => p.extend(&self.request, ctx, Placement::After, count, &mut |_| true, &mut push)?,
            }
        } else {
            // Continue from the last frames so far; right after a clip those include its frames.
            let before: &[RgbFrame] = match &self.start {
                Start::After(ctx) => ctx,
                _ => &[],
            };
            let all: Vec<&RgbFrame> = before.iter().chain(so_far).collect();
            let tail: Vec<RgbFrame> = all[all.len().saturating_sub(ctx_frames)..].iter().map(|f| (*f).clone()).collect();
            let tail = &tail[..];
            let mut req = self.request.clone();
            // Each segment its own noise, still fixed by the seed.
            req.seed = req.seed.wrapping_add(so_far.len() as u64);
            p.extend(&req, tail, Placement::After, count, &mut |_| true, &mut push)?;
        }
        Ok(out)
    }
}

/// An hour at 30 fps.
const MAX_FRAMES: usize = 108_000;

/// One value per key, made once (by whichever instance asks first), errors included.
type Shared<K, V> = Mutex<HashMap<K, Arc<OnceLock<Result<Arc<V>, String>>>>>;

fn jobs() -> &'static Shared<JobKey, Job> {
    static JOBS: OnceLock<Shared<JobKey, Job>> = OnceLock::new();
    JOBS.get_or_init(Default::default)
}

/// The pipeline for a model and device, loaded once per process (shared with every instance).
pub fn pipeline(settings: &Settings) -> Result<Arc<Pipeline>, String> {
    // Models beside this plugin's own file: the host is the process's executable.
    let anchors: Vec<std::path::PathBuf> = kino_plugin_common::library_dir().into_iter().collect();
    let dir = if settings.model.trim().is_empty() { default_model_dir_with(&anchors) } else { resolve_model_with(settings.model.trim(), &anchors) };
    let device = match settings.device.trim() {
        "" => "cpu",
        d => d,
    };
    let device = device.parse().map_err(|e: kino::Error| e.to_string())?;
    Pipeline::shared(&dir, device)
}

/// The job for `key`, created once per process; errors (bad parameters, missing model) are
/// cached too, so a host that asks every frame gets the same answer at no cost.
pub fn job(key: &JobKey) -> Result<Arc<Job>, String> {
    let cell = jobs().lock().unwrap_or_else(|e| e.into_inner()).entry(key.clone()).or_default().clone();
    cell.get_or_init(|| {
        let pipeline = pipeline(&key.settings)?;
        let request = key.settings.request(&pipeline)?;
        Ok(Arc::new(Job { pipeline, request, start: key.start.clone(), frames: Mutex::new(Vec::new()) }))
    })
    .clone()
}
