//! Where this plugin's own shared library lives. The host (ffmpeg, melt) is the process's
//! executable, so models are looked for beside the plugin's file instead: `make frei0r`'s
//! `<prefix>/lib/frei0r-1/kino.so` -> `<prefix>/share/kino/models`, `target/release` in a checkout
//! -> `<repo>/models` (see `kino::model::ANCHORED`).

use std::ffi::{CStr, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::OnceLock;

/// The folder of the file this code was loaded from (`None` if the loader cannot say).
pub fn library_dir() -> Option<PathBuf> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| {
        // SAFETY: a zeroed Dl_info (null pointers) is a valid value for dladdr to fill.
        let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
        let addr = library_dir as *const libc::c_void;
        // SAFETY: dladdr only looks `addr` up among the loaded objects and writes `info`; the
        // address is a function of this library, mapped while this code runs.
        if unsafe { libc::dladdr(addr, &mut info) } == 0 || info.dli_fname.is_null() {
            return None;
        }
        // SAFETY: dli_fname is non-null and points at the loader's NUL-terminated copy of the
        // object's path, valid while the object stays loaded (it is: this code is in it).
        let name = unsafe { CStr::from_ptr(info.dli_fname) };
        let file = PathBuf::from(OsStr::from_bytes(name.to_bytes()));
        file.canonicalize().ok().and_then(|f| f.parent().map(PathBuf::from))
    })
    .clone()
}
