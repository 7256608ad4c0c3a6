//! Noticing a host that deals one filter's frames out to several instances.
//!
//! MLT's parallel rendering (`real_time` below -1: Kdenlive's and Shotcut's "parallel
//! processing") gives each render thread its own instance of a frei0r filter, and each thread
//! takes the next frame to render: an instance sees every second or third frame of its clip.
//! The extend filter and the bridge need every frame in order (the clip's last frames are the
//! continuation's context; a repeat is the clip's end). They notice that an instance with the
//! same settings, rendering on another thread, has taken a frame between two of theirs: the two
//! take turns, and form a cohort that others join the same way. From then on the extend
//! filter's cohort acts as one instance ([`InOrder`]), and the bridge passes its input through
//! with a message. Instances on one thread never take turns (ffmpeg's two streams with the same
//! settings), and an instance that has not taken turns with a cohort's members is not in it (a
//! later clip with the same settings).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use crate::extend::SAME_TIME;

/// Frames further apart than this are a seek, not a frame another instance took.
const NEIGHBOURS: f64 = 1.0;

/// Recent frame times kept per instance.
const RECENT: usize = 8;

/// An instance that has rendered nothing for this long is not rendering now.
const STALE: Duration = Duration::from_secs(10);

/// How recent another instance's frame must be to show that an instance's first frame is
/// dealt out with it.
const FRESH: Duration = Duration::from_secs(1);

/// One instance's place among the instances of its group (same kind, settings and size).
#[derive(Debug)]
pub struct Sharing {
    id: u64,
    group: Option<u64>,
}

/// Instances that take turns: the cohort's id, and how many instances it has.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cohort {
    pub id: u64,
    pub members: usize,
}

/// An instance as its group knows it.
#[derive(Debug)]
struct Member {
    /// Its latest frame times, and when it rendered them.
    times: VecDeque<(f64, Instant)>,
    thread: ThreadId,
    cohort: Option<u64>,
    /// Frames rendered in the group.
    count: usize,
    /// Its first frames rendered on its own, while other instances were about.
    early: Vec<Early>,
}

impl Member {
    /// Whether it has rendered a frame lately: instances that have not for a while are not.
    fn rendering_now(&self) -> bool {
        self.times.back().is_some_and(|(_, when)| when.elapsed() < STALE)
    }
}

/// The instances of one group.
#[derive(Debug, Default)]
struct Group {
    members: HashMap<u64, Member>,
}

/// An input frame an instance rendered before it knew it takes turns: its time and pixels.
pub type Early = (f64, Arc<Vec<u8>>);

/// Frames an instance keeps of its first [`EARLY_SPAN`]: a host dealing frames out is noticed
/// within an instance's first few frames (a thread may take several in a row before another
/// gets one); after that none are kept.
const EARLY_KEPT: usize = 8;
const EARLY_SPAN: usize = 16;

fn groups() -> &'static Mutex<HashMap<u64, Group>> {
    static GROUPS: OnceLock<Mutex<HashMap<u64, Group>>> = OnceLock::new();
    GROUPS.get_or_init(Default::default)
}

impl Default for Sharing {
    fn default() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        Sharing { id: NEXT.fetch_add(1, Ordering::Relaxed), group: None }
    }
}

impl Sharing {
    /// Records that this instance renders `time` for `group` on this thread; its cohort once it
    /// takes turns with instances on other threads (an instance's frames between two of the
    /// other's). `input`, when given, is kept among the instance's first frames while it renders
    /// on its own ([`take_early`]).
    pub fn turns(&mut self, group: u64, time: f64, input: Option<&[u8]>) -> Option<Cohort> {
        self.turns_on(group, time, input, std::thread::current().id())
    }

    fn turns_on(&mut self, group: u64, time: f64, input: Option<&[u8]>, thread: ThreadId) -> Option<Cohort> {
        static NEXT_COHORT: AtomicU64 = AtomicU64::new(0);
        let mut groups = groups().lock().unwrap_or_else(|e| e.into_inner());
        if self.group != Some(group) {
            self.leave(&mut groups);
            self.group = Some(group);
        }
        let g = groups.entry(group).or_default();
        let (last, mut cohort) = g.members.get(&self.id).map_or((None, None), |m| (m.times.back().copied(), m.cohort));
        if cohort.is_none() {
            // Another thread's instance took a frame between this one's last and this, or this
            // frame lies between its two latest. Only frames rendered while this instance
            // renders count: since its last frame, or for its first, a moment ago (another
            // clip's instances saw the same times before).
            let fresh = |when: Instant| last.map_or(when.elapsed() < FRESH, |(_, since)| when >= since);
            let taken_between = |ts: &VecDeque<(f64, Instant)>| {
                let since_mine = last.is_some_and(|(l, since)| ts.iter().any(|&(t, when)| when >= since && between(t, l, time)));
                let within_its_latest = ts.len() >= 2 && fresh(ts[ts.len() - 1].1) && between(time, ts[ts.len() - 2].0, ts[ts.len() - 1].0);
                since_mine || within_its_latest
            };
            let partner = g
                .members
                .iter()
                .find(|(id, m)| **id != self.id && m.thread != thread && taken_between(&m.times))
                .map(|(id, m)| (*id, m.cohort));
            // A cohort rendering this stretch of the clip now on other threads (with many
            // threads, pairs notice each other before all have, and a thread may join late).
            // The stretch: the latest frames its instances took a moment ago, widened by a
            // quarter second and its own width ahead; a later clip's frames lie before the
            // stretch of the clip still finishing.
            let nearby = {
                let mut stretches: HashMap<u64, (f64, f64)> = HashMap::new();
                for m in g.members.values().filter(|m| m.thread != thread) {
                    if let (Some(c), Some(&(t, when))) = (m.cohort, m.times.back()) {
                        if when.elapsed() < FRESH {
                            let e = stretches.entry(c).or_insert((t, t));
                            *e = (e.0.min(t), e.1.max(t));
                        }
                    }
                }
                stretches.into_iter().find(|(_, (lo, hi))| time >= lo - 0.25 && time <= hi + 0.25 + (hi - lo)).map(|(c, _)| c)
            };
            if let Some((partner, partner_cohort)) = partner {
                let id = partner_cohort.or(nearby).unwrap_or_else(|| NEXT_COHORT.fetch_add(1, Ordering::Relaxed));
                g.members.get_mut(&partner).expect("found above").cohort = Some(id);
                cohort = Some(id);
            } else {
                cohort = nearby;
            }
        }
        let m = g.members.entry(self.id).or_insert_with(|| Member {
            times: VecDeque::new(),
            thread,
            cohort: None,
            count: 0,
            early: Vec::new(),
        });
        m.thread = thread;
        m.cohort = cohort;
        m.count += 1;
        m.times.push_back((time, Instant::now()));
        if m.times.len() > RECENT {
            m.times.pop_front();
        }
        if m.count > EARLY_SPAN {
            m.early = Vec::new();
        } else if let Some(input) = input.filter(|_| cohort.is_none() && m.early.len() < EARLY_KEPT) {
            m.early.push((time, Arc::new(input.to_vec())));
        }
        // Members: the group's instances rendering now (those of the cohort, and threads that
        // have not noticed yet), for how many frames may be in flight.
        cohort.map(|id| Cohort { id, members: g.members.values().filter(|m| m.rendering_now()).count() })
    }

    /// Whether an instance of this one's group on another thread is rendering now: the host
    /// deals the frames out, though the two may not have taken turns yet.
    pub fn others_rendering(&self) -> bool {
        self.others_rendering_on(std::thread::current().id())
    }

    fn others_rendering_on(&self, thread: ThreadId) -> bool {
        let groups = groups().lock().unwrap_or_else(|e| e.into_inner());
        let group = self.group.and_then(|g| groups.get(&g));
        group.is_some_and(|g| g.members.iter().any(|(id, m)| *id != self.id && m.thread != thread && m.rendering_now()))
    }

    fn leave(&self, groups: &mut HashMap<u64, Group>) {
        if let Some(id) = self.group {
            if let Some(g) = groups.get_mut(&id) {
                g.members.remove(&self.id);
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

/// The frames kept by `cohort`'s members in `group` while they rendered on their own, and by
/// the group's instances rendering now that have not noticed yet (they are the other render
/// threads' instances), in time order, each time once. They are given up.
pub fn take_early(group: u64, cohort: u64) -> Vec<Early> {
    let mut groups = groups().lock().unwrap_or_else(|e| e.into_inner());
    let ours = |m: &Member| m.cohort == Some(cohort) || (m.cohort.is_none() && m.rendering_now());
    let mut early: Vec<Early> = groups
        .get_mut(&group)
        .map(|g| g.members.values_mut().filter(|m| ours(m)).flat_map(|m| std::mem::take(&mut m.early)).collect())
        .unwrap_or_default();
    early.sort_by(|a, b| a.0.total_cmp(&b.0));
    early.dedup_by(|a, b| (a.0 - b.0).abs() <= SAME_TIME);
    early
}

/// How long a frame waits for the frames just before it without progress (other threads may
/// still be rendering them upstream, slowly while footage is generated on the same cores). A
/// parallel preview that jumps a few frames ahead waits this long once.
const WAIT: Duration = Duration::from_secs(5);

/// Frames further ahead of the last one than this many frame steps (or twice the cohort's
/// members, when more) are a seek, not frames other threads are still rendering.
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
    /// Frames instances kept from before they took turns, waiting for their turn.
    pending: Vec<Early>,
}

impl<T> InOrder<T> {
    pub fn new(value: T) -> Self {
        InOrder { state: Mutex::new(Ordered { value, last: None, step: None, pending: Vec::new() }), turn: Condvar::new() }
    }

    /// Runs `f` on the shared state for the frame at `time`, once the frames before it have
    /// been (or a while has passed); `f`'s second argument says whether the frame is late.
    /// `early` are frames the instances rendered on their own before: they wait in the state
    /// for their turn like the others (`f` is run on them with `replay`, by whichever instance
    /// is there when it comes; late, when older than the frames taken already).
    /// `members` is how many instances may be rendering (frames in flight).
    pub fn run<R>(&self, time: f64, members: usize, early: Vec<Early>, mut f: impl FnMut(&mut T, Frame) -> R) -> R {
        let in_flight = IN_FLIGHT.max(2.0 * members as f64) + 0.5;
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.pending.extend(early.into_iter().filter(|(t, _)| (t - time).abs() > SAME_TIME));
        s.pending.sort_by(|a, b| a.0.total_cmp(&b.0));
        s.pending.dedup_by(|a, b| (a.0 - b.0).abs() <= SAME_TIME);
        // The wait ends WAIT after the last progress: frames taken by other instances (a long
        // one, generating footage, holds everyone up) start it again.
        let (mut deadline, mut progress) = (Instant::now() + WAIT, s.last);
        loop {
            s.replay_next(&mut f);
            let waits = match (s.last, s.step) {
                (Some(last), Some(step)) => time - last > 1.5 * step && time - last <= in_flight * step,
                _ => false,
            };
            let now = Instant::now();
            if s.last != progress {
                (deadline, progress) = (now + WAIT, s.last);
            }
            if !waits || now >= deadline {
                break;
            }
            s = self.turn.wait_timeout(s, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
        }
        // Kept frames before this one whose predecessors never came: in order, before it.
        s.replay_while(&mut f, |_, t| t < time);
        let late = s.take(time);
        let result = f(&mut s.value, Frame { time, late, replay: None });
        s.replay_next(&mut f);
        drop(s);
        self.turn.notify_all();
        result
    }
}

impl<T> Ordered<T> {
    /// Runs `f` on the kept frames that are next in order (no frame missing before them),
    /// leaving out those that have become late.
    fn replay_next<R>(&mut self, f: &mut impl FnMut(&mut T, Frame) -> R) {
        self.replay_while(f, |s, t| match (s.last, s.step) {
            (Some(last), Some(step)) => t - last <= 1.5 * step,
            _ => true,
        });
    }

    /// Runs `f` on the kept frames, oldest first, while `ready` says the oldest may go.
    fn replay_while<R>(&mut self, f: &mut impl FnMut(&mut T, Frame) -> R, ready: impl Fn(&Self, f64) -> bool) {
        while let Some(&(t, _)) = self.pending.first() {
            if !ready(self, t) {
                break;
            }
            let (t, input) = self.pending.remove(0);
            let late = self.take(t);
            f(&mut self.value, Frame { time: t, late, replay: Some(&input) });
        }
    }

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

    /// A thread's id, for instances said to render on it.
    fn a_thread() -> ThreadId {
        std::thread::spawn(|| std::thread::current().id()).join().unwrap()
    }

    #[test]
    fn instances_that_take_turns_notice_and_lone_ones_do_not() {
        let (t1, t2, t3) = (a_thread(), a_thread(), a_thread());
        let g = group_of(&("turns", 1));
        let (mut a, mut b) = (Sharing::default(), Sharing::default());
        // Two threads taking frames in turn: 0 1 2 3 ...
        assert!(a.turns_on(g, 0.0, None, t1).is_none());
        assert!(b.turns_on(g, 0.04, None, t2).is_none());
        let c = a.turns_on(g, 0.08, None, t1).expect("frame 0.04 went to the other instance");
        assert_eq!(c.members, 2);
        assert_eq!(b.turns_on(g, 0.12, None, t2), Some(c));
        // One that has not seen the other's frames between its own yet knows from its partner.
        let g3 = group_of(&("turns", 3));
        let (mut x, mut y) = (Sharing::default(), Sharing::default());
        assert!(x.turns_on(g3, 0.0, None, t1).is_none());
        assert!(y.turns_on(g3, 0.04, None, t2).is_none());
        assert!(y.turns_on(g3, 0.12, None, t2).is_none());
        let c3 = x.turns_on(g3, 0.08, None, t1).expect("0.04 and 0.12 went to y");
        assert_eq!(y.turns_on(g3, 0.16, None, t2), Some(c3), "x noticed for both");
        assert_ne!(c3.id, c.id);

        // Two clips with the same settings shown side by side (same times) do not share, on one
        // thread or on two.
        let g2 = group_of(&("side by side", 1));
        let (mut c, mut d) = (Sharing::default(), Sharing::default());
        for i in 0..10 {
            let t = i as f64 * 0.04;
            assert!(c.turns_on(g2, t, None, t1).is_none());
            assert!(d.turns_on(g2, t, None, t2).is_none());
        }
        // Nor does a seek, or an instance that has gone.
        let mut e = Sharing::default();
        assert!(e.turns_on(g2, 20.0, None, t3).is_none());
        drop(c);
        drop(d);
        let mut f = Sharing::default();
        assert!(f.turns_on(g2, 0.0, None, t1).is_none());
        assert!(f.turns_on(g2, 0.2, None, t1).is_none());

        // Two streams on one thread (ffmpeg's filter graph) whose frames interleave: not turns.
        let g4 = group_of(&("one thread", 1));
        let (mut p, mut q) = (Sharing::default(), Sharing::default());
        for i in 0..10 {
            assert!(p.turns_on(g4, i as f64 / 25.0, None, t1).is_none());
            assert!(q.turns_on(g4, i as f64 / 30.0 + 0.001, None, t1).is_none());
        }

        // A later clip with the same settings while the first one's cohort lives: its
        // instances form a cohort of their own, and keep their first frames for it.
        let g5 = group_of(&("two clips", 1));
        let (mut a1, mut a2) = (Sharing::default(), Sharing::default());
        a1.turns_on(g5, 3.0, None, t1);
        a2.turns_on(g5, 3.04, None, t2);
        let ca = a1.turns_on(g5, 3.08, None, t1).unwrap();
        let (mut b1, mut b2) = (Sharing::default(), Sharing::default());
        assert!(b1.turns_on(g5, 0.0, Some(&[1]), t1).is_none());
        assert!(b2.turns_on(g5, 0.04, Some(&[2]), t2).is_none());
        let cb = b1.turns_on(g5, 0.08, Some(&[3]), t1).unwrap();
        assert_ne!(ca.id, cb.id);
        assert_eq!(cb.members, 4, "all the group's instances rendering now may have frames in flight");
        let early: Vec<f64> = take_early(g5, cb.id).iter().map(|e| e.0).collect();
        assert_eq!(early, [0.0, 0.04]);
        assert!(take_early(g5, ca.id).is_empty());

        // The same with a clip whose times the first clip's instances saw before (a clip's times
        // start at 0): their old frames do not make the new instances theirs.
        let g6 = group_of(&("old times", 1));
        let (mut a1, mut a2) = (Sharing::default(), Sharing::default());
        for i in 0..100 {
            let (inst, t) = if i % 2 == 0 { (&mut a1, t1) } else { (&mut a2, t2) };
            inst.turns_on(g6, i as f64 * 0.04, None, t);
        }
        let ca = a1.turns_on(g6, 4.0, None, t1).unwrap();
        let (mut b1, mut b2) = (Sharing::default(), Sharing::default());
        assert!(b1.turns_on(g6, 0.10, None, t1).is_none(), "between two of a1's old frames");
        assert!(b2.turns_on(g6, 0.14, None, t2).is_none());
        let cb = b1.turns_on(g6, 0.18, None, t1).unwrap();
        assert_ne!(ca.id, cb.id);
    }

    #[test]
    fn an_instance_knows_when_others_render_its_group_on_other_threads() {
        let (t1, t2) = (a_thread(), a_thread());
        let g = group_of(&("others", 1));
        let (mut a, mut b, mut c) = (Sharing::default(), Sharing::default(), Sharing::default());
        assert!(!a.others_rendering_on(t1), "not in a group yet");
        a.turns_on(g, 0.0, None, t1);
        assert!(!a.others_rendering_on(t1), "alone");
        c.turns_on(g, 0.0, None, t1);
        assert!(!a.others_rendering_on(t1), "another instance on the same thread is not a share");
        // Another thread's first frame, far from this one's (not yet seen taking turns).
        b.turns_on(g, 0.5, None, t2);
        assert!(a.others_rendering_on(t1) && b.others_rendering_on(t2));
        let mut d = Sharing::default();
        d.turns_on(group_of(&("others", 2)), 0.0, None, t2);
        drop(b);
        assert!(!a.others_rendering_on(t1), "another group's instances do not count, nor one that has gone");
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
        order.run(0.08, 2, early_sorted, |seen, f| seen.push((f.time, f.replay.is_some())));
        // 0.16 arrives before 0.12: it waits for it.
        let later = {
            let order = order.clone();
            std::thread::spawn(move || order.run(0.16, 2, vec![], |seen, f| seen.push((f.time, f.late))))
        };
        std::thread::sleep(Duration::from_millis(200));
        order.run(0.12, 2, vec![], |seen, f| seen.push((f.time, f.late)));
        later.join().unwrap();
        // 0.24 without 0.20: taken after the wait, and 0.20 then comes late.
        let t = Instant::now();
        order.run(0.24, 2, vec![], |seen, f| seen.push((f.time, f.late)));
        assert!(t.elapsed() >= WAIT - Duration::from_millis(50), "waited for 0.20");
        order.run(0.20, 2, vec![], |seen, f| seen.push((f.time, f.late)));
        let seen = order.state.lock().unwrap().value.clone();
        let want = [(0.0, true), (0.04, true), (0.08, false), (0.12, false), (0.16, false), (0.24, false), (0.20, true)];
        assert_eq!(seen, want);
    }
}
