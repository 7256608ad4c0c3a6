//! The optimised-graph cache: ONNX Runtime's graph optimisation runs once per graph and device,
//! its result is saved here, and later sessions load the saved graph.
//!
//! An entry is named by what decides its content: a BLAKE3 hash of the graph's bytes and its
//! external data's, the device, the ONNX Runtime library and kino's version. Hashing a large
//! graph at every load would cost more than the optimisation it saves, so the content hash is
//! remembered in `index.tsv`, keyed by each file's identity (canonical path, size, mtime, ctime,
//! inode): writing a file changes its ctime even when size and mtime are put back, so replaced
//! bytes are always rehashed. Graphs with external data are saved with their own external
//! initializers file inside the cache, so an entry loads whatever the source's data is named.
//! The folder has a size budget; entries are touched on use and the least recently used are
//! removed once a save takes it past the budget.
//!
//! An entry is used only while it holds what was saved: the hash of its graph and data is written
//! beside it (`<stem>-<key>.sum`) before the graph takes its name, and checked at each load
//! through the same index (so only an entry written since is hashed again). A graph changed in
//! place but still loadable would otherwise give other frames for the same seed.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::external_data_files;
use super::Device;

/// The cache's size budget unless `RuntimeOptions::optimized_budget` says otherwise: graphs are
/// saved with float32 weights, so a 1.3 B-parameter fp16 package's optimised graphs take ~29 GB;
/// a smaller budget would evict one graph to save the next and re-optimise at every start.
pub const DEFAULT_BUDGET: u64 = 16 << 30;
/// Index lines kept (one per graph version seen); older ones are dropped and rehashed if met again.
const INDEX_LINES: usize = 4096;
const INDEX: &str = "index.tsv";
/// Temporary and orphaned files older than this belong to dead processes.
const STALE: Duration = Duration::from_secs(3600);
/// Self-contained graphs larger than this are saved with external initializers too: a saved
/// graph must fit one protobuf (2 GiB), and optimisation can grow it.
const INLINE_MAX: u64 = 256 << 20;
/// Initializers of at least this many bytes go to an entry's external initializers file.
pub const EXTERNAL_MIN: usize = 1024;

/// One cache entry: `<stem>-<key>.onnx`, plus `<stem>-<key>.<pid>-<n>.data` for external
/// initializers (unique per save, so concurrent saves never write the same file).
#[derive(Debug)]
pub struct Entry {
    pub graph: PathBuf,
    /// Save the optimised graph's initializers to their own file beside it.
    pub external: bool,
    /// Bytes of the source graph and its external data.
    pub source_bytes: u64,
}

/// The entry for `file` on `device` with `library`, hashing its content unless the index knows it.
pub fn entry(dir: &Path, file: &Path, device: Device, library: Option<&Path>) -> Result<Entry, String> {
    let base = file.parent().unwrap_or(Path::new(""));
    let mut files = vec![file.to_path_buf()];
    files.extend(external_data_files(file)?.into_iter().map(|n| base.join(n)));
    let content = content_hash(dir, &files)?;
    let mut key = blake3::Hasher::new();
    key.update(content.as_bytes());
    key.update(device.to_string().as_bytes());
    key.update(library.map(|l| l.to_string_lossy().into_owned()).unwrap_or_default().as_bytes());
    key.update(env!("CARGO_PKG_VERSION").as_bytes());
    let stem = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let mut source_bytes = 0;
    for f in &files {
        source_bytes += std::fs::metadata(f).map_err(|e| format!("{}: {e}", f.display()))?.len();
    }
    Ok(Entry {
        graph: dir.join(format!("{stem}-{}.onnx", &key.finalize().to_hex()[..16])),
        external: files.len() > 1 || source_bytes > INLINE_MAX,
        source_bytes,
    })
}

impl Entry {
    /// The file holding the hash of what was saved as this entry.
    pub fn sum_file(&self) -> PathBuf {
        self.graph.with_extension("sum")
    }

    /// This entry's files: its graph and the external data it names.
    fn files(&self) -> Result<Vec<PathBuf>, String> {
        let dir = self.graph.parent().unwrap_or(Path::new(""));
        let mut files = vec![self.graph.clone()];
        files.extend(external_data_files(&self.graph)?.into_iter().map(|n| dir.join(n)));
        Ok(files)
    }

    /// Records the hash of `graph` (the entry's graph under a temporary name) and its data, as
    /// they will be once `graph` is renamed to the entry's name.
    pub fn record(&self, graph: &Path) -> Result<(), String> {
        let dir = self.graph.parent().unwrap_or(Path::new(""));
        let mut files = vec![(self.graph.clone(), graph.to_path_buf())];
        files.extend(external_data_files(graph)?.into_iter().map(|n| (dir.join(&n), dir.join(n))));
        let mut h = blake3::Hasher::new();
        for (named, at) in &files {
            hash_file(&mut h, named, at)?;
        }
        let name = self.sum_file().file_name().unwrap_or_default().to_string_lossy().into_owned();
        write_atomic(dir, &name, h.finalize().to_hex().as_bytes()).map_err(|e| format!("{}: {e}", self.sum_file().display()))
    }

    /// Whether the entry's graph and data are what was saved.
    pub fn check(&self, dir: &Path) -> Saved {
        let Ok(saved) = std::fs::read_to_string(self.sum_file()) else { return Saved::Unrecorded };
        match self.files().and_then(|files| content_hash(dir, &files)) {
            Ok(now) if now.to_hex().as_str() == saved.trim() => Saved::Intact,
            Ok(_) => Saved::Changed("it was changed after it was saved".into()),
            Err(e) => Saved::Changed(format!("it is damaged: {e}")),
        }
    }

    /// Removes the entry's files (graph, data, record); whether the graph is gone.
    pub fn remove(&self) -> bool {
        for f in self.files().unwrap_or_default().iter().skip(1).chain([&self.sum_file()]) {
            let _ = std::fs::remove_file(f);
        }
        std::fs::remove_file(&self.graph).is_ok() || !self.graph.exists()
    }
}

/// What [`Entry::check`] finds.
#[derive(Debug, PartialEq)]
pub enum Saved {
    /// As it was saved.
    Intact,
    /// Saved without a record of its content (by an earlier kino, or the record was lost).
    Unrecorded,
    /// Not what was saved, or unreadable: why.
    Changed(String),
}

/// Adds a file's name (as `named`), length and bytes (read from `at`) to `h`.
fn hash_file(h: &mut blake3::Hasher, named: &Path, at: &Path) -> Result<(), String> {
    h.update(named.file_name().map(|n| n.as_encoded_bytes()).unwrap_or_default());
    let file = std::fs::File::open(at).map_err(|e| format!("{}: {e}", at.display()))?;
    h.update(&file.metadata().map(|m| m.len()).unwrap_or(0).to_le_bytes());
    h.update_reader(file).map_err(|e| format!("{}: {e}", at.display()))?;
    Ok(())
}

/// A file's identity: what changes whenever its content may have (ctime moves on every write).
fn identity(path: &Path) -> Result<String, String> {
    use std::os::unix::fs::MetadataExt;
    let canonical = path.canonicalize().map_err(|e| format!("{}: {e}", path.display()))?;
    let m = std::fs::metadata(&canonical).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(format!(
        "{}\0{}\0{}.{}\0{}.{}\0{}\0{}",
        canonical.display(),
        m.len(),
        m.mtime(),
        m.mtime_nsec(),
        m.ctime(),
        m.ctime_nsec(),
        m.ino(),
        m.dev()
    ))
}

/// The BLAKE3 hash of `files`' names and bytes, from the index when every file's identity is
/// unchanged since it was hashed.
fn content_hash(dir: &Path, files: &[PathBuf]) -> Result<blake3::Hash, String> {
    let mut id = blake3::Hasher::new();
    for f in files {
        id.update(identity(f)?.as_bytes());
        id.update(b"\n");
    }
    let id = id.finalize().to_hex().to_string();
    let index = read_index(dir);
    if let Some(h) = index.iter().find(|(k, _)| *k == id).and_then(|(_, v)| blake3::Hash::from_hex(v).ok()) {
        return Ok(h);
    }
    let mut h = blake3::Hasher::new();
    for f in files {
        hash_file(&mut h, f, f)?;
    }
    let hash = h.finalize();
    let mut lines: Vec<(String, String)> = index.into_iter().filter(|(k, _)| *k != id).collect();
    lines.push((id, hash.to_hex().to_string()));
    let skip = lines.len().saturating_sub(INDEX_LINES);
    // A lost race between two writers only costs a rehash later.
    if let Err(e) = write_atomic(dir, INDEX, lines[skip..].iter().map(|(k, v)| format!("{k}\t{v}\n")).collect::<String>().as_bytes()) {
        log::debug!("cannot update the optimised-graph index in {} ({e})", dir.display());
    }
    Ok(hash)
}

fn read_index(dir: &Path) -> Vec<(String, String)> {
    let Ok(f) = std::fs::File::open(dir.join(INDEX)) else { return Vec::new() };
    let bytes = crate::model::sandbox::read_bounded(f, 4 << 20).unwrap_or_default();
    String::from_utf8_lossy(&bytes).lines().filter_map(|l| l.split_once('\t')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// Writes `name` in `dir` through a unique temporary file and a rename.
fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(temp_name(name));
    let result = std::fs::File::create(&tmp).and_then(|mut f| f.write_all(bytes)).and_then(|()| std::fs::rename(&tmp, dir.join(name)));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// `.<name>.<pid>-<n>.tmp`: unique within the machine's processes and this one's calls.
pub fn temp_name(name: &str) -> String {
    format!(".{name}.{}.tmp", unique())
}

/// `<pid>-<n>`, unique among this process's calls.
pub fn unique() -> String {
    static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    format!("{}-{}", std::process::id(), COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}

/// Marks `file` as just used (eviction removes the least recently used first). An entry is
/// marked through its record ([`Entry::sum_file`]): touching its graph would change the graph's
/// identity, and the next load would hash it again to check it.
pub fn touch(file: &Path) {
    if let Err(e) = std::fs::File::options().write(true).open(file).and_then(|f| f.set_modified(SystemTime::now())) {
        log::debug!("cannot mark {} as used ({e})", file.display());
    }
}

/// The entry a cache file belongs to: `<stem>-<key>` for `<stem>-<key>.onnx`, its `.sum` and its
/// `<stem>-<key>.<pid>-<n>.data`; `None` for other files.
fn entry_name(file: &str) -> Option<&str> {
    if let Some(name) = file.strip_suffix(".onnx").or_else(|| file.strip_suffix(".sum")) {
        return Some(name);
    }
    file.strip_suffix(".data").and_then(|f| f.rsplit_once('.')).map(|(name, _)| name)
}

/// One entry's files: when it was last used (its record's or graph's modification time, the
/// later), whether its graph is there, their bytes, the files.
struct Group {
    used: SystemTime,
    graph: bool,
    bytes: u64,
    files: Vec<PathBuf>,
}

/// Removes the least recently used entries until the folder is within `budget` bytes, never
/// `keep` (the entry in use); also stale temporary files and data files whose graph is gone.
pub fn evict(dir: &Path, budget: u64, keep: &Path) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    let now = SystemTime::now();
    let mut entries: std::collections::BTreeMap<String, Group> = Default::default();
    for e in rd.flatten() {
        let (path, name) = (e.path(), e.file_name().to_string_lossy().into_owned());
        let Ok(meta) = e.metadata() else { continue };
        let age = meta.modified().ok().and_then(|m| now.duration_since(m).ok()).unwrap_or_default();
        if name.starts_with('.') && name.ends_with(".tmp") {
            if age > STALE {
                let _ = std::fs::remove_file(&path);
            }
            continue;
        }
        let Some(entry) = entry_name(&name) else { continue };
        let slot =
            entries.entry(entry.to_string()).or_insert(Group { used: SystemTime::UNIX_EPOCH, graph: false, bytes: 0, files: Vec::new() });
        slot.bytes += meta.len();
        slot.files.push(path);
        slot.graph |= name.ends_with(".onnx");
        if name.ends_with(".onnx") || name.ends_with(".sum") {
            slot.used = slot.used.max(meta.modified().unwrap_or(SystemTime::UNIX_EPOCH));
        }
    }
    let keep = keep.file_name().and_then(|n| entry_name(&n.to_string_lossy()).map(str::to_string));
    let mut total: u64 = entries.values().map(|e| e.bytes).sum();
    let mut order: Vec<(String, Group)> = entries.into_iter().collect();
    order.sort_by_key(|(_, e)| e.used);
    for (name, Group { graph, bytes, files, .. }) in order {
        if Some(&name) == keep.as_ref() {
            continue;
        }
        if !graph {
            // Data without its graph: a save in progress, or one that died (then stale).
            let stale = files
                .iter()
                .all(|f| f.metadata().and_then(|m| m.modified()).is_ok_and(|m| now.duration_since(m).unwrap_or_default() > STALE));
            if !stale {
                continue;
            }
        } else if total <= budget {
            continue;
        }
        for f in &files {
            let _ = std::fs::remove_file(f);
        }
        log::debug!("removed {name} from the optimised-graph cache ({bytes} bytes)");
        total = total.saturating_sub(bytes);
    }
}

#[cfg(test)]
#[path = "cache_tests.rs"]
mod tests;
