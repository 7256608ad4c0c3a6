//! Finding and loading `libonnxruntime.so`, once per process.
//!
//! The library looks only where [`RuntimeOptions`] says (an explicit file, then the folders in
//! `ort_search`) and in the system's library folders: no environment reads and no child
//! processes here. [`RuntimeOptions::from_env`] is where the front doors turn `ORT_DYLIB_PATH`,
//! `KINO_VENV` and `LD_LIBRARY_PATH` into those options.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use super::RuntimeOptions;
use crate::error::{Error, Result};

/// System folders searched after the caller's.
const SYSTEM_DIRS: [&str; 4] = ["/usr/local/lib", "/usr/lib", "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu"];

pub(super) struct Loaded {
    pub(super) env: ort::environment::Environment,
    pub(super) library: PathBuf,
}

/// The loaded library. Only a success is kept: a failed load is tried again on the next call
/// (the user may have installed the library since).
static RUNTIME: OnceLock<Loaded> = OnceLock::new();
/// Serialises load attempts, so two threads never load two libraries.
static LOADING: Mutex<()> = Mutex::new(());

/// Candidate locations of libonnxruntime, in search order: `explicit`, then each of `search`
/// (a folder holding the library, or a Python venv with the `onnxruntime` wheel), then the
/// system's library folders.
pub fn library_candidates(explicit: Option<&Path>, search: &[PathBuf]) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = explicit.map(Path::to_path_buf).into_iter().collect();
    for dir in search {
        if dir.join("pyvenv.cfg").exists() {
            out.extend(capi_libraries(&dir.join("lib")));
        } else {
            out.extend(libraries_in(dir));
        }
    }
    for d in SYSTEM_DIRS {
        out.extend(libraries_in(Path::new(d)));
    }
    out
}

/// `lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so*` under a venv's lib dir.
fn capi_libraries(lib: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(lib) {
        let mut pythons: Vec<PathBuf> =
            rd.flatten().filter(|e| e.file_name().to_string_lossy().starts_with("python3")).map(|e| e.path()).collect();
        pythons.sort();
        for p in pythons {
            out.extend(libraries_in(&p.join("site-packages/onnxruntime/capi")));
        }
    }
    out
}

/// `libonnxruntime.so` or a versioned `libonnxruntime.so.1.x.y` (wheels ship only the latter).
pub(super) fn libraries_in(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                let n = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                n == "libonnxruntime.so" || n.starts_with("libonnxruntime.so.")
            })
            .collect(),
        Err(_) => return Vec::new(),
    };
    found.sort();
    found
}

/// Loads ONNX Runtime once per process. A later call that names a different library
/// (`ort_library`) than the one loaded is an error naming both: one process holds one library.
pub fn ensure_loaded(opts: &RuntimeOptions) -> Result<&'static ort::environment::Environment> {
    if let Some(l) = RUNTIME.get() {
        return same_library(l, opts).map(|()| &l.env);
    }
    let _guard = LOADING.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(l) = RUNTIME.get() {
        return same_library(l, opts).map(|()| &l.env);
    }
    let loaded = load(opts)?;
    Ok(&RUNTIME.get_or_init(|| loaded).env)
}

fn same_library(loaded: &Loaded, opts: &RuntimeOptions) -> Result<()> {
    let Some(asked) = &opts.ort_library else { return Ok(()) };
    let canonical = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    if canonical(asked) == canonical(&loaded.library) {
        Ok(())
    } else {
        Err(Error::RuntimeConflict { loaded: loaded.library.clone(), asked: asked.clone() })
    }
}

/// The library in use, once loaded.
pub fn loaded_library() -> Option<PathBuf> {
    RUNTIME.get().map(|l| l.library.clone())
}

fn load(opts: &RuntimeOptions) -> Result<Loaded> {
    // An explicit choice that does not exist is an error, not a reason to look elsewhere.
    if let Some(explicit) = opts.ort_library.as_ref().filter(|p| !p.exists()) {
        return Err(Error::RuntimeLoad { path: explicit.clone(), reason: "no such file".into() });
    }
    if let Some(dir) = opts.ort_library.as_ref().filter(|p| p.is_dir()) {
        return Err(Error::RuntimeLoad { path: dir.clone(), reason: "is a folder; name the libonnxruntime.so file in it".into() });
    }
    // Relative to the working folder, as the user meant it: dlopen would look a bare name up in
    // the system's library path, and ort reads other relative paths from the executable's folder.
    let explicit = opts.ort_library.as_deref().map(|p| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()));
    let candidates = library_candidates(explicit.as_deref(), &opts.ort_search);
    let Some(library) = candidates.into_iter().find(|p| p.exists()) else {
        let mut searched: Vec<String> = opts.ort_search.iter().map(|p| p.display().to_string()).collect();
        searched.extend(SYSTEM_DIRS.iter().map(|d| d.to_string()));
        return Err(Error::RuntimeNotFound { searched: searched.join(", ") });
    };
    let builder = ort::init_from(&library).map_err(|e| Error::RuntimeLoad { path: library.clone(), reason: e.to_string() })?;
    let env = builder
        .with_name("kino")
        .with_logger(std::sync::Arc::new(onnxruntime_log))
        .build()
        .map_err(|e| Error::RuntimeLoad { path: library.clone(), reason: e.to_string() })?;
    Ok(Loaded { env, library })
}

/// ONNX Runtime's own log, into the `log` crate rather than straight onto stderr (its default):
/// a library stays quiet, and a host's console (an editor, ffmpeg) gets no raw lines. Its errors
/// come back to kino as the failed call's status too, which kino reports in its own words, so
/// they are kept for `debug` level; its notes for `trace`.
fn onnxruntime_log(level: ort::logging::LogLevel, category: &str, _id: &str, location: &str, message: &str) {
    use ort::logging::LogLevel;
    let level = match level {
        LogLevel::Fatal | LogLevel::Error | LogLevel::Warning => log::Level::Debug,
        LogLevel::Info | LogLevel::Verbose => log::Level::Trace,
    };
    log::log!(target: "onnxruntime", level, "[{category}] {location}: {message}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_versioned_wheel_library() {
        let dir = std::env::temp_dir().join(format!("kino-ort-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("libonnxruntime.so.1.32.0"), b"").unwrap();
        std::fs::write(dir.join("libonnxruntime_providers_shared.so"), b"").unwrap();
        let found = libraries_in(&dir);
        let searched = library_candidates(None, std::slice::from_ref(&dir));
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(found.len(), 1);
        assert!(found[0].ends_with("libonnxruntime.so.1.32.0"));
        assert_eq!(searched.first(), found.first(), "the caller's folders come before the system's");
    }

    /// A second, different library in one process is refused with both paths named; the same
    /// library by another path (a symlink) is fine.
    #[test]
    fn a_second_library_is_an_error_naming_both() {
        let env = RuntimeOptions::from_env();
        ensure_loaded(&env).expect("ONNX Runtime for the tests (scripts/setup.sh sets ORT_DYLIB_PATH)");
        let loaded = loaded_library().unwrap();
        let dir = std::env::temp_dir().join(format!("kino-ort-conflict-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let other = dir.join("libonnxruntime.so.9.9.9");
        std::fs::write(&other, b"").unwrap();
        let link = dir.join("libonnxruntime.so");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&loaded, &link).unwrap();
        let conflict = ensure_loaded(&RuntimeOptions { ort_library: Some(other.clone()), ..Default::default() });
        let same = ensure_loaded(&RuntimeOptions { ort_library: Some(link), ..Default::default() });
        std::fs::remove_dir_all(&dir).unwrap();
        match conflict {
            Err(e @ Error::RuntimeConflict { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains(&loaded.display().to_string()) && msg.contains(&other.display().to_string()), "{msg}");
            }
            other => panic!("expected a conflict, got {:?}", other.map(|_| ())),
        }
        assert!(same.is_ok(), "{:?}", same.err());
    }
}
