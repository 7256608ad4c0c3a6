//! What kino's plugins share about living inside a host process. Each plugin library links its
//! own copy of this code, so [`library_dir`] names the plugin that calls it.
//!
//! The host (ffmpeg, melt, Resolve, Natron) is the process's executable, so models are looked
//! for beside the plugin's own file: `make frei0r`'s `<prefix>/lib/frei0r-1/kino.so` ->
//! `<prefix>/share/kino/models`, the OpenFX bundle's `Contents/Linux-x86-64/Kino.ofx` ->
//! `Contents/Resources/models`, `target/release` in a checkout -> `<repo>/models` (see
//! `kino::model::ANCHORED`).

pub mod logger;
pub mod words;

use std::ffi::{CStr, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::OnceLock;

/// What a plugin sets up when it is loaded: its words for the engine's hints and its logger
/// (`prefix`: `kino frei0r`, `kino ofx`). Idempotent and cheap: call it on every entry that may
/// come first.
pub fn install(prefix: &'static str, words: &'static words::Words) {
    stay_loaded();
    words::install(words);
    logger::install(prefix);
}

/// Keeps this library mapped until the process exits, whatever the host's `dlclose` says.
///
/// Code of this library runs on the host's threads (MLT's slice and render threads), and the
/// Rust runtime and ONNX Runtime leave per-thread clean-up there that points into the library.
/// MLT unloads a frei0r plugin when its filter closes while those threads live on: each then
/// jumped into unmapped memory when it exited (melt crashed at the end of a render that used
/// the filter's `threads` property). Pinned, the library's clean-up is there when they run it.
pub fn stay_loaded() {
    static PINNED: std::sync::Once = std::sync::Once::new();
    PINNED.call_once(|| {
        let Some(file) = library_file() else { return };
        let Ok(name) = std::ffi::CString::new(file.as_os_str().as_bytes()) else { return };
        // SAFETY: dlopen with RTLD_NOLOAD only looks up an object already loaded (this one: its
        // name from dladdr) and, with RTLD_NODELETE, marks it never to be unmapped; the handle
        // it returns is kept forever (never passed to dlclose) and runs no constructors.
        let handle = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_NOLOAD | libc::RTLD_NODELETE) };
        if handle.is_null() {
            log::debug!("could not pin {} in memory", file.display());
        }
    });
}

/// The shared library this code was loaded from, as the loader names it (not resolved: the
/// frei0r plugin is installed under several names, and the name picks the plugin). `None` if
/// the loader cannot say.
pub fn library_file() -> Option<PathBuf> {
    static FILE: OnceLock<Option<PathBuf>> = OnceLock::new();
    FILE.get_or_init(|| {
        // SAFETY: a zeroed Dl_info (null pointers) is a valid value for dladdr to fill.
        let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
        let addr = library_file as *const libc::c_void;
        // SAFETY: dladdr only looks `addr` up among the loaded objects and writes `info`; the
        // address is a function of this library, mapped while this code runs.
        if unsafe { libc::dladdr(addr, &mut info) } == 0 || info.dli_fname.is_null() {
            return None;
        }
        // SAFETY: dli_fname is non-null and points at the loader's NUL-terminated copy of the
        // object's path, valid while the object stays loaded (it is: this code is in it).
        let name = unsafe { CStr::from_ptr(info.dli_fname) };
        Some(PathBuf::from(OsStr::from_bytes(name.to_bytes())))
    })
    .clone()
}

/// The folder of the shared library this code was loaded from, symlinks resolved (a plugin
/// linked into a plugin folder finds the models beside the real file).
pub fn library_dir() -> Option<PathBuf> {
    library_file()?.canonicalize().ok()?.parent().map(PathBuf::from)
}

/// How generated footage is kept for seeks back ([`kino::footage::FootageConfig`]): its defaults,
/// or as the host's environment says: `KINO_FOOTAGE_MB` (memory) and `KINO_FOOTAGE_DISK_MB` (the
/// temporary file's cap), in MiB. A value that is not a whole number is ignored, and said once.
pub fn footage_config() -> kino::footage::FootageConfig {
    static SAID: std::sync::Once = std::sync::Once::new();
    SAID.call_once(|| {
        for name in ["KINO_FOOTAGE_MB", "KINO_FOOTAGE_DISK_MB"] {
            if let Some(v) = std::env::var(name).ok().filter(|v| whole_mib(v).is_none()) {
                log::warn!("{name}={v:?} is not a whole number of MiB; the default is used");
            }
        }
    });
    footage_config_from(|name| std::env::var(name).ok())
}

/// A footage setting's value, a whole number of MiB (spaces around it allowed).
fn whole_mib(v: &str) -> Option<u64> {
    v.trim().parse().ok()
}

fn footage_config_from(var: impl Fn(&str) -> Option<String>) -> kino::footage::FootageConfig {
    let mib = |name| var(name).as_deref().and_then(whole_mib).map(|mb| mb.saturating_mul(1 << 20));
    let d = kino::footage::FootageConfig::default();
    kino::footage::FootageConfig {
        memory: mib("KINO_FOOTAGE_MB").map_or(d.memory, |b| usize::try_from(b).unwrap_or(usize::MAX)),
        disk: mib("KINO_FOOTAGE_DISK_MB").unwrap_or(d.disk),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn footage_config_reads_mib_and_ignores_nonsense() {
        let d = kino::footage::FootageConfig::default();
        assert_eq!(footage_config_from(|_| None), d);
        let c = footage_config_from(|n| Some(if n == "KINO_FOOTAGE_MB" { " 8 ".into() } else { "100".into() }));
        assert_eq!((c.memory, c.disk), (8 << 20, 100 << 20));
        assert_eq!(footage_config_from(|_| Some("lots".into())), d);
    }
}
