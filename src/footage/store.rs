//! Where [`super::Footage`] keeps the frames it has made: the most recent in memory up to a
//! budget, older ones in an unlinked temporary file up to a cap, the oldest beyond that dropped
//! (the footage makes them again when asked: see [`super::Footage::frame`]).

use std::collections::VecDeque;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::frame::RgbFrame;

/// Frames in the order made. The file is a ring of whole frames: frame `i` sits in slot
/// `i % slots`, so it never grows past the cap.
pub(super) struct FrameStore {
    memory_budget: usize,
    disk_cap: u64,
    memory: VecDeque<RgbFrame>,
    memory_bytes: usize,
    /// Frames `0..on_disk` have left memory; the last `slots` of them are in the file.
    on_disk: usize,
    size: Option<(u32, u32)>,
    file: Option<(File, PathBuf)>,
}

impl FrameStore {
    pub(super) fn new(memory_budget: usize, disk_cap: u64) -> Self {
        FrameStore { memory_budget, disk_cap, memory: VecDeque::new(), memory_bytes: 0, on_disk: 0, size: None, file: None }
    }

    /// Frames made so far, kept or not.
    pub(super) fn len(&self) -> usize {
        self.on_disk + self.memory.len()
    }

    /// The first frame still kept: earlier ones were dropped for the disk cap.
    pub(super) fn first_kept(&self) -> usize {
        self.on_disk.saturating_sub(self.slots())
    }

    /// Whole frames the file may hold (0 until the frame size is known).
    fn slots(&self) -> usize {
        let bytes = self.size.map_or(0, |(w, h)| w as u64 * h as u64 * 3);
        self.disk_cap.checked_div(bytes).map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX))
    }

    pub(super) fn push(&mut self, f: RgbFrame) -> Result<()> {
        f.check()?;
        let size = *self.size.get_or_insert((f.width, f.height));
        if size != (f.width, f.height) {
            return Err(Error::Frame(format!(
                "footage frame {} is {}x{}, the ones before {}x{}",
                self.len(),
                f.width,
                f.height,
                size.0,
                size.1
            )));
        }
        self.memory_bytes += f.data.len();
        self.memory.push_back(f);
        // The oldest frames go to disk (or, with no room there at all, away); the newest always
        // stays in memory.
        while self.memory_bytes > self.memory_budget && self.memory.len() > 1 {
            let old = self.memory.pop_front().expect("more than one frame");
            let slots = self.slots();
            if slots > 0 {
                if let Err(e) = self.write_to_disk(&old, slots) {
                    // A temporary folder that cannot take the frames (unwritable, full) costs
                    // only the seeks back: the footage goes on keeping nothing on disk, and a
                    // frame asked for again is made again, as past the disk cap.
                    log::warn!("{e}; frames made earlier than the last few are no longer kept (a seek back makes them again)");
                    self.file = None;
                    self.disk_cap = 0;
                }
            }
            self.memory_bytes -= old.data.len();
            self.on_disk += 1;
        }
        Ok(())
    }

    fn write_to_disk(&mut self, frame: &RgbFrame, slots: usize) -> Result<()> {
        let (file, path) = match &mut self.file {
            Some(f) => f,
            None => self.file.insert(crate::pipeline::spool::open_unlinked("footage", "generated frames")?),
        };
        let offset = (self.on_disk % slots) as u64 * frame.data.len() as u64;
        file.seek(SeekFrom::Start(offset)).and_then(|_| file.write_all(&frame.data)).map_err(|e| Error::io(path.clone(), e))
    }

    pub(super) fn get(&mut self, i: usize) -> Result<RgbFrame> {
        if i >= self.on_disk {
            return self
                .memory
                .get(i - self.on_disk)
                .cloned()
                .ok_or_else(|| Error::InvalidRequest(format!("footage frame {i} is not made yet")));
        }
        let slots = self.slots();
        let ((width, height), Some((file, path))) =
            (self.size.unwrap_or((0, 0)), self.file.as_mut().filter(|_| i >= self.on_disk.saturating_sub(slots)))
        else {
            return Err(Error::InvalidRequest(format!("footage frame {i} is not kept")));
        };
        let bytes = width as usize * height as usize * 3;
        let mut data = vec![0u8; bytes];
        file.seek(SeekFrom::Start((i % slots) as u64 * bytes as u64))
            .and_then(|_| file.read_exact(&mut data))
            .map_err(|e| Error::io(path.clone(), e))?;
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
            let mut s = FrameStore::new(budget, u64::MAX);
            for i in 0..10 {
                s.push(frame(i)).unwrap();
            }
            assert_eq!((s.len(), s.first_kept()), (10, 0));
            assert!(s.memory_bytes <= budget.max(6), "budget {budget}: {} bytes in memory", s.memory_bytes);
            for i in (0..10).rev().chain(0..10) {
                assert_eq!(s.get(i as usize).unwrap(), frame(i), "budget {budget}, frame {i}");
            }
            assert!(s.get(10).is_err());
            if let Some((_, path)) = &s.file {
                assert!(!path.exists(), "{} is visible", path.display());
            }
        }
        let mut s = FrameStore::new(0, u64::MAX);
        s.push(frame(0)).unwrap();
        assert!(s.push(RgbFrame { width: 1, height: 1, data: vec![0; 3] }).is_err(), "one size");
    }

    #[test]
    fn the_disk_holds_the_newest_frames_up_to_its_cap() {
        // Room for 3 frames (and a bit) on disk, none in memory but the newest.
        let mut s = FrameStore::new(0, 3 * 6 + 5);
        for i in 0..10 {
            s.push(frame(i)).unwrap();
            let on_file = s.file.as_ref().map_or(0, |(f, _)| f.metadata().unwrap().len());
            assert!(on_file <= 3 * 6, "after frame {i}: {on_file} bytes on disk");
        }
        // Frames 6, 7, 8 on disk, 9 in memory; 0..6 dropped.
        assert_eq!((s.len(), s.first_kept()), (10, 6));
        for i in 6..10 {
            assert_eq!(s.get(i as usize).unwrap(), frame(i), "frame {i}");
        }
        for i in 0..6 {
            assert!(s.get(i).unwrap_err().to_string().contains("not kept"), "frame {i}");
        }
        // No room for even one frame: memory only, the rest dropped, no file.
        let mut s = FrameStore::new(6, 5);
        for i in 0..4 {
            s.push(frame(i)).unwrap();
        }
        assert!(s.file.is_none());
        assert_eq!((s.first_kept(), s.get(3).unwrap()), (3, frame(3)));
    }

    /// A temporary file that stops taking frames (a full or unwritable TMPDIR) is not an error:
    /// the store keeps nothing on disk from then on, like a cap of 0.
    #[test]
    fn a_disk_that_fails_only_stops_keeping_old_frames() {
        let mut s = FrameStore::new(0, u64::MAX);
        s.push(frame(0)).unwrap();
        s.file = Some((File::open("/dev/null").unwrap(), PathBuf::from("/dev/null"))); // read-only
        for i in 1..6 {
            s.push(frame(i)).expect("frames keep coming");
        }
        assert!(s.file.is_none());
        assert_eq!((s.len(), s.first_kept()), (6, 5));
        assert_eq!(s.get(5).unwrap(), frame(5));
        assert!(s.get(1).unwrap_err().to_string().contains("not kept"), "made again when asked, not read from junk");
    }
}
