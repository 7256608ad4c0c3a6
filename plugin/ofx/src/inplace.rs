//! Extend and Animate in hosts without temporal clip access (MLT): every fetch returns the frame
//! being rendered, so the frames the footage is made from are remembered as the host renders
//! them, as the frei0r extend filter does.
//!
//! The frames needed are a fixed set of source times (the context `kino extend` takes, or the
//! still Animate starts from), decided by the panel alone, so the footage does not depend on
//! which thread, instance or order the host renders in: a frame needed is remembered (at the
//! model's size) whenever it is rendered, the footage is made once every needed frame has been
//! seen, and a render that comes before that passes its source through and says so. Memory is
//! process-wide (MLT makes an instance per frame) and bounded: [`KEEP`] sets of needed frames.
//!
//! A render in several threads (MLT's exports) reaches the first generated frames while other
//! threads are still rendering the needed ones, just before them: a render that misses needed
//! frames waits for them up to [`WAIT`] (2 s), and only then passes its source through. After one such
//! wait runs out, later renders do not wait again until another needed frame arrives (a render
//! that starts past Start stalls once, not on every frame).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use kino::RgbFrame;

use crate::abi::kOfxMessageWarning;
use crate::actions::{Instance, Shown};
use crate::{caps, jobs};

/// Sets of needed frames kept (each at most a model window of frames at the model's size).
const KEEP: usize = 8;

/// A frame seen again differs from the remembered one by less than this (mean absolute
/// difference, 0-255) when it is the same source frame at another render scale or depth; a
/// larger difference is another clip with the same panel, whose newer frame replaces the old.
const SAME_FRAME: f64 = 4.0;

/// What identifies a set of needed frames: which model size they are kept at, which source
/// times, and the source's size and rate. Not the prompt or seed: changing those reuses the
/// frames already seen instead of asking for a replay.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
struct MemKey {
    model: String,
    size: (u32, u32),
    times: Vec<i64>,
    source: (i64, i64),
    fps_bits: u64,
    /// How the source is read into the model's size (the inverse of "Fit").
    fit: kino::frame::Fit,
}

/// How long a render waits for needed frames that other threads may be rendering (a playback
/// in one thread that starts past them stalls this long once).
const WAIT: Duration = Duration::from_secs(2);

/// The needed frames seen so far, and whether a wait for the rest has run out since the last.
#[derive(Default)]
struct Seen {
    frames: HashMap<i64, RgbFrame>,
    gave_up: bool,
}

/// The frames seen, and the signal that another has been.
type Memory = Arc<(Mutex<Seen>, Condvar)>;

type Memories = Mutex<(HashMap<MemKey, Memory>, VecDeque<MemKey>)>;

fn memories() -> &'static Memories {
    static M: OnceLock<Memories> = OnceLock::new();
    M.get_or_init(Default::default)
}

/// Forgets every remembered frame (kOfxActionPurgeCaches): they are seen again as the host renders.
pub fn purge() {
    let mut m = memories().lock().unwrap_or_else(|e| e.into_inner());
    m.0.clear();
    m.1.clear();
}

fn memory(key: &MemKey) -> Memory {
    let mut m = memories().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(mem) = m.0.get(key) {
        return mem.clone();
    }
    let mem = Memory::default();
    m.0.insert(key.clone(), mem.clone());
    m.1.push_back(key.clone());
    while m.1.len() > KEEP {
        if let Some(old) = m.1.pop_front() {
            m.0.remove(&old);
        }
    }
    mem
}

/// Keeps `frame` as the source frame at `t`, unless the same frame is already kept (then the
/// first stays, so footage made from it is found again).
fn remember(mem: &Memory, t: i64, frame: RgbFrame) {
    let (lock, seen_one) = &**mem;
    let mut m = lock.lock().unwrap_or_else(|e| e.into_inner());
    match m.frames.get(&t) {
        Some(old) if old.width == frame.width && old.height == frame.height && old.mean_abs_diff(&frame) < SAME_FRAME => {}
        _ => {
            m.frames.insert(t, frame);
            m.gave_up = false;
            seen_one.notify_all();
        }
    }
}

/// The frames kept for `times` (`None` for one not seen), waiting up to `wait` for missing ones
/// unless a wait has run out since the last frame arrived.
fn collect(mem: &Memory, times: &[i64], wait: Duration) -> Vec<Option<RgbFrame>> {
    let (lock, seen_one) = &**mem;
    let deadline = Instant::now() + wait;
    let mut m = lock.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let frames: Vec<Option<RgbFrame>> = times.iter().map(|k| m.frames.get(k).cloned()).collect();
        if frames.iter().all(Option::is_some) || m.gave_up {
            return frames;
        }
        let now = Instant::now();
        if now >= deadline {
            // Renders waiting beside this one stop waiting too.
            m.gave_up = true;
            seen_one.notify_all();
            return frames;
        }
        m = seen_one.wait_timeout(m, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
    }
}

/// Frame ranges as "9-16" or "4", for messages.
fn spans(times: &[i64]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < times.len() {
        let mut j = i;
        while j + 1 < times.len() && times[j + 1] == times[j] + 1 {
            j += 1;
        }
        out.push(if i == j { times[i].to_string() } else { format!("{}-{}", times[i], times[j]) });
        i = j + 1;
    }
    out.join(", ")
}

/// What time `t` shows in place. `needed`: the source times (time order) the footage is made
/// from; `generated`: whether `t` shows footage; `make`: the footage's frame for `t`, from the
/// needed frames at the model's size.
pub fn shown(
    inst: &Instance,
    t: f64,
    needed: &[f64],
    generated: bool,
    make: impl FnOnce(Vec<RgbFrame>) -> Result<Shown, String>,
) -> Result<Shown, String> {
    let settings = inst.settings(t)?;
    let p = jobs::pipeline(&settings)?;
    let req = jobs::request(&p, &settings, 1)?;
    let times: Vec<i64> = needed.iter().map(|x| x.round() as i64).collect();
    if times.is_empty() {
        return Err("nothing before Start (frame) to continue: set Start after the clip's first frame".into());
    }
    let src = inst.source()?.region_of_definition(t).map_err(|e| format!("source region of definition: host status {e}"))?;
    let key = MemKey {
        model: jobs::model_dir(&settings.model).to_string_lossy().into_owned(),
        size: (req.width, req.height),
        times: times.clone(),
        source: ((src.x2 - src.x1).round() as i64, (src.y2 - src.y1).round() as i64),
        fps_bits: inst.host_fps().to_bits(),
        fit: inst.fit(),
    };
    let mem = memory(&key);
    let now = t.round() as i64;
    if times.contains(&now) {
        // The host renders a frame the footage needs: this fetch is that frame in any host.
        remember(&mem, now, inst.model_frame(t, req.width, req.height)?);
    }
    if !generated {
        return Ok(Shown::Source(t));
    }
    let frames = collect(&mem, &times, WAIT);
    let missing: Vec<i64> = times.iter().zip(&frames).filter(|(_, f)| f.is_none()).map(|(k, _)| *k).collect();
    if !missing.is_empty() {
        // The same words for every frame that waits (MLT logs each new message): the frame
        // rendered is not named.
        let msg = format!(
            "{}: the footage is made from source {} {}, and {} not been rendered yet. Play from frame {} once (until then the clip passes through untouched).",
            inst.kind.label(),
            if times.len() == 1 { "frame" } else { "frames" },
            spans(&times),
            if missing.len() == 1 { format!("frame {} has", missing[0]) } else { format!("frames {} have", spans(&missing)) },
            missing[0]
        );
        caps::tell(inst, kOfxMessageWarning, &msg);
        return Ok(Shown::Source(t));
    }
    make(frames.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_and_memory() {
        assert_eq!(spans(&[4]), "4");
        assert_eq!(spans(&[9, 10, 11, 13, 15, 16]), "9-11, 13, 15-16");
        let key = MemKey { model: "m".into(), size: (2, 1), times: vec![1], source: (2, 1), fps_bits: 0, fit: Default::default() };
        let mem = memory(&key);
        let f = |v: u8| RgbFrame { width: 2, height: 1, data: vec![v; 6] };
        remember(&mem, 1, f(10));
        remember(&mem, 1, f(12)); // the same frame, rescaled: the first stays
        assert_eq!(mem.0.lock().unwrap().frames[&1].data[0], 10);
        remember(&mem, 1, f(100)); // another clip with the same panel: the newer replaces it
        assert_eq!(mem.0.lock().unwrap().frames[&1].data[0], 100);
        assert!(Arc::ptr_eq(&mem, &memory(&key)));
    }

    #[test]
    fn a_render_waits_for_needed_frames_another_thread_is_rendering() {
        let key = MemKey { model: "w".into(), size: (2, 1), times: vec![1, 2], source: (2, 1), fps_bits: 0, fit: Default::default() };
        let mem = memory(&key);
        let f = |v: u8| RgbFrame { width: 2, height: 1, data: vec![v; 6] };
        remember(&mem, 1, f(1));
        let other = mem.clone();
        let renderer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            remember(&other, 2, f(2));
        });
        let got = collect(&mem, &[1, 2], Duration::from_secs(30));
        assert!(got.iter().all(Option::is_some), "frame 2 arrived while waiting");
        renderer.join().unwrap();
        // A frame nobody renders: one wait runs out, the next render does not wait again.
        let t0 = Instant::now();
        assert!(collect(&mem, &[3], Duration::from_millis(200))[0].is_none());
        assert!(t0.elapsed() >= Duration::from_millis(200));
        let t1 = Instant::now();
        assert!(collect(&mem, &[3], Duration::from_secs(30))[0].is_none());
        assert!(t1.elapsed() < Duration::from_secs(10), "no second wait");
        // Until another needed frame arrives.
        remember(&mem, 3, f(3));
        assert!(collect(&mem, &[3], Duration::from_secs(30))[0].is_some());
    }
}
