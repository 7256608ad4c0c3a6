//! kino as an OpenFX plugin, for Resolve, Natron, Nuke, Vegas and MLT (>= 7.38).
//!
//! One library, five effects (installed as `Kino.ofx.bundle/Contents/Linux-x86-64/Kino.ofx`,
//! found through `OFX_PLUGIN_PATH`):
//! * "Kino Generate" ([`generate`]): generator (and general context without inputs): a clip from
//!   the prompt, the same frames as `kino generate`;
//! * "Kino Extend" ([`extend`]): filter and general, with temporal clip access: the source's
//!   frames pass through untouched; times past its end (append) or before its start (prepend)
//!   show footage that continues it, the same frames as `kino extend`;
//! * "Kino Animate" ([`animate`]): filter and general: footage that starts from the source frame
//!   at a chosen time, as `kino animate` makes;
//! * "Kino Bridge" ([`bridge`]): transition and general, with temporal clip access: footage that
//!   continues clip A and arrives at clip B, as `kino bridge` makes;
//! * "Kino Remix" ([`remix`]): filter and general, with temporal clip access: the clip redone
//!   under a new prompt, as `kino remix` makes.
//!
//! Each effect is a describe function, a describe-in-context function and "what does time t
//! show"; [`actions`] is the thin dispatch over the OpenFX actions that all three share, and
//! [`suites`] the safe wrapper over the host's suites. Footage is cached process-wide
//! ([`jobs`]). Errors go to the host's message suite and show as a red-striped frame; no panic
//! crosses the C ABI (every entry point catches them).

pub mod abi;
mod actions;
mod animate;
mod bridge;
mod caps;
mod extend;
mod generate;
mod inplace;
mod jobs;
mod params;
mod remix;
mod render;
mod suites;
mod words;

use std::ffi::{c_char, c_int, c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use abi::*;

/// The five effects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Generate,
    Extend,
    Animate,
    Bridge,
    Remix,
}

impl Kind {
    const ALL: [Kind; 5] = [Kind::Generate, Kind::Extend, Kind::Animate, Kind::Bridge, Kind::Remix];

    pub const fn identifier(self) -> &'static CStr {
        match self {
            Kind::Generate => c"org.kino.generate",
            Kind::Extend => c"org.kino.extend",
            Kind::Animate => c"org.kino.animate",
            Kind::Bridge => c"org.kino.bridge",
            Kind::Remix => c"org.kino.remix",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Kind::Generate => "Kino Generate",
            Kind::Extend => "Kino Extend",
            Kind::Animate => "Kino Animate",
            Kind::Bridge => "Kino Bridge",
            Kind::Remix => "Kino Remix",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Kind::Generate => "Generates video from a text prompt with a kino model (text-to-video diffusion over ONNX Runtime).",
            Kind::Extend => "Passes the clip through untouched and continues it with generated footage past its end (append) or before its start (prepend).",
            Kind::Animate => "Animates one frame of the source clip (chosen by time) into generated footage that starts from it.",
            Kind::Remix => "Redoes the clip under a new prompt (SDEdit): Strength 0 keeps it, 1 redraws it from noise; low strengths keep its layout and motion.",
            Kind::Bridge => "Fills the gap between two clips with generated footage that continues the first (SourceFrom) and arrives at the second (SourceTo); as a transition, the frames between its first (A's) and last (B's).",
        }
    }
}

/// The plugin table. The strings are 'static; the struct holds raw pointers, so it is wrapped.
struct Plugins([OfxPlugin; 5]);

// SAFETY: the table is immutable and every pointer in it is to 'static data or a function.
unsafe impl Sync for Plugins {}

macro_rules! plugin {
    ($kind:expr, $entry:ident) => {
        OfxPlugin {
            pluginApi: kOfxImageEffectPluginApi.as_ptr(),
            apiVersion: kOfxImageEffectPluginApiVersion,
            pluginIdentifier: $kind.identifier().as_ptr(),
            pluginVersionMajor: 0,
            pluginVersionMinor: 1,
            setHost: Some(set_host),
            mainEntry: Some($entry),
        }
    };
}

static PLUGINS: Plugins = Plugins([
    plugin!(Kind::Generate, entry_generate),
    plugin!(Kind::Extend, entry_extend),
    plugin!(Kind::Animate, entry_animate),
    plugin!(Kind::Bridge, entry_bridge),
    plugin!(Kind::Remix, entry_remix),
]);

/// ofxCore.h: the number of plugins in this binary.
#[no_mangle]
pub extern "C" fn OfxGetNumberOfPlugins() -> c_int {
    catch_unwind(|| Kind::ALL.len() as c_int).unwrap_or(0)
}

/// ofxCore.h: the nth plugin, or null when out of range.
#[no_mangle]
pub extern "C" fn OfxGetPlugin(nth: c_int) -> *mut OfxPlugin {
    let find = || match usize::try_from(nth).ok().and_then(|i| PLUGINS.0.get(i)) {
        // The host only reads the struct (ofxCore.h declares the return mutable for history's sake).
        Some(p) => p as *const OfxPlugin as *mut OfxPlugin,
        None => std::ptr::null_mut(),
    };
    catch_unwind(find).unwrap_or(std::ptr::null_mut())
}

unsafe extern "C" fn set_host(host: *mut OfxHost) {
    let _ = catch_unwind(|| suites::set_host(host));
}

unsafe extern "C" fn entry_generate(
    action: *const c_char,
    handle: *const c_void,
    in_args: OfxPropertySetHandle,
    out_args: OfxPropertySetHandle,
) -> OfxStatus {
    // SAFETY: the host's arguments, passed on unchanged under the same contract.
    unsafe { entry(Kind::Generate, action, handle, in_args, out_args) }
}

unsafe extern "C" fn entry_extend(
    action: *const c_char,
    handle: *const c_void,
    in_args: OfxPropertySetHandle,
    out_args: OfxPropertySetHandle,
) -> OfxStatus {
    // SAFETY: as entry_generate.
    unsafe { entry(Kind::Extend, action, handle, in_args, out_args) }
}

unsafe extern "C" fn entry_animate(
    action: *const c_char,
    handle: *const c_void,
    in_args: OfxPropertySetHandle,
    out_args: OfxPropertySetHandle,
) -> OfxStatus {
    // SAFETY: as entry_generate.
    unsafe { entry(Kind::Animate, action, handle, in_args, out_args) }
}

unsafe extern "C" fn entry_bridge(
    action: *const c_char,
    handle: *const c_void,
    in_args: OfxPropertySetHandle,
    out_args: OfxPropertySetHandle,
) -> OfxStatus {
    // SAFETY: as entry_generate.
    unsafe { entry(Kind::Bridge, action, handle, in_args, out_args) }
}

unsafe extern "C" fn entry_remix(
    action: *const c_char,
    handle: *const c_void,
    in_args: OfxPropertySetHandle,
    out_args: OfxPropertySetHandle,
) -> OfxStatus {
    // SAFETY: as entry_generate.
    unsafe { entry(Kind::Remix, action, handle, in_args, out_args) }
}

/// # Safety
/// `action` is null or NUL-terminated; the handles are the host's for this action.
unsafe fn entry(
    kind: Kind,
    action: *const c_char,
    handle: *const c_void,
    in_args: OfxPropertySetHandle,
    out_args: OfxPropertySetHandle,
) -> OfxStatus {
    if action.is_null() {
        return kOfxStatErrBadHandle;
    }
    // SAFETY: non-null and NUL-terminated (ofxCore.h: actions are C strings).
    let action = unsafe { CStr::from_ptr(action) };
    match catch_unwind(AssertUnwindSafe(|| actions::dispatch(kind, action, handle as *mut c_void, in_args, out_args))) {
        Ok(status) => status,
        Err(_) => {
            eprintln!("kino ofx: internal error in {}; please report it", action.to_string_lossy());
            kOfxStatFailed
        }
    }
}
