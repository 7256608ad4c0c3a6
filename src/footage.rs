//! Footage pulled frame by frame, for front doors that ask by time (the plugins), and the one
//! retiming rule every front door shares.
//!
//! [`Footage`] runs [`Pipeline::generate`], [`Pipeline::extend`] or [`Pipeline::animate`] for the
//! longest clip kino makes ([`MAX_LONG_FRAMES`]) on a thread of its own, so its frames are exactly
//! those of the `kino` command for any clip longer than one window: the same window chaining, the
//! same window seeds. The thread hands frames over a bounded channel, so it only runs a little
//! ahead of what was asked (a window plus the channel); frames already handed over are kept for
//! seeks back, the most recent in memory up to a budget and the rest in an unlinked temporary
//! file, so memory stays flat whatever the length. Dropping the footage stops the thread.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::error::{Error, Result};
use crate::frame::RgbFrame;
use crate::pipeline::{GenerateRequest, Pipeline, Placement, MAX_LONG_FRAMES};

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
}

/// Frames kept in memory for seeks back before they go to disk: 64 MiB, or `KINO_FOOTAGE_MB`.
pub fn memory_budget() -> usize {
    std::env::var("KINO_FOOTAGE_MB").ok().and_then(|v| v.trim().parse::<usize>().ok()).map_or(64 << 20, |mb| mb << 20)
}

/// What the generator thread sends: a frame, or why it stopped early.
type Message = std::result::Result<RgbFrame, Error>;

/// Generated footage, pulled frame by frame at the model's rate and size.
pub struct Footage {
    fps: f64,
    state: Mutex<State>,
    stop: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

struct State {
    rx: Option<Receiver<Message>>,
    made: FrameStore,
    /// Why the generator stopped, once it has (reported again on later calls past the end).
    failed: Option<String>,
}

impl Footage {
    /// Starts making the footage `req` (its `frames` is ignored) and `start` describe.
    pub fn start(pipeline: Arc<Pipeline>, req: GenerateRequest, start: Start) -> Result<Footage> {
        Self::with_budget(pipeline, req, start, memory_budget())
    }

    /// [`Footage::start`] keeping up to `budget` bytes of frames in memory.
    pub fn with_budget(pipeline: Arc<Pipeline>, mut req: GenerateRequest, start: Start, budget: usize) -> Result<Footage> {
        req.frames = MAX_LONG_FRAMES;
        req.validate(&pipeline.package)?;
        let frame_bytes = req.width as usize * req.height as usize * 3;
        // The thread runs ahead by one window plus this many frames (at most ~16 MiB of them).
        let queue = pipeline.frames_per_window().clamp(1, ((16usize << 20) / frame_bytes.max(1)).max(1));
        let (tx, rx) = sync_channel::<Message>(queue);
        let stop = Arc::new(AtomicBool::new(false));
        let fps = pipeline.package.manifest.video.fps;
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("kino-footage".into())
                .spawn(move || run(&pipeline, &req, &start, &tx, &stop))
                .map_err(|e| Error::io("(footage thread)", e))?
        };
        Ok(Footage {
            fps,
            state: Mutex::new(State { rx: Some(rx), made: FrameStore::new(budget), failed: None }),
            stop,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Frames per second of the footage: the model's.
    pub fn fps(&self) -> f64 {
        self.fps
    }

    /// Frames made so far (and kept).
    pub fn made(&self) -> usize {
        self.lock().made.len()
    }

    /// Frame `index` (0 is the first new frame), generating up to it first. Other callers wait
    /// meanwhile. An error of the generator is this call's error.
    pub fn frame(&self, index: usize) -> Result<RgbFrame> {
        if index >= MAX_LONG_FRAMES as usize {
            return Err(Error::InvalidRequest(format!("frame {index} is past the longest clip kino makes ({MAX_LONG_FRAMES} model frames)")));
        }
        let mut state = self.lock();
        while state.made.len() <= index {
            if let Some(why) = &state.failed {
                return Err(Error::InvalidRequest(why.clone()));
            }
            let message = match &state.rx {
                Some(rx) => rx.recv().unwrap_or(Err(Error::InvalidRequest("the footage generator stopped".into()))),
                None => Err(Error::Cancelled),
            };
            match message {
                Ok(f) => state.made.push(f)?,
                Err(e) => {
                    state.failed = Some(e.to_string());
                    state.rx = None;
                    return Err(e);
                }
            }
        }
        state.made.get(index)
    }

    /// Stops the generator and waits for it (at most one denoising step). Frames made so far
    /// stay readable; later ones are errors. Dropping the footage does this.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        {
            let mut state = self.lock();
            // A generator blocked on a full channel sees it closed.
            state.rx = None;
            if state.failed.is_none() {
                state.failed = Some("the footage was stopped".into());
            }
        }
        if let Some(t) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            if t.join().is_err() {
                log::warn!("the footage generator panicked");
            }
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

/// The generator thread: the whole job, each frame sent as it is made.
fn run(p: &Pipeline, req: &GenerateRequest, start: &Start, tx: &SyncSender<Message>, stop: &AtomicBool) {
    let mut progress = |_| !stop.load(Ordering::SeqCst);
    let mut send = |f: RgbFrame| tx.send(Ok(f)).map_err(|_| Error::Cancelled);
    let result = match start {
        Start::Text => p.generate(req, &mut progress, &mut send),
        Start::Still(still) => p.animate(req, still, &mut progress, &mut send),
        Start::After(ctx) => p.extend(req, ctx, Placement::After, MAX_LONG_FRAMES as usize, &mut progress, &mut send),
    };
    let end = match result {
        Ok(()) => Error::InvalidRequest(format!("past the end of the footage ({MAX_LONG_FRAMES} model frames)")),
        Err(Error::Cancelled) if stop.load(Ordering::SeqCst) => return,
        Err(e) => e,
    };
    // Nobody may be listening any more; then there is nobody to tell.
    let _ = tx.send(Err(end));
}

/// Frames in the order made: the most recent in memory up to a budget, older ones in an unlinked
/// temporary file (frame `i` at `i * frame bytes`).
struct FrameStore {
    budget: usize,
    memory: VecDeque<RgbFrame>,
    memory_bytes: usize,
    /// Frames `0..on_disk` are in the file.
    on_disk: usize,
    size: Option<(u32, u32)>,
    file: Option<(File, PathBuf)>,
}

impl FrameStore {
    fn new(budget: usize) -> Self {
        FrameStore { budget, memory: VecDeque::new(), memory_bytes: 0, on_disk: 0, size: None, file: None }
    }

    fn len(&self) -> usize {
        self.on_disk + self.memory.len()
    }

    fn push(&mut self, f: RgbFrame) -> Result<()> {
        f.check()?;
        let size = *self.size.get_or_insert((f.width, f.height));
        if size != (f.width, f.height) {
            return Err(Error::Frame(format!("footage frame {} is {}x{}, the ones before {}x{}", self.len(), f.width, f.height, size.0, size.1)));
        }
        self.memory_bytes += f.data.len();
        self.memory.push_back(f);
        // The oldest frames go to disk; the newest always stays in memory.
        while self.memory_bytes > self.budget && self.memory.len() > 1 {
            let old = self.memory.pop_front().expect("more than one frame");
            let (file, path) = match &mut self.file {
                Some(f) => f,
                None => self.file.insert(crate::pipeline::spool::open_unlinked("footage", "generated frames")?),
            };
            let offset = self.on_disk as u64 * old.data.len() as u64;
            file.seek(SeekFrom::Start(offset)).and_then(|_| file.write_all(&old.data)).map_err(|e| Error::io(path.clone(), e))?;
            self.memory_bytes -= old.data.len();
            self.on_disk += 1;
        }
        Ok(())
    }

    fn get(&mut self, i: usize) -> Result<RgbFrame> {
        if i >= self.on_disk {
            return self.memory.get(i - self.on_disk).cloned().ok_or_else(|| Error::InvalidRequest(format!("footage frame {i} is not made yet")));
        }
        let ((width, height), Some((file, path))) = (self.size.unwrap_or((0, 0)), self.file.as_mut()) else {
            return Err(Error::InvalidRequest(format!("footage frame {i} is not kept")));
        };
        let bytes = width as usize * height as usize * 3;
        let mut data = vec![0u8; bytes];
        file.seek(SeekFrom::Start(i as u64 * bytes as u64)).and_then(|_| file.read_exact(&mut data)).map_err(|e| Error::io(path.clone(), e))?;
        Ok(RgbFrame { width, height, data })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(i: u8) -> RgbFrame {
        RgbFrame { width: 2, height: 1, data: vec![i; 6] }
    }

    #[test]
    fn frames_come_back_from_memory_and_from_disk() {
        for budget in [0, 13, usize::MAX] {
            let mut s = FrameStore::new(budget);
            for i in 0..10 {
                s.push(frame(i)).unwrap();
            }
            assert_eq!(s.len(), 10);
            assert!(s.memory_bytes <= budget.max(6), "budget {budget}: {} bytes in memory", s.memory_bytes);
            for i in (0..10).rev().chain(0..10) {
                assert_eq!(s.get(i as usize).unwrap(), frame(i), "budget {budget}, frame {i}");
            }
            assert!(s.get(10).is_err());
            if let Some((_, path)) = &s.file {
                assert!(!path.exists(), "{} is visible", path.display());
            }
        }
        let mut s = FrameStore::new(0);
        s.push(frame(0)).unwrap();
        assert!(s.push(RgbFrame { width: 1, height: 1, data: vec![0; 3] }).is_err(), "one size");
    }

    #[test]
    fn retime_is_nearest_frame_both_ways() {
        let r = Retime::new(24.0, 8.0);
        assert_eq!((0..7).map(|i| r.model_index(i, 100)).collect::<Vec<_>>(), vec![0, 0, 1, 1, 1, 2, 2]);
        assert_eq!(r.model_index(1000, 5), 4);
        assert_eq!(r.model_frames_for(24), 9);
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
