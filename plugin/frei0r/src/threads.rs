//! Noticing a host that deals one filter's frames out to several instances.
//!
//! MLT's parallel rendering (`real_time` below -1: Kdenlive's and Shotcut's "parallel
//! processing") gives each render thread its own instance of a frei0r filter, and each thread
//! takes the next frame to render: an instance sees every second or third frame of its clip.
//! The extend filter and the bridge need every frame (the clip's last frames are the
//! continuation's context; a repeat is the clip's end), so they refuse to guess: they notice
//! that another instance with the same settings has seen a frame between two of theirs, and
//! pass their input through with a message.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

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
}

/// The instances of one group: their recent frame times, and whether they take turns.
#[derive(Debug, Default)]
struct Group {
    members: HashMap<u64, VecDeque<f64>>,
    shared: bool,
}

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
    /// Records that this instance renders `time` for `group`; true once two instances of the
    /// group have rendered frames between each other's neighbouring frames (then for all of
    /// the group's instances: one of them may notice before the others).
    pub fn frames_shared(&mut self, group: u64, time: f64) -> bool {
        let mut groups = groups().lock().unwrap_or_else(|e| e.into_inner());
        if self.group != Some(group) {
            self.leave(&mut groups);
            self.group = Some(group);
        }
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
}
