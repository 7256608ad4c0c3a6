//! Frames made backwards (a prepend) must come out oldest first, but the oldest window is made
//! last. They wait here: in memory up to a budget, the rest in an unlinked temporary file, so a
//! minute of prepended HD footage does not have to fit in RAM.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::frame::RgbFrame;

/// Frames kept in memory before the spool goes to disk, unless the options say otherwise.
pub(crate) const DEFAULT_MEMORY: usize = 32 << 20;

enum Window {
    Memory(Vec<RgbFrame>),
    File { offset: u64, count: usize, width: u32, height: u32 },
}

pub(crate) struct FrameSpool {
    budget: usize,
    in_memory: usize,
    /// In the order they were made: each window is earlier in time than the ones before it.
    windows: Vec<Window>,
    file: Option<(File, PathBuf)>,
    file_len: u64,
}

impl FrameSpool {
    pub(crate) fn new(budget: usize) -> Self {
        FrameSpool { budget, in_memory: 0, windows: Vec::new(), file: None, file_len: 0 }
    }

    pub(crate) fn len(&self) -> usize {
        self.windows
            .iter()
            .map(|w| match w {
                Window::Memory(f) => f.len(),
                Window::File { count, .. } => *count,
            })
            .sum()
    }

    /// Adds a window's frames (in time order), earlier in time than every frame added so far.
    pub(crate) fn push_earlier(&mut self, frames: Vec<RgbFrame>) -> Result<()> {
        let bytes: usize = frames.iter().map(|f| f.data.len()).sum();
        let same_size = frames.windows(2).all(|p| (p[0].width, p[0].height) == (p[1].width, p[1].height));
        if frames.is_empty() || (self.in_memory + bytes <= self.budget) || !same_size {
            self.in_memory += bytes;
            self.windows.push(Window::Memory(frames));
            return Ok(());
        }
        let (file, path) = match &mut self.file {
            Some(f) => f,
            None => self.file.insert(open_unlinked("prepend", "prepended frames")?),
        };
        let offset = self.file_len;
        file.seek(SeekFrom::Start(offset)).map_err(|e| Error::io(path.clone(), e))?;
        for f in &frames {
            file.write_all(&f.data).map_err(|e| Error::io(path.clone(), e))?;
        }
        self.file_len += bytes as u64;
        self.windows.push(Window::File { offset, count: frames.len(), width: frames[0].width, height: frames[0].height });
        Ok(())
    }

    /// Hands every frame to `emit`, oldest first, after skipping the `skip` oldest.
    pub(crate) fn drain(mut self, mut skip: usize, emit: &mut dyn FnMut(RgbFrame) -> Result<()>) -> Result<()> {
        while let Some(w) = self.windows.pop() {
            match w {
                Window::Memory(frames) => {
                    for f in frames {
                        if skip > 0 {
                            skip -= 1;
                        } else {
                            emit(f)?;
                        }
                    }
                }
                Window::File { offset, count, width, height } => {
                    let (file, path) = self.file.as_mut().expect("a spooled window has a file");
                    let size = width as usize * height as usize * 3;
                    file.seek(SeekFrom::Start(offset + (skip.min(count) * size) as u64)).map_err(|e| Error::io(path.clone(), e))?;
                    for _ in skip.min(count)..count {
                        let mut data = vec![0u8; size];
                        file.read_exact(&mut data).map_err(|e| Error::io(path.clone(), e))?;
                        emit(RgbFrame { width, height, data })?;
                    }
                    skip -= skip.min(count);
                }
            }
        }
        Ok(())
    }
}

/// A new file in the temporary folder, removed from the folder at once: it lives while open and
/// leaves nothing behind, whatever happens to the process.
/// A new temporary file, already unlinked (it vanishes with the process, however it ends), for
/// frames waiting to be used: `tag` names it, `what` says in an error what it was for.
pub(crate) fn open_unlinked(tag: &str, what: &str) -> Result<(File, PathBuf)> {
    static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("kino-{tag}-{}-{n}.rgb", std::process::id()));
    let file = std::fs::OpenOptions::new().read(true).write(true).create_new(true).open(&path).map_err(|e| {
        Error::io(&path, std::io::Error::new(e.kind(), format!("cannot hold {what} there (set TMPDIR to another folder): {e}")))
    })?;
    let _ = std::fs::remove_file(&path);
    Ok((file, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(i: u8) -> RgbFrame {
        RgbFrame { width: 2, height: 1, data: vec![i; 6] }
    }

    fn order(budget: usize, skip: usize) -> Vec<u8> {
        let mut s = FrameSpool::new(budget);
        // Made backwards: window [4, 5, 6], then [2, 3], then [0, 1].
        s.push_earlier(vec![frame(4), frame(5), frame(6)]).unwrap();
        s.push_earlier(vec![frame(2), frame(3)]).unwrap();
        s.push_earlier(vec![frame(0), frame(1)]).unwrap();
        assert_eq!(s.len(), 7);
        let mut out = Vec::new();
        s.drain(skip, &mut |f| {
            assert_eq!((f.width, f.height), (2, 1));
            out.push(f.data[0]);
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn frames_come_back_oldest_first_from_memory_and_from_disk() {
        let all: Vec<u8> = (0..7).collect();
        for budget in [usize::MAX, 0, 20] {
            assert_eq!(order(budget, 0), all, "budget {budget}");
            // Skipping reaches across windows, on disk as in memory.
            assert_eq!(order(budget, 3), all[3..].to_vec(), "budget {budget}");
            assert_eq!(order(budget, 7), Vec::<u8>::new());
        }
    }

    #[test]
    fn the_spool_file_is_never_left_in_the_temp_folder() {
        let mut s = FrameSpool::new(0);
        s.push_earlier(vec![frame(1)]).unwrap();
        let path = s.file.as_ref().unwrap().1.clone();
        assert!(!path.exists(), "{} is visible", path.display());
    }
}
