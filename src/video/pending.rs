//! Partial outputs: written under a temporary name beside the destination, renamed into place
//! when complete, removed on failure, on a signal, or by the next run after a crash.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::output::{parent_of, Destination, FRAMES_MARKER, MARKER_TEXT};
use crate::error::{Error, Result};

/// Temporary outputs of this process not yet committed, removed by [`remove_partial_outputs`].
static LIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Removes every partial output this process is writing (a signal handler's last act before
/// exiting; the writers themselves may still be running, so folders are retried).
pub fn remove_partial_outputs() {
    let live = std::mem::take(&mut *LIVE.lock().unwrap_or_else(|e| e.into_inner()));
    for p in live {
        remove_any(&p);
    }
}

/// Removes a file or folder; whether it is gone.
fn remove_any(p: &Path) -> bool {
    for _ in 0..5 {
        let gone = match std::fs::symlink_metadata(p) {
            Err(_) => true,
            Ok(m) if m.is_dir() => std::fs::remove_dir_all(p).is_ok(),
            Ok(_) => std::fs::remove_file(p).is_ok(),
        };
        if gone {
            return true;
        }
    }
    false
}

/// A short, stable tag for a destination name: temporary names stay short whatever the
/// destination's length, and a later run finds the partials of an earlier one by it (FNV-1a).
fn name_tag(name: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// Partials of other destinations are removed once this old: a process with that number on
/// another machine sharing the folder may still be writing a young one.
const OTHERS_STALE: std::time::Duration = std::time::Duration::from_secs(3600);

/// Removes partials (and earlier frames set aside) left in `dir` by processes that no longer run
/// (killed with SIGKILL, or a power cut): those for the same destination, and those for others
/// that are over an hour old, so a killed run's hidden file does not stay in the user's folder.
fn remove_stale_partials(dir: &Path, tag: &str) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some((their_tag, rest)) = name.strip_prefix(".kino-").and_then(|r| r.split_once('.')) else { continue };
        let Some((pid, tail)) = rest.split_once('.') else { continue };
        let Ok(pid) = pid.parse::<u32>() else { continue };
        let ours = their_tag.len() == 16 && their_tag.bytes().all(|b| b.is_ascii_hexdigit());
        if !ours || !(tail.starts_with("partial") || tail == "old") || pid == std::process::id() || process_alive(pid) {
            continue;
        }
        let old = e.metadata().ok().and_then(|m| m.modified().ok()).and_then(|m| m.elapsed().ok()).is_some_and(|age| age > OTHERS_STALE);
        if their_tag != tag && !old {
            continue;
        }
        if remove_any(&e.path()) {
            log::info!("removed {} left by an earlier run that did not finish", e.path().display());
        }
    }
}

fn process_alive(pid: u32) -> bool {
    // Without /proc there is no cheap way to tell: leave the file.
    if !Path::new("/proc/self").exists() {
        return true;
    }
    match std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("stat")) {
        // A killed process stays a zombie (state Z) until its parent reaps it: it writes no more.
        Ok(stat) => !matches!(stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next()), Some('Z' | 'X')),
        Err(_) => Path::new("/proc").join(pid.to_string()).exists(),
    }
}

/// A temporary file or folder beside its destination, removed on drop unless committed.
pub(crate) struct PendingPath {
    pub(crate) tmp: PathBuf,
    dest: Destination,
    committed: bool,
}

impl PendingPath {
    /// The temporary name for a checked destination (`.kino-<tag>.<pid>.partial[.ext]`, the
    /// extension last so FFmpeg picks the container from it), with stale partials cleared.
    pub(crate) fn new(dest: Destination) -> Result<Self> {
        let (dir, name) = match &dest {
            Destination::File(p) | Destination::Folder(p) => {
                (parent_of(p), p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default())
            }
            Destination::Pattern { dir, pattern } => (dir.clone(), pattern.clone()),
        };
        let tag = name_tag(&name);
        remove_stale_partials(&dir, &tag);
        let ext = match &dest {
            Destination::File(p) => p.extension().map(|e| format!(".{}", e.to_string_lossy())).unwrap_or_default(),
            _ => String::new(),
        };
        let tmp = dir.join(format!(".kino-{tag}.{}.partial{ext}", std::process::id()));
        LIVE.lock().unwrap_or_else(|e| e.into_inner()).push(tmp.clone());
        // Messages name the output as typed, not its temporary name.
        let named = match &dest {
            Destination::File(p) | Destination::Folder(p) => p.clone(),
            Destination::Pattern { dir, pattern } => dir.join(pattern),
        };
        let pending = PendingPath { tmp, dest, committed: false };
        if !matches!(pending.dest, Destination::File(_)) {
            std::fs::create_dir(&pending.tmp).map_err(|e| Error::io(&named, e))?;
            if matches!(pending.dest, Destination::Folder(_)) {
                std::fs::write(pending.tmp.join(FRAMES_MARKER), MARKER_TEXT).map_err(|e| Error::io(&named, e))?;
            }
        }
        Ok(pending)
    }

    /// Moves the finished output into place, checking again that it replaces nothing else.
    pub(crate) fn commit(mut self) -> Result<()> {
        match &self.dest {
            Destination::File(dest) => {
                Destination::File(dest.clone()).check_replaceable(dest)?;
                // Data on disk before the name points at it: a crash never leaves an empty file.
                std::fs::File::open(&self.tmp).and_then(|f| f.sync_all()).map_err(|e| Error::io(&self.tmp, e))?;
                keep_access(dest, &self.tmp);
                std::fs::rename(&self.tmp, dest).map_err(|e| Error::io(dest, e))?;
            }
            Destination::Folder(dest) => {
                Destination::Folder(dest.clone()).check_replaceable(dest)?;
                // The marker says how many frames kino wrote, so a later run sees a frame the
                // user added (`00050.png` beside 17 frames) as the user's and keeps it.
                let frames = std::fs::read_dir(&self.tmp).map_err(|e| Error::io(&self.tmp, e))?.flatten().count().saturating_sub(1);
                std::fs::write(self.tmp.join(FRAMES_MARKER), format!("{MARKER_TEXT}frames {frames}\n"))
                    .map_err(|e| Error::io(&self.tmp, e))?;
                if dest.is_dir() && std::fs::read_dir(dest).map(|mut r| r.next().is_some()).unwrap_or(true) {
                    // An earlier run's frames: set them aside, move the new ones in, then delete.
                    let old = self.tmp.with_extension("old");
                    std::fs::rename(dest, &old).map_err(|e| Error::io(dest, e))?;
                    if let Err(e) = std::fs::rename(&self.tmp, dest) {
                        let _ = std::fs::rename(&old, dest);
                        return Err(Error::io(dest, e));
                    }
                    if !remove_any(&old) {
                        log::warn!(
                            "the earlier frames of {} could not be removed: they are in {}; remove that folder by hand",
                            dest.display(),
                            old.display()
                        );
                    }
                } else {
                    std::fs::rename(&self.tmp, dest).map_err(|e| Error::io(dest, e))?;
                }
            }
            Destination::Pattern { dir, pattern } => {
                self.dest.check_replaceable(&dir.join(pattern))?;
                let mut names: Vec<_> =
                    std::fs::read_dir(&self.tmp).map_err(|e| Error::io(&self.tmp, e))?.flatten().map(|e| e.file_name()).collect();
                names.sort();
                let mut moved = Vec::new();
                for n in names {
                    if let Err(e) = std::fs::rename(self.tmp.join(&n), dir.join(&n)) {
                        // Put back what was moved: all frames or none.
                        for m in moved {
                            let _ = std::fs::rename(dir.join(&m), self.tmp.join(&m));
                        }
                        return Err(Error::io(dir.join(&n), e));
                    }
                    moved.push(n);
                }
                let _ = std::fs::remove_dir(&self.tmp);
            }
        }
        self.committed = true;
        LIVE.lock().unwrap_or_else(|e| e.into_inner()).retain(|p| p != &self.tmp);
        Ok(())
    }
}

impl Drop for PendingPath {
    fn drop(&mut self) {
        if !self.committed {
            remove_any(&self.tmp);
            LIVE.lock().unwrap_or_else(|e| e.into_inner()).retain(|p| p != &self.tmp);
        }
    }
}

/// A file that replaces `dest` keeps who may read it: its permissions, and its owner and group
/// where this process may give them (a private clip stays private). Best effort: a new file
/// keeps the defaults it was made with.
fn keep_access(dest: &Path, tmp: &Path) {
    let Ok(old) = std::fs::metadata(dest) else { return };
    if !old.is_file() {
        return;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let _ = std::os::unix::fs::chown(tmp, Some(old.uid()), Some(old.gid()));
    }
    // After the owner: changing it may clear set-id bits.
    let _ = std::fs::set_permissions(tmp, old.permissions());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A process killed but not yet reaped by its parent (a zombie) no longer writes its partial:
    /// a rerun right after a `kill -9` clears what it left.
    #[test]
    fn a_zombie_is_not_alive() {
        assert!(process_alive(std::process::id()));
        let mut child = std::process::Command::new("sh").args(["-c", "exit 0"]).spawn().unwrap();
        let stat = Path::new("/proc").join(child.id().to_string()).join("stat");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !std::fs::read_to_string(&stat).unwrap().contains(") Z") {
            assert!(std::time::Instant::now() < deadline, "the child never exited");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(!process_alive(child.id()), "a zombie counts as gone");
        child.wait().unwrap();
        assert!(!process_alive(child.id()), "a reaped process is gone");
    }
}
