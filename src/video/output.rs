//! Where outputs go: the format chosen from the path, the checks that writing it destroys nothing
//! but the output itself, and the one place an output is finalised (written under a temporary
//! name beside its destination, renamed into place when complete).
//!
//! The promises (docs/reliability.md): an output never replaces an input; a folder of frames is
//! written only into a new or empty folder, or one kino wrote before (it carries a marker file and
//! nothing but frames); a `name_%05d.png` pattern adds its frames to a folder without touching the
//! other files there, and refuses to overwrite frames already there; partial outputs are removed
//! on failure, on a signal (through [`remove_partial_outputs`]) and, after a crash, by the next
//! run that writes the same output.

use std::io::Write;
use std::path::{Component, Path, PathBuf};

use super::pending::PendingPath;
use crate::error::{shown, Error, Result};

fn verr(path: &Path, message: impl Into<String>) -> Error {
    Error::Output { path: path.to_path_buf(), message: message.into() }
}

/// The longest file name (in bytes) that Linux's usual file systems take.
const MAX_NAME_BYTES: usize = 255;

/// Marks a folder of frames as kino's, so a later run may replace it.
pub const FRAMES_MARKER: &str = ".kino-frames";

/// The marker's first line; a finished folder's marker adds `frames N`, the frames kino wrote.
pub(crate) const MARKER_TEXT: &str = "written by kino; a later kino run may replace this folder\n";

/// What to write, chosen from the output path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    /// `.mp4` / `.mov`: H.264, yuv420p, CRF 18, `+faststart`.
    Mp4H264,
    /// `.mkv`: FFV1 on 8-bit RGB (bgr0), bit-exact.
    MkvFfv1,
    /// `.webm`: VP9, yuv420p, constant quality (browsers' other format; sound must be Opus or
    /// Vorbis).
    WebmVp9,
    /// A folder (path ending in `/`, or an existing folder) or a `%05d.png`-style pattern.
    PngSequence,
}

impl OutputFormat {
    pub fn from_path(path: &Path) -> Result<Self> {
        let s = path.to_string_lossy();
        if s.is_empty() {
            return Err(verr(path, "empty output path; pass -o clip.mp4 (or .mkv for lossless, or a folder/ for PNG frames)"));
        }
        if matches!(path.components().next_back(), None | Some(Component::CurDir | Component::ParentDir | Component::RootDir)) {
            return Err(verr(path, "is not a name kino can write to; name a new file (-o clip.mp4) or a new folder (-o frames/)"));
        }
        if is_pattern(path) {
            return Ok(OutputFormat::PngSequence);
        }
        if s.ends_with('/') {
            return Ok(OutputFormat::PngSequence);
        }
        let video_name = matches!(
            path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase()).as_deref(),
            Some("mp4" | "mov" | "m4v" | "mkv" | "webm")
        );
        if path.is_dir() {
            if video_name {
                // A folder named like a video is far more likely a slip than a wish for PNGs.
                return Err(verr(path, "is a folder; name a video file, or end the path with / to write PNG frames into the folder"));
            }
            return Ok(OutputFormat::PngSequence);
        }
        match path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase()).as_deref() {
            Some("mp4" | "mov" | "m4v") => Ok(OutputFormat::Mp4H264),
            Some("mkv") => Ok(OutputFormat::MkvFfv1),
            Some("webm") => Ok(OutputFormat::WebmVp9),
            Some("png") => Err(verr(
                path,
                "is one PNG, and kino writes clips: use a frame pattern (-o frame_%05d.png, one PNG per frame, also for one frame) or a folder/ for PNG frames",
            )),
            _ => Err(verr(
                path,
                "unknown output type; use .mp4, .mov or .m4v (H.264), .webm (VP9), .mkv (lossless FFV1), a folder/ or a pattern (frame_%05d.png) for PNG frames",
            )),
        }
    }

    /// Whether frames lose detail on the way in (H.264): only then are given frames worth
    /// encoding apart from made ones (`VideoEncoder::create_keeping`).
    pub fn is_lossy(self) -> bool {
        matches!(self, OutputFormat::Mp4H264 | OutputFormat::WebmVp9)
    }

    /// Whether frames are stored as Y'CbCr 4:2:0 (tagged and converted with the clip's colour).
    pub(crate) fn is_yuv420(self) -> bool {
        self.is_lossy()
    }
}

fn is_pattern(path: &Path) -> bool {
    let name = path.file_name().map(|n| n.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    name.contains('%') && name.ends_with(".png")
}

/// How an output lands on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Destination {
    /// One file, renamed into place.
    File(PathBuf),
    /// A folder of frames named `%05d.png`, renamed into place.
    Folder(PathBuf),
    /// Frames named by `pattern` added to the existing folder `dir`, one rename each.
    Pattern { dir: PathBuf, pattern: String },
}

impl Destination {
    /// The destination for `path`, checked: its folder exists, writing it replaces nothing but an
    /// earlier output of the same kind, and it is none of `inputs`.
    pub(crate) fn checked(path: &Path, inputs: &[&Path]) -> Result<Self> {
        let format = OutputFormat::from_path(path)?;
        if let Some(name) = path.file_name().filter(|n| n.len() > MAX_NAME_BYTES) {
            return Err(verr(
                path,
                format!("its name is {} bytes long; file systems take at most {MAX_NAME_BYTES}: choose a shorter name", name.len()),
            ));
        }
        let dest = if format != OutputFormat::PngSequence {
            Destination::File(path.to_path_buf())
        } else if is_pattern(path) {
            // Frame names are made from the pattern as text: bytes that are not UTF-8 would be
            // written as U+FFFD, another name than the one typed.
            let pattern = path
                .file_name()
                .and_then(|n| n.to_str())
                .map(str::to_owned)
                .ok_or_else(|| verr(path, "a frame pattern's name must be UTF-8 text (its folder may be named in any bytes)"))?;
            check_pattern(path, &pattern)?;
            Destination::Pattern { dir: parent_of(path), pattern }
        } else if std::fs::symlink_metadata(path.components().collect::<PathBuf>()).is_ok_and(|m| m.file_type().is_symlink())
            && path.is_dir()
        {
            // A link to a folder: the frames go into the folder it points to (the link stays).
            Destination::Folder(path.canonicalize().map_err(|e| verr(path, e.to_string()))?)
        } else {
            Destination::Folder(path.to_path_buf())
        };
        dest.check(path, inputs)?;
        Ok(dest)
    }

    /// Checks that the destination's folder exists, that writing it replaces nothing but an
    /// earlier output of the same kind, and that it is none of `inputs`; `path` names it.
    fn check(&self, path: &Path, inputs: &[&Path]) -> Result<()> {
        let parent = match self {
            Destination::Pattern { dir, .. } => dir.clone(),
            Destination::File(p) | Destination::Folder(p) => parent_of(p),
        };
        match std::fs::metadata(&parent) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(verr(path, format!("{} is not a folder", shown(&parent)))),
            Err(_) => return Err(verr(path, format!("output folder {} does not exist; create it first", shown(&parent)))),
        }
        self.check_replaceable(path)?;
        for input in inputs {
            if self.covers(input) {
                return Err(verr(path, format!("would overwrite the input {}; choose another output", shown(input))));
            }
        }
        Ok(())
    }

    /// Refuses to replace anything but an earlier output of the same kind.
    pub(super) fn check_replaceable(&self, named: &Path) -> Result<()> {
        match self {
            Destination::File(p) => match std::fs::symlink_metadata(p) {
                Ok(m) if m.is_dir() => Err(verr(named, "is a folder; name a file (-o clip.mp4), or end the path with / for a folder of PNG frames")),
                Ok(m) if !m.is_file() && !m.file_type().is_symlink() => Err(verr(named, "exists and is not a regular file (a device, pipe or socket); name a new file")),
                // A file its owner made read-only is kept (`rename` would replace it anyway).
                Ok(m) if m.is_file() && m.permissions().readonly() => {
                    Err(verr(named, "exists and is read-only; kino does not replace it: make it writable, or name another file"))
                }
                _ => Ok(()),
            },
            Destination::Folder(p) => match std::fs::symlink_metadata(p) {
                // `link/` where the link's folder is gone: creating the folder would fail only
                // after the frames are made.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => match std::fs::read_link(p.components().collect::<PathBuf>()) {
                    Ok(target) => Err(verr(
                        named,
                        format!("is a link to {}, which does not exist; create that folder, or name a new one", shown(&target)),
                    )),
                    Err(_) => Ok(()),
                },
                // `file/` where `file` is not a folder.
                Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => Err(verr(named, "exists and is not a folder; name a new folder for the PNG frames")),
                Err(e) => Err(verr(named, e.to_string())),
                Ok(m) if !m.is_dir() => Err(verr(named, "exists and is not a folder; name a new folder for the PNG frames")),
                Ok(_) if replaceable_folder(p) => Ok(()),
                Ok(_) => Err(verr(named, "folder exists and holds other files; kino writes PNG frames only into a new or empty folder (or one it wrote before): name a new folder")),
            },
            Destination::Pattern { dir, pattern } => {
                let taken = existing_frames(dir, pattern);
                match taken.first() {
                    None => Ok(()),
                    Some(first) => Err(verr(
                        named,
                        format!(
                            "{} already holds {} frame(s) named like {} (e.g. {}); remove them or choose another name",
                            shown(dir),
                            taken.len(),
                            shown(Path::new(pattern)),
                            shown(Path::new(first))
                        ),
                    )),
                }
            }
        }
    }

    /// Whether writing this destination could replace or delete `input`.
    fn covers(&self, input: &Path) -> bool {
        let Some(input) = absolute(input) else { return false };
        // By path, and by the file itself: another path to it (a bind mount, a hard link) is
        // the same file.
        match self {
            Destination::File(p) => absolute(p).is_some_and(|p| p == input) || same_file(p, &input),
            Destination::Folder(p) => {
                absolute(p).is_some_and(|p| input.starts_with(p)) || input.ancestors().skip(1).any(|a| same_file(p, a))
            }
            Destination::Pattern { dir, pattern } => {
                (absolute(dir).is_some_and(|d| input.parent() == Some(d.as_path())) || input.parent().is_some_and(|a| same_file(dir, a)))
                    && input.file_name().is_some_and(|n| matches_pattern(&n.to_string_lossy(), pattern))
            }
        }
    }
}

/// Whether two paths reach one file or folder (its device and inode), as far as both exist.
fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (std::fs::metadata(a), std::fs::metadata(b)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (a, b);
        false
    }
}

/// Checks a pattern's form: one `%d` / `%0Nd` and nothing else with `%`.
fn check_pattern(path: &Path, pattern: &str) -> Result<()> {
    let bad = || verr(path, "use one %d or %0Nd (N up to 9) in a PNG pattern, e.g. -o frames/shot_%05d.png");
    let start = pattern.find('%').ok_or_else(bad)?;
    let rest = &pattern[start + 1..];
    let end = rest.find('d').ok_or_else(bad)?;
    let spec = &rest[..end];
    if !spec.chars().all(|c| c.is_ascii_digit())
        || spec.len() > 2
        || spec.trim_start_matches('0').parse::<usize>().unwrap_or(0) > 9
        || rest[end + 1..].contains('%')
    {
        return Err(bad());
    }
    Ok(())
}

/// The file name of frame `index` under a checked pattern.
pub(crate) fn format_pattern(pattern: &str, index: usize) -> String {
    if let Some(start) = pattern.find('%') {
        if let Some(end_rel) = pattern[start..].find('d') {
            let spec = &pattern[start + 1..start + end_rel];
            let width: usize = spec.trim_start_matches('0').parse().unwrap_or(0);
            return format!("{}{:0width$}{}", &pattern[..start], index, &pattern[start + end_rel + 1..], width = width);
        }
    }
    format!("{pattern}{index:05}.png")
}

/// Whether `name` is a frame of `pattern` (its prefix, digits, its suffix).
fn matches_pattern(name: &str, pattern: &str) -> bool {
    let Some(start) = pattern.find('%') else { return false };
    let Some(end_rel) = pattern[start..].find('d') else { return false };
    let (prefix, suffix) = (&pattern[..start], &pattern[start + end_rel + 1..]);
    name.len() > prefix.len() + suffix.len()
        && name.starts_with(prefix)
        && name.ends_with(suffix)
        && name[prefix.len()..name.len() - suffix.len()].chars().all(|c| c.is_ascii_digit())
}

fn existing_frames(dir: &Path, pattern: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| matches_pattern(n, pattern)).collect())
        .unwrap_or_default();
    names.sort();
    names
}

/// An empty folder, or one kino wrote: the marker and frames (`<digits>.png`), nothing else;
/// where the marker counts the frames kino wrote, none numbered past them.
fn replaceable_folder(dir: &Path) -> bool {
    let Ok(rd) = std::fs::read_dir(dir) else { return false };
    let mut marked = false;
    let mut empty = true;
    let mut highest: Option<u64> = None;
    for e in rd.flatten() {
        empty = false;
        let name = e.file_name().to_string_lossy().into_owned();
        let regular = e.file_type().map(|t| t.is_file()).unwrap_or(false);
        if name == FRAMES_MARKER && regular {
            marked = true;
        } else if regular && matches_pattern(&name, "%d.png") {
            let index = name.trim_end_matches(".png").parse().unwrap_or(u64::MAX);
            highest = highest.max(Some(index));
        } else {
            return false;
        }
    }
    if empty {
        return true;
    }
    let written = std::fs::read_to_string(dir.join(FRAMES_MARKER))
        .ok()
        .and_then(|t| t.lines().find_map(|l| l.strip_prefix("frames ").and_then(|n| n.trim().parse::<u64>().ok())));
    marked
        && match (written, highest) {
            (Some(n), Some(h)) => h < n,
            _ => true,
        }
}

pub(super) fn parent_of(p: &Path) -> PathBuf {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// `p` made absolute with its folder resolved (the last component kept as named, so a path that
/// does not exist yet still compares).
fn absolute(p: &Path) -> Option<PathBuf> {
    if let Ok(c) = p.canonicalize() {
        return Some(c);
    }
    let name = p.file_name()?;
    Some(parent_of(p).canonicalize().ok()?.join(name))
}

/// Encodes a PNG into `w` and flushes it, so a full disk is an error rather than a short file
/// (the `image` crate's `save` drops its buffered writer without reporting the last write).
pub(crate) fn write_png<W: Write>(img: &image::RgbImage, w: W) -> std::io::Result<()> {
    use image::ImageEncoder;
    let mut buf = std::io::BufWriter::new(w);
    image::codecs::png::PngEncoder::new(&mut buf)
        .write_image(img.as_raw(), img.width(), img.height(), image::ExtendedColorType::Rgb8)
        .map_err(|e| match e {
            image::ImageError::IoError(io) => io,
            other => std::io::Error::other(other.to_string()),
        })?;
    buf.into_inner().map_err(|e| e.into_error())?.flush()
}

/// Writes a PNG file (no rename: used for frames inside a pending folder).
pub(crate) fn write_png_file(img: &image::RgbImage, path: &Path) -> std::io::Result<()> {
    write_png(img, std::fs::File::create(path)?)
}

/// Checks an output path before any work is done: its format, its folder, and that writing it
/// replaces nothing but an earlier output of the same kind and none of `inputs`.
pub fn check_output(path: &Path, inputs: &[&Path]) -> Result<OutputFormat> {
    Destination::checked(path, inputs)?;
    OutputFormat::from_path(path)
}

/// Checks that `path` can take a PNG (e.g. `--preview`): the folder exists, it is not a folder or
/// a device, and it is none of `inputs`.
pub fn check_png_output(path: &Path, inputs: &[&Path]) -> Result<()> {
    if path.extension().map(|e| e.to_ascii_lowercase()) != Some("png".into()) || is_pattern(path) {
        return Err(verr(path, "is not a .png file name"));
    }
    Destination::File(path.to_path_buf()).check(path, inputs)
}

/// Checks that writing `output` (a folder of frames, or frames named by a pattern) cannot take
/// `png` for one of its frames: the contact sheet is written first, and would be left behind
/// when the frames are then refused as already there.
pub fn check_apart_from_output(png: &Path, output: &Path) -> Result<()> {
    if Destination::checked(output, &[])?.covers(png) {
        return Err(verr(png, format!("would be taken for a frame of {}; choose a name outside it", shown(output))));
    }
    Ok(())
}

/// Saves a PNG atomically.
pub fn save_png(img: &image::RgbImage, path: &Path) -> Result<()> {
    let pending = PendingPath::new(Destination::File(path.to_path_buf()))?;
    let f = std::fs::File::create(&pending.tmp).map_err(|e| verr(path, e.to_string()))?;
    write_png(img, f).map_err(|e| verr(path, e.to_string()))?;
    pending.commit()
}
