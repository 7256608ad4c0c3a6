//! Paths for FFmpeg's libraries. ffmpeg-next takes paths as UTF-8 text (and panics on any
//! other), while a user's file or folder may be named in any bytes. Such a path is handed over
//! as the same file reached through an open descriptor (`/proc/self/fd/N`), which FFmpeg opens
//! like any other path.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// A path FFmpeg can open, with whatever descriptor keeps it valid.
pub(crate) struct FfmpegPath {
    path: PathBuf,
    _held: Option<File>,
}

impl FfmpegPath {
    pub(crate) fn as_path(&self) -> &Path {
        &self.path
    }

    /// A file to read: `path` itself, or the file opened and reached through its descriptor.
    pub(crate) fn input(path: &Path) -> std::io::Result<Self> {
        if path.to_str().is_some() {
            return Ok(Self { path: path.to_path_buf(), _held: None });
        }
        let file = File::open(path)?;
        Ok(Self { path: PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd())), _held: Some(file) })
    }

    /// A file to create: `path` itself, or its name (UTF-8: kino's temporary names are) inside
    /// its folder opened and reached through the folder's descriptor.
    pub(crate) fn output(path: &Path) -> std::io::Result<Self> {
        if path.to_str().is_some() {
            return Ok(Self { path: path.to_path_buf(), _held: None });
        }
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "a file name that is not valid UTF-8"))?;
        let folder = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let dir = File::open(folder)?;
        Ok(Self { path: PathBuf::from(format!("/proc/self/fd/{}/{name}", dir.as_raw_fd())), _held: Some(dir) })
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;

    use super::*;

    #[test]
    fn utf8_paths_pass_through_and_others_go_through_a_descriptor() {
        let dir = std::env::temp_dir().join(format!("kino-ffpath-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let plain = dir.join("a.txt");
        std::fs::write(&plain, b"plain").unwrap();
        assert_eq!(FfmpegPath::input(&plain).unwrap().as_path(), plain);

        let odd = dir.join(OsStr::from_bytes(b"bad\xff.txt"));
        std::fs::write(&odd, b"odd bytes").unwrap();
        let p = FfmpegPath::input(&odd).unwrap();
        assert!(p.as_path().to_str().is_some());
        assert_eq!(std::fs::read(p.as_path()).unwrap(), b"odd bytes");

        let folder = dir.join(OsStr::from_bytes(b"d\xfe"));
        std::fs::create_dir(&folder).unwrap();
        let out = FfmpegPath::output(&folder.join("new.bin")).unwrap();
        std::fs::write(out.as_path(), b"made").unwrap();
        assert_eq!(std::fs::read(folder.join("new.bin")).unwrap(), b"made");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
