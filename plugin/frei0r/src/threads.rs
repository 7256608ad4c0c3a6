//! Noticing a host that deals one filter's frames out to several instances.
//!
//! MLT's parallel rendering (`real_time` below -1: Kdenlive's and Shotcut's "parallel
//! processing") gives each render thread its own instance of a frei0r filter, and each thread
//! takes the next frame to render: an instance sees every second or third frame of its clip.
//! The extend filter and the bridge need every frame in order (the clip's last frames are the
//! continuation's context; a repeat is the clip's end). They notice that another instance with
//! the same settings has seen a frame between two of theirs; from then on the extend filter's
//! instances act as one ([`InOrder`]), and the bridge passes its input through with a message.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use crate::extend::SAME_TIME;

/// Frames further apart than this are a seek, not a frame another instance took.
const NEIGHBOURS: f64 = 1.0;

/// Recent frame times kept per instance.
const RECENT: usize = 8;

/// One instance's place among the instances of its group (same kind, settings and size).
#[derive(Debug)]
pub struct Sharing {
    id: u64,
    group: Option<u64>,
    /// Frames this instance has rendered in its group.
    count: usize,
}

/// The instances of one group: their recent frame times, whether they take turns, and the
/// first frames each rendered on its own (see [`Sharing::keep_early`]).
#[derive(Debug, Default)]
struct Group {
    members: HashMap<u64, VecDeque<f64>>,
    shared: bool,
    early: HashMap<u64, Vec<Early>>,
}

/// An input frame an instance rendered before it knew it takes turns: its time and pixels.
pub type Early = (f64, Arc<Vec<u8>>);

/// Frames an instance keeps of its first [`EARLY_SPAN`] (a host dealing frames out is noticed
/// within the first few frames; after that none are kept).
const EARLY_KEPT: usize = 6;
const EARLY_SPAN: usize = 12;

fn groups() -> &'static Mutex<HashMap<u64, Group>> {
    static GROUPS: OnceLock<Mutex<HashMap<u64, Group>>> = OnceLock::new();
    GROUPS.get_or_init(Default::default)
}

impl Default for Sharing {
    fn default() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        Sharing { id: NEXT.fetch_add(1, Ordering::Relaxed), group: None, count: 0 }
    }
}

impl Sharing {
    /// Records that this instance renders `time` for `group`; true once two instances of the
    /// group have rendered frames between each other's neighbouring frames (then for all of
    /// the group's instances: one of them may notice before the others).
    pub fn frames_shared(&mut self, group: u64, time: f64) -> bool {
        let mut groups = groups().lock().unwrap_or_else(|e| e.into_inner());
        if self.group != Some(group) {
            self.leave(&mut groups);
            self.group = Some(group);
            self.count = 0;
        }
        self.count += 1;
        let g = groups.entry(group).or_default();
        let last = g.members.get(&self.id).and_then(|ts| ts.back().copied());
        // Another instance's frame between this one's last and this, or this frame between two
        // neighbouring frames of another instance's.
        let taken_between = |ts: &VecDeque<f64>| {
            last.is_some_and(|l| ts.iter().any(|&t| between(t, l, time)))
                || ts.iter().zip(ts.iter().skip(1)).any(|(&a, &b)| between(time, a, b))
        };
        if g.members.iter().any(|(id, ts)| *id != self.id && taken_between(ts)) {
            g.shared = true;
        }
        let ts = g.members.entry(self.id).or_default();
        ts.push_back(time);
        if ts.len() > RECENT {
            ts.pop_front();
        }
        g.shared
    }

    /// Keeps `input`, the frame at `time` this instance renders on its own in `group` (after
    /// `frames_shared` said it does not take turns), among its first frames: if it turns out
    /// to, the instances acting as one take these too ([`take_early`]). Later frames are not
    /// kept, and the kept ones are let go.
    pub fn keep_early(&mut self, group: u64, time: f64, input: &[u8]) {
        let mut groups = groups().lock().unwrap_or_else(|e| e.into_inner());
        let Some(g) = groups.get_mut(&group).filter(|_| self.group == Some(group)) else { return };
        if self.count > EARLY_SPAN {
            g.early.remove(&self.id);
            return;
        }
        let kept = g.early.entry(self.id).or_default();
        if kept.len() < EARLY_KEPT {
            kept.push((time, Arc::new(input.to_vec())));
        }
    }

    fn leave(&self, groups: &mut HashMap<u64, Group>) {
        if let Some(id) = self.group {
            if let Some(g) = groups.get_mut(&id) {
                g.members.remove(&self.id);
                g.early.remove(&self.id);
                if g.members.is_empty() {
                    groups.remove(&id);
                }
            }
        }
    }
}

impl Drop for Sharing {
    fn drop(&mut self) {
        let mut groups = groups().lock().unwrap_or_else(|e| e.into_inner());
        self.leave(&mut groups);
    }
}

/// The frames `group`'s instances kept while rendering on their own (now given up), in time
/// order, each time once.
pub fn take_early(group: u64) -> Vec<Early> {
    let mut groups = groups().lock().unwrap_or_else(|e| e.into_inner());
    let mut early: Vec<Early> = groups.get_mut(&group).map(|g| g.early.drain().flat_map(|(_, v)| v).collect()).unwrap_or_default();
    early.sort_by(|a, b| a.0.total_cmp(&b.0));
    early.dedup_by(|a, b| (a.0 - b.0).abs() <= SAME_TIME);
    early
}

/// How long a frame waits for the frames just before it (other threads may still be rendering
/// them upstream).
const WAIT: Duration = Duration::from_secs(2);

/// Frames further ahead of the last one than this many frame steps are a seek, not frames
/// other threads are still rendering (MLT renders at most a few frames at once).
const IN_FLIGHT: f64 = 8.0;

/// One state shared by the instances of a group, which takes their frames in time order: a
/// frame a few steps ahead of the last one waits (up to [`WAIT`]) until the frames between
/// have been taken. A frame that comes after a later one all the same is "late".
pub struct InOrder<T> {
    state: Mutex<Ordered<T>>,
    turn: Condvar,
}

struct Ordered<T> {
    value: T,
    /// The latest frame time taken, and the host's frame step (the smallest seen).
    last: Option<f64>,
    step: Option<f64>,
}

impl<T> InOrder<T> {
    pub fn new(value: T) -> Self {
        InOrder { state: Mutex::new(Ordered { value, last: None, step: None }), turn: Condvar::new() }
    }

    /// Runs `f` on the shared state for the frame at `time`, once the frames before it have
    /// been (or a while has passed); `f`'s second argument says whether the frame is late.
    /// `early` are frames the instances rendered on their own before: they are taken in turn
    /// too (`f` on them with `replay`), those older than the frames taken already left out.
    pub fn run<R>(&self, time: f64, early: Vec<Early>, mut f: impl FnMut(&mut T, Frame) -> R) -> R {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (before, after): (Vec<Early>, Vec<Early>) =
            early.into_iter().filter(|(t, _)| (t - time).abs() > SAME_TIME).partition(|(t, _)| *t < time);
        for (t, input) in before {
            if !s.take(t) {
                f(&mut s.value, Frame { time: t, late: false, replay: Some(&input) });
            }
        }
        let deadline = Instant::now() + WAIT;
        loop {
            let waits = match (s.last, s.step) {
                (Some(last), Some(step)) => time - last > 1.5 * step && time - last <= IN_FLIGHT * step,
                _ => false,
            };
            let now = Instant::now();
            if !waits || now >= deadline {
                break;
            }
            s = self.turn.wait_timeout(s, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
        }
        let late = s.take(time);
        let result = f(&mut s.value, Frame { time, late, replay: None });
        for (t, input) in after {
            if !s.take(t) {
                f(&mut s.value, Frame { time: t, late: false, replay: Some(&input) });
            }
        }
        drop(s);
        self.turn.notify_all();
        result
    }
}

impl<T> Ordered<T> {
    /// Notes that the frame at `time` is taken; whether it is late (a later one was taken
    /// before it, not a seek apart).
    fn take(&mut self, time: f64) -> bool {
        let late = self.last.is_some_and(|last| time < last - SAME_TIME && last - time <= NEIGHBOURS);
        if !late {
            if let Some(d) = self.last.map(|last| time - last).filter(|d| *d > SAME_TIME && *d <= NEIGHBOURS) {
                self.step = Some(self.step.map_or(d, |step| step.min(d)));
            }
            self.last = Some(time);
        }
        late
    }
}

/// A frame taken in turn: its time, whether a later one was taken before it, and for a frame
/// an instance rendered on its own before, its input (the output is not shown).
pub struct Frame<'a> {
    pub time: f64,
    pub late: bool,
    pub replay: Option<&'a [u8]>,
}

/// The shared state of `group`, made by `make` for the group's first instance to ask; it lives
/// as long as an instance holds it.
pub fn in_order<T: Send + 'static>(group: u64, make: impl FnOnce() -> T) -> Arc<InOrder<T>> {
    type Registry = Mutex<HashMap<u64, Weak<dyn std::any::Any + Send + Sync>>>;
    static STATES: OnceLock<Registry> = OnceLock::new();
    let mut states = STATES.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    states.retain(|_, w| w.strong_count() > 0);
    if let Some(found) = states.get(&group).and_then(Weak::upgrade).and_then(|a| a.downcast::<InOrder<T>>().ok()) {
        return found;
    }
    let state = Arc::new(InOrder::new(make()));
    let any: Arc<dyn std::any::Any + Send + Sync> = state.clone();
    states.insert(group, Arc::downgrade(&any));
    state
}

/// Whether `t` lies strictly between the neighbouring frame times `a` and `b` (not a seek apart).
fn between(t: f64, a: f64, b: f64) -> bool {
    let (lo, hi) = (a.min(b), a.max(b));
    hi - lo <= NEIGHBOURS && t > lo + SAME_TIME && t < hi - SAME_TIME
}

/// The group of an instance: its kind, settings and frame size.
pub fn group_of(parts: &impl std::hash::Hash) -> u64 {
    use std::hash::Hasher;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    parts.hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instances_that_take_turns_notice_and_lone_ones_do_not() {
        let g = group_of(&("turns", 1));
        let (mut a, mut b) = (Sharing::default(), Sharing::default());
        // Two threads taking frames in turn: 0 1 2 3 ...
        assert!(!a.frames_shared(g, 0.0));
        assert!(!b.frames_shared(g, 0.04));
        assert!(a.frames_shared(g, 0.08), "frame 0.04 went to the other instance");
        assert!(b.frames_shared(g, 0.12));
        // One that has not seen the other's frames between its own yet knows from the group.
        let g3 = group_of(&("turns", 3));
        let (mut x, mut y) = (Sharing::default(), Sharing::default());
        assert!(!x.frames_shared(g3, 0.0));
        assert!(!y.frames_shared(g3, 0.04));
        assert!(!y.frames_shared(g3, 0.12));
        assert!(x.frames_shared(g3, 0.08));
        assert!(y.frames_shared(g3, 0.16), "x noticed for both");

        // Two clips with the same settings shown side by side (same times) do not share.
        let g2 = group_of(&("side by side", 1));
        let (mut c, mut d) = (Sharing::default(), Sharing::default());
        for i in 0..10 {
            let t = i as f64 * 0.04;
            assert!(!c.frames_shared(g2, t));
            assert!(!d.frames_shared(g2, t));
        }
        // Nor does a seek, or an instance that has gone.
        let mut e = Sharing::default();
        assert!(!e.frames_shared(g2, 20.0));
        drop(c);
        drop(d);
        let mut f = Sharing::default();
        assert!(!f.frames_shared(g2, 0.0));
        assert!(!f.frames_shared(g2, 0.2));
    }
    /// Frames handed to the shared state out of order (as render threads finish them) are
    /// taken in time order, the early ones first; a frame that never comes is waited for only
    /// a while.
    #[test]
    fn frames_are_taken_in_time_order() {
        let order = std::sync::Arc::new(InOrder::new(Vec::<(f64, bool)>::new()));
        let early: Vec<Early> = vec![(0.04, Arc::new(vec![1])), (0.0, Arc::new(vec![0]))];
        let mut early_sorted = early.clone();
        early_sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
        order.run(0.08, early_sorted, |seen, f| seen.push((f.time, f.replay.is_some())));
        // 0.16 arrives before 0.12: it waits for it.
        let later = {
            let order = order.clone();
            std::thread::spawn(move || order.run(0.16, vec![], |seen, f| seen.push((f.time, f.late))))
        };
        std::thread::sleep(Duration::from_millis(200));
        order.run(0.12, vec![], |seen, f| seen.push((f.time, f.late)));
        later.join().unwrap();
        // 0.24 without 0.20: taken after the wait, and 0.20 then comes late.
        let t = Instant::now();
        order.run(0.24, vec![], |seen, f| seen.push((f.time, f.late)));
        assert!(t.elapsed() >= WAIT - Duration::from_millis(50), "waited for 0.20");
        order.run(0.20, vec![], |seen, f| seen.push((f.time, f.late)));
        let seen = order.state.lock().unwrap().value.clone();
        let want = [(0.0, true), (0.04, true), (0.08, false), (0.12, false), (0.16, false), (0.24, false), (0.20, true)];
        assert_eq!(seen, want);
    }
}
