//! How `kino_extend` finds where its clip ends when no `start` is set: the clip ends on a freeze
//! (`tpad=stop_mode=clone`, a clip stretched past its end), and the freeze is told apart from
//! the ways a host shows the same picture twice without the clip ending:
//! * a host that asks for the same time again (an editor refreshing its preview, pausing,
//!   selecting the clip) shows the same frame again: not a new frame at all;
//! * a seek back rewinds what was seen;
//! * a clip at another rate than the project's repeats frames in a pattern (8 fps footage in a
//!   25 fps project shows each frame 3 or 4 times; 30 fps in 60 fps twice): a freeze is a run of
//!   copies clearly longer than the longest run seen before it;
//! * lossy clips (H.264) never repeat a frozen frame bit for bit, so "the same picture" allows
//!   the codec's flicker (a few levels here and there), not motion.

use std::collections::VecDeque;

/// Largest difference of one colour channel still counted as the same picture: H.264's
/// flicker on a frozen frame stays under about 12 levels; a moving object changes pixels by far
/// more.
const SAME_MAX_LEVELS: u8 = 32;
/// Largest mean difference per colour channel still counted as the same picture (H.264 at its
/// default quality: under 0.01 on a freeze, 4-6 on moving footage).
const SAME_MEAN_LEVELS: f64 = 0.25;
/// Frame steps shorter than this (above 20 fps) are rates footage is converted to by
/// repeating frames.
const FAST_STEP: f64 = 1.0 / 20.0;
/// Times closer than this are the same time (hosts round times to milliseconds).
pub const SAME_TIME: f64 = 1e-4;

/// Whether two RGBA frames show the same picture, up to a lossy codec's flicker.
pub fn same_picture(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut sum = 0u64;
    for (pa, pb) in a.chunks_exact(4).zip(b.chunks_exact(4)) {
        for c in 0..3 {
            let d = pa[c].abs_diff(pb[c]);
            if d > SAME_MAX_LEVELS {
                return false;
            }
            sum += u64::from(d);
        }
    }
    let channels = (a.len() / 4 * 3).max(1) as f64;
    sum as f64 / channels <= SAME_MEAN_LEVELS
}

/// What a new input frame is, for the extend filter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    /// The time just shown again: pass it through, remember nothing.
    Again,
    /// A frame of the clip: pass it through and remember it.
    Clip,
    /// The clip has ended: new footage starts at `seam` (a time already seen, at or before this
    /// frame's); the clip's frames are those before it.
    Ended { seam: f64 },
}

/// The times of the frames seen, and which repeat the frame before them.
#[derive(Debug, Default)]
pub struct FreezeFinder {
    seen: VecDeque<(f64, bool)>,
    capacity: usize,
    /// Whether the oldest run seen may have begun before its first frame seen: the host started
    /// after the clip's first frame (time 0), or older frames were forgotten.
    cut_front: bool,
}

impl FreezeFinder {
    pub fn new(capacity: usize) -> Self {
        FreezeFinder { seen: VecDeque::new(), capacity: capacity.max(2), cut_front: false }
    }

    /// The time of the newest frame seen.
    pub fn last_time(&self) -> Option<f64> {
        self.seen.back().map(|s| s.0)
    }

    /// Takes in the frame at `time`; `same` says whether it shows the same picture as the newest
    /// frame seen before it (ignored after a seek back, where that frame is not its neighbour).
    pub fn see(&mut self, time: f64, same: bool) -> Verdict {
        let mut same = same;
        match self.last_time() {
            Some(t) if (time - t).abs() <= SAME_TIME => return Verdict::Again,
            Some(t) if time < t => {
                self.rewind(time);
                same = false;
            }
            _ => {}
        }
        if self.seen.is_empty() {
            self.cut_front = time > SAME_TIME;
        }
        self.seen.push_back((time, same));
        if self.seen.len() > self.capacity {
            self.seen.pop_front();
            self.cut_front = true;
        }
        match self.freeze() {
            Some(seam) => Verdict::Ended { seam },
            None => Verdict::Clip,
        }
    }

    /// Forgets the frames at `time` and after (a seek back).
    pub fn rewind(&mut self, time: f64) {
        while self.seen.back().is_some_and(|s| s.0 >= time - SAME_TIME) {
            self.seen.pop_back();
        }
    }

    /// Where the freeze the newest frames make begins, once it is one: runs of copies are
    /// measured (a run is a frame and its copies); the newest, unfinished run is a freeze when
    /// an earlier run has finished and it is longer than every finished one: from 2 frames when
    /// the clip shows each frame once, more than 1.5 times the longest run otherwise. The seam
    /// is where the frame would have given way at the clip's usual pace (its commonest run).
    fn freeze(&self) -> Option<f64> {
        let runs = self.runs();
        let (&(start, len), mut finished) = runs.split_last()?;
        // A run cut at the front (a render thread or preview joining mid-clip) is not measured:
        // it would make the clip's usual run look short and the next one a freeze.
        if self.cut_front {
            finished = finished.get(1..).unwrap_or_default();
        }
        if finished.is_empty() || len < 2 {
            return None;
        }
        // Only frames shown one after another count: a host that skips frames (a preview
        // dropping them, frames dealt to several instances) makes runs that are not the clip's.
        let from = finished.last().map_or(start, |r| r.0);
        let steps: Vec<f64> = self.seen.iter().skip(from).zip(self.seen.iter().skip(from + 1)).map(|(a, b)| b.0 - a.0).collect();
        let (lo, hi) = steps.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), s| (lo.min(*s), hi.max(*s)));
        if hi > 1.25 * lo + SAME_TIME {
            return None;
        }
        let longest = finished.iter().map(|r| r.1).max().unwrap_or(1);
        // Above 20 fps a single copy may be a rate conversion's (24 fps footage in a 25 fps
        // project repeats a frame each second, 23.976 in 29.97 every fifth): the freeze starts
        // on its second copy there, the first staying on screen (1/25 s); below, on the first.
        let step = self.seen[start + 1].0 - self.seen[start].0;
        let first_copies = if step < FAST_STEP { 3 } else { 2 };
        let is_freeze = if longest <= 1 { len >= first_copies } else { len as f64 > 1.5 * longest as f64 };
        if !is_freeze {
            return None;
        }
        let usual = commonest(finished.iter().map(|r| r.1));
        Some(self.seen[start + usual.min(len - 1)].0)
    }

    /// For how long (seconds) one picture has been shown since the clip's first frame, when
    /// every frame seen has shown it (a still, or a one-frame clip held: no end to find).
    pub fn one_picture_from_start(&self) -> Option<f64> {
        let (first, last) = (self.seen.front()?, self.seen.back()?);
        (!self.cut_front && self.runs().len() == 1).then_some(last.0 - first.0)
    }

    /// (index of the first frame, length) of each run, oldest first.
    fn runs(&self) -> Vec<(usize, usize)> {
        let mut runs: Vec<(usize, usize)> = Vec::new();
        for (i, &(_, same)) in self.seen.iter().enumerate() {
            match runs.last_mut() {
                Some(r) if same => r.1 += 1,
                _ => runs.push((i, 1)),
            }
        }
        runs
    }
}

/// The most frequent value (the smallest among equals); 1 for none.
fn commonest(values: impl Iterator<Item = usize>) -> usize {
    let mut counts = std::collections::BTreeMap::new();
    for v in values {
        *counts.entry(v).or_insert(0usize) += 1;
    }
    counts.into_iter().max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0))).map_or(1, |(v, _)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds frames at `fps` whose pictures are `ids` (equal ids: the same picture); returns
    /// each frame's verdict.
    fn feed(ids: &[u32], fps: f64) -> Vec<Verdict> {
        let mut f = FreezeFinder::new(128);
        let mut prev: Option<u32> = None;
        ids.iter()
            .enumerate()
            .map(|(i, &id)| {
                let v = f.see(i as f64 / fps, prev == Some(id));
                prev = Some(id);
                v
            })
            .collect()
    }

    fn first_end(v: &[Verdict]) -> Option<(usize, f64)> {
        v.iter().enumerate().find_map(|(i, v)| match v {
            Verdict::Ended { seam } => Some((i, *seam)),
            _ => None,
        })
    }

    #[test]
    fn a_clip_that_shows_each_frame_once_ends_at_its_first_copy() {
        // tpad's clones: frames 0..9, then frame 9 again and again.
        let ids: Vec<u32> = (0..10).chain([9; 5]).collect();
        let v = feed(&ids, 8.0);
        assert_eq!(first_end(&v), Some((10, 10.0 / 8.0)));
        assert!(v[..10].iter().all(|v| *v == Verdict::Clip));
        // Above 20 fps on the second copy, the seam still at the first.
        let v = feed(&ids, 25.0);
        assert_eq!(first_end(&v), Some((11, 10.0 / 25.0)));
    }

    /// Seen from the middle of a run (a preview started mid-clip, a render thread joining): the
    /// cut run is not the clip's usual run, so the next whole run is not taken for a freeze.
    #[test]
    fn a_run_cut_at_the_front_is_not_measured() {
        // 8 fps footage in a 25 fps project (runs of 3 and 4), seen from its third frame on.
        let ids: Vec<u32> = [0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4].into();
        let mut f = FreezeFinder::new(128);
        let mut prev = None;
        let v: Vec<Verdict> = (2..ids.len())
            .map(|i| {
                let v = f.see(i as f64 / 25.0, prev == Some(ids[i]));
                prev = Some(ids[i]);
                v
            })
            .collect();
        assert!(v.iter().all(|v| *v == Verdict::Clip), "{v:?}");
        // One picture from the clip's first frame on: a still, said by one_picture_from_start.
        let mut still = FreezeFinder::new(128);
        for i in 0..20 {
            still.see(i as f64 / 8.0, i > 0);
        }
        assert_eq!(still.one_picture_from_start(), Some(19.0 / 8.0));
        assert_eq!(f.one_picture_from_start(), None);
    }

    #[test]
    fn rate_conversion_copies_are_not_the_end() {
        // 23.976 fps footage in a 29.97 fps project: every fifth frame a copy; then a freeze.
        let mut ids: Vec<u32> = Vec::new();
        for k in 0..40u32 {
            ids.push(k);
            if k % 4 == 3 {
                ids.push(k);
            }
        }
        let real = ids.len();
        ids.extend([39; 10]);
        let v = feed(&ids, 29.97);
        let (at, _) = first_end(&v).expect("the freeze is found");
        assert!(v[..real].iter().all(|v| *v == Verdict::Clip), "no end at a conversion's copy");
        assert!(at <= real + 3, "found {} frames into the freeze", at - real);
        // 24 fps in 25: one copy a second.
        let mut ids: Vec<u32> = (0..24).collect();
        ids.insert(12, 11);
        ids.extend([23; 10]);
        assert!(first_end(&feed(&ids, 25.0)).is_some_and(|(at, _)| at > 24));
    }

    #[test]
    fn a_frame_shown_again_at_its_own_time_is_not_the_end() {
        let mut f = FreezeFinder::new(128);
        assert_eq!(f.see(0.0, false), Verdict::Clip);
        assert_eq!(f.see(0.0, true), Verdict::Again, "a refresh");
        assert_eq!(f.see(0.125, false), Verdict::Clip);
        assert_eq!(f.see(0.25, false), Verdict::Clip);
        // A seek back to the start, which shows frame 0 after frame 2: not a copy.
        assert_eq!(f.see(0.0, true), Verdict::Clip);
        assert_eq!(f.see(0.125, false), Verdict::Clip);
        assert_eq!(f.last_time(), Some(0.125));
        // Played on from there, a real copy is the end again.
        assert_eq!(f.see(0.25, true), Verdict::Ended { seam: 0.25 });
    }

    #[test]
    fn a_clip_that_starts_still_is_not_taken_for_its_end() {
        // 8 fps footage shown at 25 fps: runs of 3 and 4.
        let mut ids = Vec::new();
        for k in 0..16u32 {
            let n = 25 * (k + 1) / 8 - 25 * k / 8;
            ids.extend(std::iter::repeat_n(k, n as usize));
        }
        let real = ids.len();
        ids.extend([15; 20]);
        let v = feed(&ids, 25.0);
        let (at, seam) = first_end(&v).expect("the freeze is found");
        assert!(v[..real].iter().all(|v| *v == Verdict::Clip), "no end inside the footage");
        // The end is found once the last frame's run passes 1.5 times the longest run (4), the
        // seam where the frame would have given way at the usual pace (3 frames).
        let last_start = ids.iter().position(|&i| i == 15).unwrap();
        assert_eq!(at, last_start + 6);
        assert!((seam - (last_start + 3) as f64 / 25.0).abs() < 1e-9, "{seam}");
    }

    #[test]
    fn skipped_frames_are_not_a_freeze() {
        // Every other frame of a clip whose frames show twice (30 fps in 60): 0 0 1 1 2 2 ...
        // seen as 0 at 0, 0 at 2/60 (skipped one), 1 at 3/60, 1 at 4/60.
        let mut f = FreezeFinder::new(128);
        assert_eq!(f.see(0.0, false), Verdict::Clip);
        assert_eq!(f.see(2.0 / 60.0, false), Verdict::Clip);
        assert_eq!(f.see(3.0 / 60.0, true), Verdict::Clip, "the step before was two frames: runs unknown");
        assert_eq!(f.see(4.0 / 60.0, false), Verdict::Clip);
        // From here one after another: runs of 2 are the clip's pace; 4 copies are its end.
        assert_eq!(f.see(5.0 / 60.0, true), Verdict::Clip);
        assert_eq!(f.see(6.0 / 60.0, true), Verdict::Clip);
        assert!(matches!(f.see(7.0 / 60.0, true), Verdict::Ended { .. }));
    }

    #[test]
    fn doubled_frames_need_a_longer_freeze() {
        // 30 fps footage at 60 fps: every frame twice, then a freeze.
        let mut ids: Vec<u32> = (0..20).flat_map(|k| [k, k]).collect();
        ids.extend([19; 10]);
        let v = feed(&ids, 60.0);
        let (at, seam) = first_end(&v).unwrap();
        assert_eq!(at, 38 + 3, "4 copies: more than 1.5 times the longest run of 2");
        assert!((seam - 40.0 / 60.0).abs() < 1e-9);
    }

    #[test]
    fn lossy_flicker_is_the_same_picture_and_motion_is_not() {
        let a: Vec<u8> = (0..64 * 64 * 4).map(|i| (i % 200) as u8).collect();
        let mut flicker = a.clone();
        for i in (0..flicker.len()).step_by(997) {
            flicker[i] = flicker[i].saturating_add(8);
        }
        assert!(same_picture(&a, &flicker));
        // A 4x4 object moved: a few pixels change a lot.
        let mut moved = a.clone();
        for y in 10..14 {
            for x in 10..14 {
                moved[(y * 64 + x) * 4] = 255;
            }
        }
        assert!(!same_picture(&a, &moved));
        // Noise everywhere (a camera's): changed by a little, but everywhere.
        let noisy: Vec<u8> = a.iter().enumerate().map(|(i, v)| if i % 2 == 0 { v.saturating_add(2) } else { *v }).collect();
        assert!(!same_picture(&a, &noisy));
        assert!(!same_picture(&a, &a[4..]));
    }
}
