//! `kino_bridge`, a frei0r mixer2 (MLT's transitions): over the transition's frames the output
//! leads from A's frame at its start into B: the first frame is A's, the last few are B's own
//! (as many as the model reads to arrive at B: 7 frames at the demo model's rate), untouched,
//! and the frames between are the ones `kino bridge --only` makes from A's first frame to B's
//! last ones.
//!
//! A mixer sees both tracks only at the frame being rendered, and B's last frames are needed
//! before the first bridged frame can be made, so a transition is bridged from the second time
//! it is played. The first pass shows A's frames (the outgoing clip, untouched) and remembers
//! A's first and B's last frames with the host's frame step: in the process, and in kino's
//! cache folder (`<KINO_CACHE_DIR or ~/.cache/kino>/bridges`), so that a render in another
//! process, as editors' renders are, finds them. A transition is known by its settings and its
//! first frames, and is bridged as far as it has been played.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use kino::RgbFrame;

use crate::params::Settings;

/// What the first pass over a transition saw.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// The last time seen, in milliseconds from the transition's start.
    pub end_ms: u64,
    /// Seconds between the host's frames (from the first two frames seen).
    pub step: Option<f64>,
    /// A's frame at the start (model size).
    pub first: RgbFrame,
    /// B's last frames seen (model size, in time order), as many as the bridge reads.
    pub tail: Vec<RgbFrame>,
}

/// What a transition's frame shows.
#[derive(Debug, PartialEq)]
pub enum Show {
    /// The first input's frame, untouched (the start, and the first pass).
    A,
    /// The second input's frame, untouched (the transition's last frames).
    B,
    /// Bridged frame `index` of `count`, between the host's frames `step` seconds apart.
    Bridged { index: usize, count: usize, step: f64 },
}

/// One transition's memory in an instance: which record it is playing, and where records are
/// kept besides the process (none: only in the process).
#[derive(Default)]
pub struct Transition {
    current: Option<u64>,
    folder: Option<PathBuf>,
}

/// A transition's identity: its footage settings, the host's frame size and its first frames.
pub fn fingerprint(settings: &Settings, width: u32, height: u32, a: &[u8], b: &[u8]) -> u64 {
    // Fixed-key SipHash: the same in every process running this library.
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (settings.footage(), width, height, a, b).hash(&mut h);
    h.finish()
}

impl Transition {
    /// Records kept in kino's cache folder too.
    pub fn in_cache_folder() -> Transition {
        Transition { current: None, folder: kino::RuntimeOptions::from_env().cache_root.map(|r| r.join("bridges")) }
    }

    /// Whether this instance has seen the transition's first frame (it knows which one it plays).
    pub fn knows_start(&self) -> bool {
        self.current.is_some()
    }

    /// Notes the frame at `seconds` (A's and B's at the model's size; `start_id` gives the
    /// transition's id from its first frames) and says what it shows, with the record as known
    /// now. `tail(step)` is how many of B's last frames the bridge reads at a frame step.
    pub fn step(
        &mut self,
        seconds: f64,
        start_id: impl FnOnce() -> u64,
        a: &RgbFrame,
        b: &RgbFrame,
        tail: impl Fn(f64) -> usize,
    ) -> Result<(Show, Record), String> {
        if !(seconds.is_finite() && seconds >= 0.0) {
            return Err(format!("host time {seconds} is not a time in the transition"));
        }
        let ms = (seconds * 1000.0).round() as u64;
        if ms == 0 {
            let id = start_id();
            self.current = Some(id);
            let rec = self.load(id).unwrap_or_else(|| Record { end_ms: 0, step: None, first: a.clone(), tail: vec![b.clone()] });
            self.save(id, &rec);
            return Ok((Show::A, rec));
        }
        let id = self.current.ok_or("kino_bridge: play the transition from its first frame once; until then it shows the first clip")?;
        let mut rec = self.load(id).ok_or("kino_bridge: the transition's first pass was forgotten; play it from its first frame again")?;
        if ms > rec.end_ms {
            // The first pass (a pass that has seen the end before is a replay: `end_ms` only grows).
            let step = *rec.step.get_or_insert((ms - rec.end_ms) as f64 / 1000.0);
            rec.end_ms = ms;
            rec.tail.push(b.clone());
            let keep = tail(step).max(1);
            if rec.tail.len() > keep {
                rec.tail.drain(..rec.tail.len() - keep);
            }
            self.save(id, &rec);
            return Ok((Show::A, rec));
        }
        let step = rec.step.ok_or("kino_bridge: the transition's frame step is unknown")?;
        let frames = (rec.end_ms as f64 / 1000.0 / step).round() as usize + 1;
        let k = ((seconds / step).round() as usize).min(frames - 1);
        let b_from = first_of_b(frames, rec.tail.len());
        if b_from < 2 {
            crate::warn_once(&format!(
                "kino_bridge: the transition is {frames} frames, and its last {} are the second clip's own: too short to bridge, it cuts; lengthen it",
                rec.tail.len()
            ));
        }
        if k >= b_from {
            return Ok((Show::B, rec));
        }
        let count = b_from - 1;
        if k == 0 || count == 0 {
            return Ok((Show::A, rec));
        }
        Ok((Show::Bridged { index: k - 1, count, step }, rec))
    }
}

/// The first frame of a transition of `frames` that shows B's own frames (the `tail` the bridge
/// arrives at). Frame 0 is A's: with B's from frame 1 nothing is left to bridge, a cut; from
/// frame 2 one frame is bridged.
fn first_of_b(frames: usize, tail: usize) -> usize {
    frames.saturating_sub(tail).max(1)
}

fn memory() -> &'static Mutex<HashMap<u64, Record>> {
    static M: OnceLock<Mutex<HashMap<u64, Record>>> = OnceLock::new();
    M.get_or_init(Default::default)
}

impl Transition {
    fn load(&self, id: u64) -> Option<Record> {
        if let Some(r) = memory().lock().unwrap_or_else(|e| e.into_inner()).get(&id) {
            return Some(r.clone());
        }
        let rec = decode(&std::fs::read(self.folder.as_ref()?.join(format!("{id:016x}.kbr"))).ok()?)?;
        memory().lock().unwrap_or_else(|e| e.into_inner()).insert(id, rec.clone());
        Some(rec)
    }

    /// Keeps the record in the process and writes it (atomically) to the folder; a folder that
    /// cannot be written is said once and the record stays in the process.
    fn save(&self, id: u64, rec: &Record) {
        let changed = memory().lock().unwrap_or_else(|e| e.into_inner()).insert(id, rec.clone()).as_ref() != Some(rec);
        let Some(dir) = self.folder.as_ref().filter(|_| changed) else { return };
        let (tmp, record) = (dir.join(format!(".{id:016x}.{}.tmp", std::process::id())), dir.join(format!("{id:016x}.kbr")));
        let written = (|| -> std::io::Result<()> {
            std::fs::create_dir_all(dir)?;
            std::fs::write(&tmp, encode(rec))?;
            std::fs::rename(&tmp, &record)
        })();
        if let Err(e) = written {
            // A half-done write leaves nothing behind (the record's place may be taken by a
            // folder, the disk may be full).
            let _ = std::fs::remove_file(&tmp);
            crate::log_once(&format!(
                "kino_bridge: cannot keep a transition's record {} ({e}); a render in another process will show the first clip",
                record.display()
            ));
        }
    }
}

const MAGIC: &[u8; 8] = b"KINOBR3\n";

/// A record's check: a file damaged on disk (a flipped byte, a torn write) reads as no record,
/// so the next first pass writes it anew instead of bridging from junk.
fn checksum(bytes: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

fn encode(r: &Record) -> Vec<u8> {
    let mut v = encode_body(r);
    v.extend(checksum(&v).to_le_bytes());
    v
}

fn encode_body(r: &Record) -> Vec<u8> {
    let mut v = MAGIC.to_vec();
    v.extend(r.end_ms.to_le_bytes());
    v.extend(r.step.unwrap_or(0.0).to_le_bytes());
    v.extend((r.tail.len() as u32).to_le_bytes());
    for f in std::iter::once(&r.first).chain(&r.tail) {
        v.extend(f.width.to_le_bytes());
        v.extend(f.height.to_le_bytes());
        v.extend(&f.data);
    }
    v
}

fn decode(bytes: &[u8]) -> Option<Record> {
    let (body, sum) = bytes.split_at_checked(bytes.len().checked_sub(8)?)?;
    if checksum(body).to_le_bytes() != sum {
        return None;
    }
    let rest = body.strip_prefix(MAGIC)?;
    let (end, rest) = rest.split_at_checked(8)?;
    let (step, rest) = rest.split_at_checked(8)?;
    let (n, mut rest) = rest.split_at_checked(4)?;
    let step = f64::from_le_bytes(step.try_into().ok()?);
    let mut frame = || -> Option<RgbFrame> {
        let (w, r) = rest.split_at_checked(4)?;
        let (h, r) = r.split_at_checked(4)?;
        let (width, height) = (u32::from_le_bytes(w.try_into().ok()?), u32::from_le_bytes(h.try_into().ok()?));
        let n = (width as usize).checked_mul(height as usize)?.checked_mul(3)?;
        let (data, r) = r.split_at_checked(n)?;
        rest = r;
        Some(RgbFrame { width, height, data: data.to_vec() })
    };
    let first = frame()?;
    let n = u32::from_le_bytes(n.try_into().ok()?) as usize;
    let tail = (0..n).map(|_| frame()).collect::<Option<Vec<_>>>()?;
    if tail.is_empty() || !rest.is_empty() {
        return None;
    }
    Some(Record { end_ms: u64::from_le_bytes(end.try_into().ok()?), step: (step > 0.0 && step.is_finite()).then_some(step), first, tail })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(v: u8) -> RgbFrame {
        RgbFrame { width: 2, height: 1, data: vec![v; 6] }
    }

    #[test]
    fn records_round_trip_and_junk_is_refused() {
        let r = Record { end_ms: 750, step: Some(0.125), first: frame(1), tail: vec![frame(2), frame(3)] };
        assert_eq!(decode(&encode(&r)), Some(r.clone()));
        let bytes = encode(&r);
        assert_eq!(decode(&bytes[..bytes.len() - 1]), None, "truncated");
        assert_eq!(decode(&[bytes.as_slice(), &[0]].concat()), None, "trailing bytes");
        assert_eq!(decode(b"KINOBR3\nshort"), None);
        assert_eq!(decode(b"something else entirely"), None);
        // Any byte changed on disk: no record, so the transition is recorded anew.
        for at in [9, 20, bytes.len() - 3] {
            let mut bad = bytes.clone();
            bad[at] ^= 0x10;
            assert_eq!(decode(&bad), None, "byte {at} flipped");
        }
    }

    #[test]
    fn the_first_pass_shows_a_then_the_second_bridges_into_bs_last_frames() {
        // A transition of 9 frames at 8 fps (0 .. 1 s); the bridge reads B's last 3 frames.
        let mut t = Transition::default();
        let id = 0x6b69_6e6f_0000_0001;
        let times: Vec<f64> = (0..9).map(|i| i as f64 * 0.125).collect();
        let mut last = None;
        for (i, &s) in times.iter().enumerate() {
            let (show, rec) = t.step(s, || id, &frame(10), &frame(20 + i as u8), |_| 3).unwrap();
            assert_eq!(show, Show::A, "first pass at {s}");
            last = Some(rec);
        }
        assert_eq!(last.unwrap().tail, [frame(26), frame(27), frame(28)], "B's last frames, in order");
        let shows: Vec<Show> = times.iter().map(|&s| t.step(s, || id, &frame(10), &frame(99), |_| 3).unwrap().0).collect();
        assert_eq!(shows[0], Show::A);
        for (i, s) in shows[1..6].iter().enumerate() {
            assert_eq!(*s, Show::Bridged { index: i, count: 5, step: 0.125 });
        }
        assert!(shows[6..].iter().all(|s| *s == Show::B));
        // A new instance starting mid-way does not know the transition.
        assert!(Transition::default().step(0.25, || id, &frame(10), &frame(20), |_| 3).is_err());
    }

    /// With B's last 7 frames: 9 frames bridge one (no cut said), 8 cut.
    #[test]
    fn a_transition_cuts_only_when_nothing_is_left_between() {
        assert_eq!(first_of_b(9, 7), 2);
        assert_eq!(first_of_b(8, 7), 1);
        assert_eq!(first_of_b(3, 7), 1);
        let mut t = Transition::default();
        let id = 0x6b69_6e6f_0000_0003;
        let times: Vec<f64> = (0..9).map(|i| i as f64 * 0.125).collect();
        for (i, &s) in times.iter().enumerate() {
            t.step(s, || id, &frame(10), &frame(20 + i as u8), |_| 7).unwrap();
        }
        let shows: Vec<Show> = times.iter().map(|&s| t.step(s, || id, &frame(10), &frame(99), |_| 7).unwrap().0).collect();
        assert_eq!(shows[..2], [Show::A, Show::Bridged { index: 0, count: 1, step: 0.125 }]);
        assert!(shows[2..].iter().all(|s| *s == Show::B));
    }

    /// A record that cannot be written (its place taken by a folder) leaves no temporary file.
    #[test]
    fn a_failed_save_leaves_nothing_behind() {
        let dir = std::env::temp_dir().join(format!("kino-bridge-save-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let id = 0x6b69_6e6f_0000_0002u64;
        std::fs::create_dir_all(dir.join(format!("{id:016x}.kbr"))).unwrap();
        let t = Transition { current: None, folder: Some(dir.clone()) };
        t.save(id, &Record { end_ms: 750, step: Some(0.125), first: frame(1), tail: vec![frame(2)] });
        let left: Vec<String> = std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(left, [format!("{id:016x}.kbr")], "only the folder that was in the way");
    }
}
