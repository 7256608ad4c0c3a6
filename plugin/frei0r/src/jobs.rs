//! Generation shared by every plugin instance in the process.
//!
//! Hosts make many instances (MLT one per worker thread, and re-sends every parameter for every
//! frame), so nothing expensive lives in an instance: loaded pipelines are cached by (model,
//! device), and generated footage by everything that determines it ([`JobKey`]). The footage is
//! [`kino::footage::Footage`]: made lazily as hosts ask for later times, by the same window
//! chaining as the `kino` command, with memory that stays flat in its length. A job lives while an
//! instance uses it; the last one to let go (a parameter change, or the host destroying it) stops
//! its generator.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use kino::footage::{Footage, Start};
use kino::model::ModelSearch;
use kino::Pipeline;

use crate::params::Settings;

#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct JobKey {
    pub settings: Settings,
    pub start: Start,
}

/// Footage further ahead of what is made than this is a seek worth saying (about two windows of
/// the demo model).
const FAR_AHEAD_SECONDS: f64 = 4.0;

/// Footage for one key.
pub struct Job {
    footage: Footage,
    /// Whether the wait for frames far ahead has been said (once per footage: a host at a low
    /// frame rate asks far ahead at every frame).
    said_far_ahead: std::sync::atomic::AtomicBool,
}

impl Job {
    /// Frames at the model's rate.
    pub fn fps(&self) -> f64 {
        self.footage.fps()
    }

    /// Model frame `index` (at the model's size), generating up to it first. Instances asking
    /// for the same footage meanwhile wait for it instead of making it again.
    pub fn frame(&self, index: usize) -> Result<kino::RgbFrame, String> {
        // A seek far ahead waits while every frame before it is made (frei0r cannot show
        // progress or be interrupted): said, so the host does not look hung.
        let ahead = index.saturating_sub(self.footage.made());
        if ahead as f64 > FAR_AHEAD_SECONDS * self.fps() && !self.said_far_ahead.swap(true, std::sync::atomic::Ordering::Relaxed) {
            crate::warn_once(&format!(
                "a frame {:.1} s into the footage: the {ahead} frames before it are made first, which takes as long as generating them; the host waits meanwhile",
                index as f64 / self.fps()
            ));
        }
        self.footage.frame(index).map_err(|e| e.to_string())
    }

    fn stop_at_exit(&self) {
        self.footage.stop_without_waiting();
    }
}

/// A key's job while some instance holds it, or the error it gave (kept: a host that asks every
/// frame gets the same answer at no cost).
enum Slot {
    Empty,
    Running(Weak<Job>),
    Failed(String),
}

type Slots = Mutex<HashMap<JobKey, Arc<Mutex<Slot>>>>;

fn jobs() -> &'static Slots {
    static JOBS: OnceLock<Slots> = OnceLock::new();
    JOBS.get_or_init(Default::default)
}

/// The pipeline for a model and device, loaded once per process (shared with every instance).
pub fn pipeline(settings: &Settings) -> Result<Arc<Pipeline>, String> {
    crate::words::install();
    // Models beside this plugin's own file: the host is the process's executable.
    let anchors: Vec<std::path::PathBuf> = kino_plugin_common::library_dir().into_iter().collect();
    let search = ModelSearch::from_env().anchored_first(&anchors);
    let dir = if settings.model.trim().is_empty() { search.default_model_dir() } else { search.resolve(settings.model.trim()) };
    let device = match settings.device.trim() {
        "" => "cpu",
        d => d,
    };
    let device = device.parse().map_err(|e: kino::Error| e.to_string())?;
    // A host renders many times with one pipeline: every component stays loaded.
    Pipeline::shared(&dir, &kino::RuntimeOptions { device, residency: kino::Residency::KeepLoaded, ..kino::RuntimeOptions::from_env() })
}

/// The job for `key`: the running one if an instance holds it, else a new one (its generator
/// starts at once). Keep the `Arc` while showing this footage; dropping the last one stops it.
pub fn job(key: &JobKey) -> Result<Arc<Job>, String> {
    let slot = {
        let mut map = jobs().lock().unwrap_or_else(|e| e.into_inner());
        // Forget jobs nobody holds any more (their keys hold context frames).
        map.retain(|_, s| s.try_lock().map_or(true, |s| !matches!(&*s, Slot::Running(w) if w.strong_count() == 0)));
        map.entry(key.clone()).or_insert_with(|| Arc::new(Mutex::new(Slot::Empty))).clone()
    };
    let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
    match &*slot {
        Slot::Failed(e) => return Err(e.clone()),
        Slot::Running(w) => {
            if let Some(j) = w.upgrade() {
                return Ok(j);
            }
        }
        Slot::Empty => {}
    }
    let made = make(key);
    *slot = match &made {
        Ok(j) => Slot::Running(Arc::downgrade(j)),
        Err(e) => Slot::Failed(e.clone()),
    };
    made
}

fn make(key: &JobKey) -> Result<Arc<Job>, String> {
    let pipeline = pipeline(&key.settings)?;
    let request = key.settings.request(&pipeline)?;
    // Said once per prompt, as the `kino` command says it (a host's user sees only the log).
    let prompts = std::iter::once(&request.prompt).chain(request.storyboard.iter().map(|p| &p.prompt));
    for warning in prompts.filter_map(|p| pipeline.unknown_words_warning(p)) {
        crate::warn_once(&warning);
    }
    let footage = Footage::start(pipeline, request, key.start.clone(), kino_plugin_common::footage_config()).map_err(|e| e.to_string())?;
    stop_at_exit();
    Ok(Arc::new(Job { footage, said_far_ahead: Default::default() }))
}

/// Stops every generator when the process exits (or this library is unloaded), so none is
/// inside ONNX Runtime while it is torn down. Hosts that destroy their instances first
/// (ffmpeg) have stopped them already.
fn stop_at_exit() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        // Never waits for a lock: ffmpeg calls exit from its signal handler (Ctrl-C pressed
        // again and again while kino generates), on whichever thread the signal landed, which
        // may hold any of them; a lock that is busy is skipped.
        extern "C" fn stop_all() {
            let _ = std::panic::catch_unwind(|| {
                let Ok(jobs) = jobs().try_lock() else { return };
                let slots: Vec<_> = jobs.values().cloned().collect();
                drop(jobs);
                for s in slots {
                    let running = match s.try_lock().as_deref() {
                        Ok(Slot::Running(w)) => w.upgrade(),
                        _ => None,
                    };
                    if let Some(j) = running {
                        j.stop_at_exit();
                    }
                }
            });
        }
        // SAFETY: registers a plain function; it runs once, at exit or when this library is unloaded.
        unsafe { libc::atexit(stop_all) };
    });
}
