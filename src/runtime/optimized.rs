//! The optimised-graph cache's use by sessions: where it is, and filling an entry.

use std::path::{Path, PathBuf};

use super::library::loaded_library;
use super::{cache, Device, OptimizedModels, RuntimeOptions};

/// The cache folder for optimised graphs on `device`; `None` where caching does not apply.
pub(super) fn optimized_dir(device: Device, opts: &RuntimeOptions) -> Option<PathBuf> {
    // GPU providers compile their own engines (TensorRT has its engine cache); CPU only here.
    if device != Device::Cpu {
        return None;
    }
    match &opts.optimized_models {
        OptimizedModels::Off => None,
        OptimizedModels::DefaultDir => opts.cache_root.as_ref().map(|r| r.join("ort")),
        OptimizedModels::Dir(d) => Some(d.clone()),
    }
}

/// The cache entry holding the optimised graph of `file` on `device`, made now if it is not
/// there yet; `None` where caching does not apply or fails (a read-only or full cache only costs
/// speed).
pub(super) fn cached_graph(
    builder: ort::session::builder::SessionBuilder,
    file: &Path,
    device: Device,
    opts: &RuntimeOptions,
) -> Option<cache::Entry> {
    let dir = optimized_dir(device, opts)?;
    if FULL.load(std::sync::atomic::Ordering::Relaxed) {
        return None;
    }
    let entry = match cache::entry(&dir, file, device, loaded_library().as_deref()) {
        Ok(e) => e,
        Err(e) => {
            log::warn!("cannot cache the optimised graph of {} ({e}); optimising in memory", file.display());
            return None;
        }
    };
    if entry.graph.is_file() {
        let why = match entry.check(&dir) {
            cache::Saved::Intact => {
                cache::touch(&entry.sum_file());
                return Some(entry);
            }
            // An entry of an earlier kino: made again once, with its record, without a word.
            cache::Saved::Unrecorded => None,
            cache::Saved::Changed(why) => Some(why),
        };
        // Made again: the same seed must give the same frames.
        let removed = entry.remove();
        let then = if removed { "it is optimised again" } else { "optimising in memory" };
        match why {
            Some(why) => log::warn!("the cached optimised graph {} is not used ({why}); {then}", entry.graph.display()),
            None => log::debug!("the cached optimised graph {} has no record of its content; {then}", entry.graph.display()),
        }
        if !removed {
            return None;
        }
    }
    // An entry that could never fit would only push everything else out.
    if entry.source_bytes > opts.optimized_budget.unwrap_or(cache::DEFAULT_BUDGET) {
        log::info!("{} is larger than the optimised-graph cache's budget; optimising in memory", file.display());
        return None;
    }
    match save_optimized(builder, file, &entry) {
        Ok(()) => Some(entry),
        Err(e) => {
            // ONNX Runtime reports a full disk as "Protobuf serialization failed".
            let e = if disk_full(&dir) {
                // Said once: the next graphs would fail the same way.
                FULL.store(true, std::sync::atomic::Ordering::Relaxed);
                format!("no space left on its disk: {}; the other graphs are not cached either", e.trim_end_matches('.'))
            } else {
                e
            };
            log::warn!("cannot cache the optimised graph of {} in {} ({e}); optimising in memory", file.display(), dir.display());
            None
        }
    }
}

/// Set once the cache's disk was found full: this process caches no more graphs.
static FULL: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether `dir`'s disk is full: a 1 MiB probe file cannot be written there.
fn disk_full(dir: &Path) -> bool {
    let probe = dir.join(cache::temp_name("space"));
    let result = std::fs::File::create(&probe).and_then(|mut f| {
        use std::io::Write;
        f.write_all(&vec![0u8; 1 << 20])?;
        f.sync_all()
    });
    let _ = std::fs::remove_file(&probe);
    matches!(result, Err(e) if e.kind() == std::io::ErrorKind::StorageFull || e.kind() == std::io::ErrorKind::QuotaExceeded)
}

/// Optimises `file` with `builder`'s settings and saves the result as `entry` atomically (a
/// unique temporary name, then a rename), so concurrent processes never read a half-written
/// graph. Initializers of graphs with external data go to the entry's own data file (named in
/// the saved graph), so the entry never refers to the source's data files.
fn save_optimized(builder: ort::session::builder::SessionBuilder, file: &Path, entry: &cache::Entry) -> std::result::Result<(), String> {
    let dest = &entry.graph;
    let dir = dest.parent().ok_or("no cache folder")?;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let name = dest.file_name().unwrap_or_default().to_string_lossy().into_owned();
    let tmp = dir.join(cache::temp_name(&name));
    // This session only writes the optimised graph and is dropped: packing the weights for the
    // CPU's matrix kernels would be one more copy of them at the peak (a 1.9 GB fp16 graph:
    // 5.6 GB with packing, 2.6 GB without, and the same file).
    let mut builder = builder.with_config_entry("session.disable_prepacking", "1").map_err(|e| e.to_string())?;
    let mut data = None;
    if entry.external {
        let stem = name.strip_suffix(".onnx").unwrap_or(&name);
        let data_name = format!("{stem}.{}.data", cache::unique());
        builder =
            builder.with_config_entry("session.optimized_model_external_initializers_file_name", &data_name).map_err(|e| e.to_string())?;
        builder = builder
            .with_config_entry("session.optimized_model_external_initializers_min_size_in_bytes", cache::EXTERNAL_MIN.to_string())
            .map_err(|e| e.to_string())?;
        data = Some(dir.join(data_name));
    }
    let result = builder
        .with_optimized_model_path(&tmp)
        .map_err(|e| e.to_string())
        .and_then(|mut b| b.commit_from_file(file).map(drop).map_err(|e| e.to_string()))
        // What was saved is recorded before the entry takes its name: an entry is never seen
        // without its record.
        .and_then(|()| entry.record(&tmp))
        .and_then(|()| std::fs::rename(&tmp, dest).map_err(|e| e.to_string()));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
        if let Some(d) = data {
            let _ = std::fs::remove_file(d);
        }
    }
    result
}
