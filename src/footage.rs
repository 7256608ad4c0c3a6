//! Footage pulled frame by frame, for front doors that ask by time (the plugins), and the one
//! retiming rule every front door shares.
//!
//! [`Footage`] runs [`Pipeline::generate`], [`Pipeline::extend`] or [`Pipeline::animate`] for the
//! longest clip kino makes ([`MAX_LONG_FRAMES`]) on a thread of its own, so its frames are exactly
//! those of the `kino` command for any clip longer than one window: the same window chaining, the
//! same window seeds. The thread hands frames over a bounded channel, so it only runs a little
//! ahead of what was asked (a window plus the channel); frames already handed over are kept for
//! seeks back, the most recent in memory up to a budget and older ones in an unlinked temporary
//! file up to a cap ([`FootageConfig`]), so memory and disk stay flat whatever the length.
//! Dropping the footage stops the thread.

mod store;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::error::{Error, Result};
use crate::frame::RgbFrame;
use crate::pipeline::{GenerateRequest, Pipeline, Placement, MAX_LONG_FRAMES};
use store::FrameStore;

/// Maps between a clip's frame rate and the model's, by nearest frame: the model makes frames at
/// its own rate and each clip frame shows the model frame nearest in time. The `kino` command
/// and the plugins use it for every rate conversion.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Retime {
    pub clip_fps: f64,
    pub model_fps: f64,
}

impl Retime {
    pub fn new(clip_fps: f64, model_fps: f64) -> Self {
        Retime { clip_fps, model_fps }
    }

    /// The model frame shown by clip frame `i` (both counted from the seam), of `model_frames`.
    pub fn model_index(&self, i: usize, model_frames: usize) -> usize {
        ((i as f64 * self.model_fps / self.clip_fps).round() as usize).min(model_frames.max(1) - 1)
    }

    /// The model frame shown by new frame `out` of `new_frames`, both in time order: counted
    /// forwards from the seam after a clip, backwards from it before one. Only grows with `out`.
    pub fn placed_model_index(&self, out: usize, new_frames: usize, model_frames: usize, placement: Placement) -> usize {
        match placement {
            Placement::After => self.model_index(out, model_frames),
            Placement::Before => {
                model_frames.saturating_sub(1) - self.model_index(new_frames.saturating_sub(1).saturating_sub(out), model_frames)
            }
        }
    }

    /// The model frame shown at `seconds` after the seam (or the clip's start): the clip frame
    /// nearest that time, then [`Retime::model_index`]. For hosts that give times, not frame numbers.
    pub fn model_index_at(&self, seconds: f64, model_frames: usize) -> usize {
        self.model_index_after(seconds * self.clip_fps, model_frames)
    }

    /// The model frame shown `clip_frames` clip frames (not necessarily whole) after the seam:
    /// the nearest clip frame, then [`Retime::model_index`]. For hosts that count time in frames.
    pub fn model_index_after(&self, clip_frames: f64, model_frames: usize) -> usize {
        let i = clip_frames.round().max(0.0);
        // A time past any clip of usize frames is past the footage too (NaN: max gives 0).
        let i = if i < usize::MAX as f64 { i as usize } else { usize::MAX / 2 };
        self.model_index(i, model_frames)
    }

    /// The clip frame model frame `j` reads: the one nearest its time (clamp it to the clip's
    /// last frame where the model's frames run past it). `kino remix` and Kino Remix read a
    /// clip at the model's rate this way.
    pub fn clip_index(&self, j: usize) -> usize {
        (j as f64 * self.clip_fps / self.model_fps).round() as usize
    }

    /// Model frames needed to cover `n` clip frames.
    pub fn model_frames_for(&self, n: usize) -> usize {
        (n.saturating_sub(1) as f64 * self.model_fps / self.clip_fps).round() as usize + 1
    }

    /// Clip frames, from the seam, that `want` model frames of context can reach.
    pub fn context_span(&self, want: usize) -> usize {
        (want.saturating_sub(1) as f64 * self.clip_fps / self.model_fps).round() as usize + 1
    }

    /// Up to `want` clip frame indices at the model's rate, in time order, ending at the clip's
    /// last frame (After) or starting at its first (Before).
    pub fn context_indices(&self, clip_frames: usize, want: usize, placement: Placement) -> Vec<usize> {
        let step = self.clip_fps / self.model_fps;
        let mut idx: Vec<usize> = (0..want).map(|j| (j as f64 * step).round() as usize).take_while(|&k| k < clip_frames).collect();
        if placement == Placement::After {
            idx = idx.into_iter().map(|k| clip_frames - 1 - k).rev().collect();
        }
        idx
    }
}

/// Model frames of context a front door gathers from a clip to extend it, on either side: the
/// model's context length, or (backwards) whole latent frames covering it.
pub fn context_wanted(p: &Pipeline) -> usize {
    let (ctx_frames, _) = p.window_layout();
    let latent = &p.package.manifest.latent;
    ctx_frames.max(latent.temporal_compression as usize * latent.latent_frames(ctx_frames as u32))
}

/// How footage starts.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Start {
    /// From the prompt alone (`kino generate`).
    Text,
    /// Continuing these frames (at the request's size, in time order), after their end
    /// (`kino extend`).
    After(Vec<RgbFrame>),
    /// Frame 0 is this still (at the request's size; `kino animate`).
    Still(RgbFrame),
    /// `count` frames that continue `before` and arrive at `after` (at the request's size, in
    /// time order; `kino bridge`).
    Bridge { before: Vec<RgbFrame>, after: Vec<RgbFrame>, count: usize },
}

/// How footage keeps the frames it has made, for seeks back. The front door fills it (the
/// plugins from their environment: `KINO_FOOTAGE_MB`, `KINO_FOOTAGE_DISK_MB`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FootageConfig {
    /// Bytes of the most recent frames kept in memory (64 MiB by default).
    pub memory: usize,
    /// Bytes of older frames kept in an unlinked temporary file (4 GiB by default). Frames
    /// older still are dropped; a seek back to one makes the footage again from its start,
    /// which gives the same frames (generation is deterministic) at the cost of the time.
    pub disk: u64,
}

impl Default for FootageConfig {
    fn default() -> Self {
        FootageConfig { memory: 64 << 20, disk: 4 << 30 }
    }
}

/// What the generator thread sends: a frame, or why it stopped early.
type Message = std::result::Result<RgbFrame, Error>;

/// Generated footage, pulled frame by frame at the model's rate and size.
pub struct Footage {
    fps: f64,
    job: Job,
    config: FootageConfig,
    state: Mutex<State>,
    /// Set when the footage is stopped for good ([`Footage::stop`], drop).
    stop: Arc<AtomicBool>,
}

/// Everything that decides the footage: what a restart makes again.
struct Job {
    pipeline: Arc<Pipeline>,
    req: GenerateRequest,
    start: Start,
    /// Frames the generator may run ahead of the last one taken, besides its window.
    queue: usize,
}

struct State {
    generator: Option<Generator>,
    made: FrameStore,
    /// Why the generator stopped, once it has (reported again on later calls past the end).
    failed: Option<String>,
    restarts: usize,
}

/// One run of the generator thread.
struct Generator {
    rx: Receiver<Message>,
    thread: JoinHandle<()>,
    /// Set when this run is given up (a restart, an error): it stops at its next step.
    abandon: Arc<AtomicBool>,
}

impl Generator {
    /// Stops this run and waits for it (at most one denoising step).
    fn close(self) {
        self.abandon.store(true, Ordering::SeqCst);
        // A generator blocked on a full channel sees it closed.
        drop(self.rx);
        if self.thread.join().is_err() {
            log::warn!("the footage generator panicked");
        }
    }
}

impl Job {
    fn spawn(&self, stop: &Arc<AtomicBool>) -> Result<Generator> {
        let (tx, rx) = sync_channel::<Message>(self.queue);
        let abandon = Arc::new(AtomicBool::new(false));
        let (p, req, start) = (self.pipeline.clone(), self.req.clone(), self.start.clone());
        let (stop, give_up) = (stop.clone(), abandon.clone());
        let thread = std::thread::Builder::new()
            .name("kino-footage".into())
            .spawn(move || run(&p, &req, &start, &tx, &[&stop, &give_up]))
            .map_err(|e| Error::io("(footage thread)", e))?;
        Ok(Generator { rx, thread, abandon })
    }
}

impl Footage {
    /// Starts making the footage `req` (its `frames` is ignored) and `start` describe, keeping
    /// frames as `config` says.
    pub fn start(pipeline: Arc<Pipeline>, mut req: GenerateRequest, start: Start, config: FootageConfig) -> Result<Footage> {
        req.frames = MAX_LONG_FRAMES;
        req.validate(&pipeline.package)?;
        let frame_bytes = req.width as usize * req.height as usize * 3;
        // The thread runs ahead by one window plus this many frames (at most ~16 MiB of them).
        let queue = pipeline.frames_per_window().clamp(1, ((16usize << 20) / frame_bytes.max(1)).max(1));
        let fps = pipeline.package.manifest.video.fps;
        let job = Job { pipeline, req, start, queue };
        let stop = Arc::new(AtomicBool::new(false));
        let generator = job.spawn(&stop)?;
        let state = State { generator: Some(generator), made: FrameStore::new(config.memory, config.disk), failed: None, restarts: 0 };
        Ok(Footage { fps, job, config, state: Mutex::new(state), stop })
    }

    /// Frames per second of the footage: the model's.
    pub fn fps(&self) -> f64 {
        self.fps
    }

    /// Frames made so far (since the last restart).
    pub fn made(&self) -> usize {
        self.lock().made.len()
    }

    /// Times a seek back past the kept frames made the footage again from its start.
    pub fn restarts(&self) -> usize {
        self.lock().restarts
    }

    /// Frame `index` (0 is the first new frame), generating up to it first (from the start
    /// again when it was dropped for the disk cap). Other callers wait meanwhile. An error of
    /// the generator is this call's error.
    pub fn frame(&self, index: usize) -> Result<RgbFrame> {
        if index >= MAX_LONG_FRAMES as usize {
            return Err(Error::InvalidRequest(format!(
                "frame {index} is past the longest clip kino makes ({MAX_LONG_FRAMES} model frames)"
            )));
        }
        let mut state = self.lock();
        if index < state.made.first_kept() && !self.stop.load(Ordering::SeqCst) {
            if let Some(g) = state.generator.take() {
                g.close();
            }
            state.generator = Some(self.job.spawn(&self.stop)?);
            state.made = FrameStore::new(self.config.memory, self.config.disk);
            state.failed = None;
            state.restarts += 1;
        }
        while state.made.len() <= index {
            if let Some(why) = &state.failed {
                return Err(Error::InvalidRequest(why.clone()));
            }
            let message = match &state.generator {
                Some(g) => g.rx.recv().unwrap_or(Err(Error::InvalidRequest("the footage generator stopped".into()))),
                None => Err(Error::Cancelled),
            };
            match message {
                Ok(f) => state.made.push(f)?,
                Err(e) => {
                    state.failed = Some(e.to_string());
                    if let Some(g) = state.generator.take() {
                        g.close();
                    }
                    return Err(e);
                }
            }
        }
        state.made.get(index)
    }

    /// Stops the generator and waits for it (at most one denoising step). Frames made so far
    /// stay readable; later ones are errors. Dropping the footage does this.
    pub fn stop(&self) {
        // First, without the lock: a caller waiting for a frame holds it until the generator
        // stops.
        self.stop.store(true, Ordering::SeqCst);
        let generator = {
            let mut state = self.lock();
            if state.failed.is_none() {
                state.failed = Some("the footage was stopped".into());
            }
            state.generator.take()
        };
        if let Some(g) = generator {
            g.close();
        }
    }

    /// [`Footage::stop`] for an exit hook, which may run on a thread that already holds the
    /// footage's lock (a signal handler calling `exit` while that thread waits for a frame):
    /// where the lock is busy the generator is told to stop but not waited for.
    pub fn stop_without_waiting(&self) {
        self.stop.store(true, Ordering::SeqCst);
        let generator = match self.state.try_lock() {
            Ok(mut state) => state.generator.take(),
            Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner().generator.take(),
            Err(std::sync::TryLockError::WouldBlock) => None,
        };
        if let Some(g) = generator {
            g.close();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Footage {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The generator thread: the whole job, each frame sent as it is made, until done or any of
/// `stops` is set.
fn run(p: &Pipeline, req: &GenerateRequest, start: &Start, tx: &SyncSender<Message>, stops: &[&AtomicBool]) {
    let stopped = || stops.iter().any(|s| s.load(Ordering::SeqCst));
    let mut progress = |_| !stopped();
    let mut send = |f: RgbFrame| tx.send(Ok(f)).map_err(|_| Error::Cancelled);
    let result = match start {
        Start::Text => p.generate(req, &mut progress, &mut send),
        Start::Still(still) => p.animate(req, still, &mut progress, &mut send),
        Start::After(ctx) => p.extend(req, ctx, Placement::After, MAX_LONG_FRAMES as usize, &mut progress, &mut send),
        Start::Bridge { before, after, count } => p.bridge(req, before, after, *count, &mut progress, &mut send),
    };
    let length = match start {
        Start::Bridge { count, .. } => *count,
        _ => MAX_LONG_FRAMES as usize,
    };
    let end = match result {
        Ok(()) => Error::InvalidRequest(format!("past the end of the footage ({length} model frames)")),
        Err(Error::Cancelled) if stopped() => return,
        Err(e) => e,
    };
    // Nobody may be listening any more; then there is nobody to tell.
    let _ = tx.send(Err(end));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retime_is_nearest_frame_both_ways() {
        let r = Retime::new(24.0, 8.0);
        assert_eq!((0..7).map(|i| r.model_index(i, 100)).collect::<Vec<_>>(), vec![0, 0, 1, 1, 1, 2, 2]);
        assert_eq!(r.model_index(1000, 5), 4);
        assert_eq!(r.model_frames_for(24), 9);
        // New frames in time order; before the clip they are counted back from the seam.
        assert_eq!((0..7).map(|i| r.placed_model_index(i, 7, 3, Placement::After)).collect::<Vec<_>>(), vec![0, 0, 1, 1, 1, 2, 2]);
        assert_eq!((0..7).map(|i| r.placed_model_index(i, 7, 3, Placement::Before)).collect::<Vec<_>>(), vec![0, 0, 1, 1, 1, 2, 2]);
        assert_eq!((0..6).map(|i| r.placed_model_index(i, 6, 2, Placement::Before)).collect::<Vec<_>>(), vec![0, 0, 0, 0, 1, 1]);
        assert_eq!(r.context_span(9), 25);
        assert_eq!(r.context_indices(100, 3, Placement::After), vec![93, 96, 99]);
        assert_eq!(r.context_indices(100, 3, Placement::Before), vec![0, 3, 6]);
        assert_eq!(r.context_indices(4, 3, Placement::After), vec![0, 3]);
        // By time: the clip frame nearest, then its model frame.
        assert_eq!(r.model_index_at(2.0 / 24.0, 100), 1);
        assert_eq!(r.model_index_at(-1.0, 100), 0);
        assert_eq!(r.model_index_at(f64::INFINITY, 100), 99);
        assert_eq!(r.model_index_at(f64::NAN, 100), 0);
        assert_eq!(r.model_index_after(4.4, 100), 1);
        assert_eq!(r.model_index_after(-3.0, 100), 0);
        let same = Retime::new(8.0, 8.0);
        assert!((0..50).all(|i| same.model_index_at(i as f64 * 0.125, 1000) == i));
    }
}
