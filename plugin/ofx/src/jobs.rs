//! Generation shared by every effect instance in the process.
//!
//! Hosts make instances freely (MLT one per frame, Resolve one per render thread) and re-render
//! frames, so nothing expensive lives in an instance: pipelines are cached by (model, device),
//! footage by everything that determines it ([`JobKey`]). Footage is made whole, once, by the
//! first render that needs it; other renders of the same footage wait for it. A cancelled job
//! (the host aborted) is not remembered, so the next render starts it again; other errors are,
//! so a host that asks every frame gets the same answer at no cost. The most recent footage is
//! kept ([`KEEP`] parameter sets); PurgeCaches forgets it.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};

use std::path::PathBuf;

use kino::model::ModelSearch;
use kino::pipeline::GuidanceInterval;
use kino::{Error, GenerateRequest, Pipeline, Placement, Progress, RgbFrame};

use crate::params::Settings;

/// How the footage starts.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum Start {
    /// From the prompt alone (`kino generate`).
    Text,
    /// Continuing these frames (model size), after them (`kino extend`) or before them
    /// (`kino extend --at start`).
    Extend(Side, Vec<RgbFrame>),
    /// From a still (model size): frame 0 is the still (`kino animate`).
    Still(RgbFrame),
    /// Between these frames (model size): continuing the first, arriving at the second
    /// (`kino bridge`).
    Bridge(Vec<RgbFrame>, Vec<RgbFrame>),
    /// Through these images (model size) at these frames (`kino generate --keyframe`).
    Keyframes(Vec<(u32, RgbFrame)>),
    /// This clip (model size and rate) redone at a strength (f32 bits; `kino remix`).
    Remix { clip: Vec<RgbFrame>, strength_bits: u32 },
}

/// Which side of the given frames new footage goes (kino's `Placement`, hashable).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Side {
    After,
    Before,
}

#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct JobKey {
    pub settings: Settings,
    /// Model frames to make.
    pub frames: u32,
    pub start: Start,
}

/// Generated footage, at the model's size and rate.
pub struct Footage {
    pub frames: Vec<RgbFrame>,
    pub fps: f64,
}

type Slot = Arc<Mutex<Option<Result<Arc<Footage>, String>>>>;

/// Footage kept per process: the most recent parameter sets (a user trying prompts makes many).
const KEEP: usize = 16;

/// The jobs, and their keys oldest first.
#[derive(Default)]
struct Jobs {
    slots: HashMap<JobKey, Slot>,
    order: VecDeque<JobKey>,
}

fn jobs() -> &'static Mutex<Jobs> {
    static JOBS: OnceLock<Mutex<Jobs>> = OnceLock::new();
    JOBS.get_or_init(Default::default)
}

/// The slot for `key`, made if new; the oldest jobs beyond [`KEEP`] are forgotten (renders
/// still holding them finish with their copy).
fn slot(key: &JobKey) -> Slot {
    let mut j = jobs().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(s) = j.slots.get(key) {
        return s.clone();
    }
    let s = Slot::default();
    j.slots.insert(key.clone(), s.clone());
    j.order.push_back(key.clone());
    while j.order.len() > KEEP {
        if let Some(old) = j.order.pop_front() {
            j.slots.remove(&old);
        }
    }
    s
}

/// Forgets all footage (kOfxActionPurgeCaches); loaded models stay.
pub fn purge() {
    let mut j = jobs().lock().unwrap_or_else(|e| e.into_inner());
    j.slots.clear();
    j.order.clear();
}

/// The bundle this plugin was loaded from (kOfxPluginPropFilePath), once the host said.
static BUNDLE: Mutex<Option<PathBuf>> = Mutex::new(None);

pub fn set_bundle(path: PathBuf) {
    *BUNDLE.lock().unwrap_or_else(|e| e.into_inner()) = Some(path);
}

/// The model package folder for the panel's "Model package" value. Empty means the shipped
/// kino-shapes: `$KINO_MODEL` if set, else the copy inside the bundle
/// (`Contents/Resources/models/kino-shapes`, put there by `make ofx`; the bundle as the host
/// names it, else as this library's own file places it), else the search folders.
pub fn model_dir(model: &str) -> PathBuf {
    // Anchored on this plugin's own file: the host is the process's executable.
    let anchors: Vec<PathBuf> = kino_plugin_common::library_dir().into_iter().collect();
    let search = ModelSearch::from_env().anchored_first(&anchors);
    if !model.is_empty() {
        return search.resolve(model);
    }
    if search.default_model.is_none() {
        let named = BUNDLE.lock().unwrap_or_else(|e| e.into_inner()).clone().map(|b| b.join("Contents/Resources/models/kino-shapes"));
        let own = anchors.first().and_then(|d| d.parent()).map(|contents| contents.join("Resources/models/kino-shapes"));
        if let Some(dir) = named.into_iter().chain(own).find(|d| d.join("kino.json").is_file()) {
            return dir;
        }
    }
    search.default_model_dir()
}

/// The pipeline for a model and device, loaded once per process (shared with every instance).
pub fn pipeline(settings: &Settings) -> Result<Arc<Pipeline>, String> {
    crate::words::install();
    let device = settings.device.parse().map_err(|e: Error| e.to_string())?;
    // A host renders many times with one pipeline: every component stays loaded.
    Pipeline::shared(
        &model_dir(&settings.model),
        &kino::RuntimeOptions { device, residency: kino::Residency::KeepLoaded, ..kino::RuntimeOptions::from_env() },
    )
}

/// Frames for `seconds` at the model's rate, by the rule `kino --seconds` uses: the model's
/// nearest valid count within one window, the exact count past it.
pub fn frames_for(p: &Pipeline, seconds: f64) -> u32 {
    let m = &p.package.manifest;
    let raw = seconds * m.video.fps;
    let exact = raw.round().max(1.0) as u32;
    if exact <= m.video.max_frames {
        m.latent.nearest_valid_frames(raw).min(m.video.max_frames)
    } else {
        exact
    }
}

/// The request the settings stand for, for `frames` model frames.
pub fn request(p: &Pipeline, s: &Settings, frames: u32) -> Result<GenerateRequest, String> {
    // A new effect renders before its prompt is typed: an empty prompt is not set yet.
    if s.prompt.trim().is_empty() && s.storyboard.trim().is_empty() {
        return Err("Prompt is empty: type what the video should show".into());
    }
    let mut req = GenerateRequest::defaults_for(&p.package, s.prompt.clone());
    req.seed = s.seed;
    req.steps = s.steps;
    // The panel always holds a value: the model's own default (its guidance into given frames
    // included) unless it was changed.
    if s.guidance() != p.package.manifest.defaults.guidance {
        req.set_guidance(s.guidance());
    }
    if !s.negative_prompt.is_empty() {
        req.negative_prompt = Some(s.negative_prompt.clone());
    }
    if !s.guidance_interval.is_empty() {
        req.guidance_interval = Some(GuidanceInterval::parse(&s.guidance_interval, "Guidance interval").map_err(|e| e.to_string())?);
    }
    req.sampler = s.sampler;
    if !s.storyboard.trim().is_empty() {
        let board = kino::pipeline::parse_storyboard(&s.storyboard.replace(';', "\n"), p.package.manifest.video.fps)
            .map_err(|e| format!("Storyboard: {e}"))?;
        req.prompt = board[0].prompt.clone();
        req.storyboard = board[1..].to_vec();
    }
    req.frames = frames;
    req.validate_settings(&p.package).map_err(|e| e.to_string())?;
    req.validate_storyboard().map_err(|e| format!("Storyboard: {e}"))?;
    Ok(req)
}

/// Whether the caller made the footage or found it made.
pub enum Outcome {
    Ready(Arc<Footage>),
    Cancelled,
}

/// The footage for `key`, made now if nobody has made it yet. `on_progress` is called while
/// this call generates (fraction done, 0..1) and cancels generation by returning `false`;
/// `wanted` is asked while this call waits for another thread making the same footage, and
/// stops the wait (`Cancelled`) by returning `false` (the host aborted this render).
pub fn footage(key: &JobKey, on_progress: &mut dyn FnMut(f64) -> bool, wanted: &dyn Fn() -> bool) -> Result<Outcome, String> {
    // A host may run its event loop inside a progress update (Natron does, on its main thread),
    // so a second press of Generate arrives while this thread is still generating: waiting for
    // the slot this thread holds would never return.
    if GENERATING.with(std::cell::Cell::get) {
        return Err("already generating: wait for the footage being made to finish".into());
    }
    let slot = slot(key);
    // Held while generating: other renders of the same footage wait instead of making it again,
    // as long as the host still wants them.
    let mut made = loop {
        match slot.try_lock() {
            Ok(made) => break made,
            Err(std::sync::TryLockError::Poisoned(e)) => break e.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) if !wanted() => return Ok(Outcome::Cancelled),
            Err(std::sync::TryLockError::WouldBlock) => std::thread::sleep(std::time::Duration::from_millis(50)),
        }
    };
    if let Some(done) = made.as_ref() {
        return done.clone().map(Outcome::Ready);
    }
    let made_now = {
        let _busy = Generating::start();
        make(key, on_progress)
    };
    match made_now {
        Err(Error::Cancelled) => Ok(Outcome::Cancelled),
        result => {
            let result = result.map(Arc::new).map_err(|e| e.to_string());
            *made = Some(result.clone());
            result.map(Outcome::Ready)
        }
    }
}

thread_local! {
    /// Whether this thread is inside [`make`].
    static GENERATING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Marks this thread as generating until dropped (a panic included).
struct Generating;

impl Generating {
    fn start() -> Self {
        GENERATING.with(|g| g.set(true));
        Generating
    }
}

impl Drop for Generating {
    fn drop(&mut self) {
        GENERATING.with(|g| g.set(false));
    }
}

fn make(key: &JobKey, on_progress: &mut dyn FnMut(f64) -> bool) -> kino::Result<Footage> {
    let p = pipeline(&key.settings).map_err(Error::InvalidRequest)?;
    let req = request(&p, &key.settings, key.frames).map_err(Error::InvalidRequest)?;
    let mut frames = Vec::new();
    let mut push = |f: RgbFrame| {
        frames.push(f);
        Ok(())
    };
    // Denoising is nearly all the time; report it as the fraction of steps done.
    let mut progress = |pr: Progress| {
        let f = if pr.total == 0 { 0.0 } else { pr.done as f64 / pr.total as f64 };
        let f = match pr.stage {
            kino::Stage::Denoise => f * 0.95,
            _ => 0.95 + 0.05 * f,
        };
        on_progress(f.clamp(0.0, 1.0))
    };
    match &key.start {
        Start::Text if key.settings.looped => p.generate_loop(&req, &mut progress, &mut push)?,
        Start::Text => p.generate(&req, &mut progress, &mut push)?,
        Start::Keyframes(keys) => {
            let keys: Vec<kino::Keyframe> =
                keys.iter().map(|(frame, image)| kino::Keyframe { frame: *frame, image: image.clone() }).collect();
            p.generate_keyframes(&req, &keys, &mut progress, &mut push)?
        }
        Start::Still(still) => p.animate(&req, still, &mut progress, &mut push)?,
        Start::Extend(side, ctx) => {
            let placement = match side {
                Side::After => Placement::After,
                Side::Before => Placement::Before,
            };
            p.extend(&req, ctx, placement, req.frames as usize, &mut progress, &mut push)?
        }
        Start::Remix { clip, strength_bits } => p.remix(&req, clip, f32::from_bits(*strength_bits), &mut progress, &mut push)?,
        Start::Bridge(before, after) => p.bridge(&req, before, after, req.frames as usize, &mut progress, &mut push)?,
    }
    if frames.is_empty() {
        return Err(Error::InvalidRequest("the model produced no frames".into()));
    }
    Ok(Footage { frames, fps: p.package.manifest.video.fps })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u64) -> JobKey {
        let settings = Settings {
            prompt: "p".into(),
            negative_prompt: String::new(),
            seed,
            steps: 1,
            guidance_bits: 1f32.to_bits(),
            guidance_interval: String::new(),
            sampler: None,
            duration_ms: 1000,
            model: String::new(),
            device: "cpu".into(),
            storyboard: String::new(),
            looped: false,
            keyframes: String::new(),
        };
        JobKey { settings, frames: 9, start: Start::Text }
    }

    #[test]
    fn the_most_recent_footage_is_kept_and_purge_forgets_it() {
        let first = slot(&key(1_000_000));
        assert!(Arc::ptr_eq(&first, &slot(&key(1_000_000))), "one slot per key");
        for s in 0..KEEP as u64 {
            slot(&key(2_000_000 + s));
        }
        assert!(!Arc::ptr_eq(&first, &slot(&key(1_000_000))), "the oldest was forgotten");
        purge();
        assert!(jobs().lock().unwrap().slots.is_empty());
    }

    /// Footage asked for again on a thread that is generating (a host running its event loop
    /// inside a progress update) is refused at once, never waited for: that wait would not end.
    #[test]
    fn a_nested_request_on_a_generating_thread_is_refused() {
        let busy = Generating::start();
        let nested = footage(&key(3_000_000), &mut |_| true, &|| true);
        assert!(matches!(nested, Err(ref e) if e.starts_with("already generating")));
        drop(busy);
        assert!(!GENERATING.with(std::cell::Cell::get), "cleared when the generation ends");
    }

    /// A render waiting for footage another thread is making stops waiting when the host no
    /// longer wants it (aborted), and waits on while it does.
    #[test]
    fn a_wait_for_footage_ends_when_the_host_aborts() {
        let k = key(4_000_000);
        let busy = slot(&k);
        let (held, release) = (std::sync::mpsc::channel::<()>(), std::sync::mpsc::channel::<()>());
        let maker = std::thread::spawn(move || {
            let _made = busy.lock().unwrap();
            held.0.send(()).unwrap();
            release.1.recv().unwrap();
        });
        held.1.recv().unwrap();
        let t = std::time::Instant::now();
        assert!(matches!(footage(&k, &mut |_| true, &|| false), Ok(Outcome::Cancelled)));
        assert!(t.elapsed() < std::time::Duration::from_secs(1), "stopped at once");
        let asked = std::sync::atomic::AtomicUsize::new(0);
        let wanted = || asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < 3;
        assert!(matches!(footage(&k, &mut |_| true, &wanted), Ok(Outcome::Cancelled)));
        assert!(asked.load(std::sync::atomic::Ordering::SeqCst) > 3, "asked while it waited");
        release.0.send(()).unwrap();
        maker.join().unwrap();
    }
}
