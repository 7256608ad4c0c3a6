//! The frei0r C ABI (frei0r.h, API version 1.2). Every entry point catches panics: a host must
//! never be taken down by the plugin.

use std::ffi::{c_char, c_double, c_int, c_uint, c_void, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;

use crate::params::Kind;
use crate::{fallback, log_once, Instance};

const F0R_PLUGIN_TYPE_FILTER: c_int = 0;
const F0R_PLUGIN_TYPE_SOURCE: c_int = 1;
const F0R_PLUGIN_TYPE_MIXER2: c_int = 2;
const F0R_COLOR_MODEL_RGBA8888: c_int = 1;
const F0R_PARAM_STRING: c_int = 4;
const FREI0R_MAJOR_VERSION: c_int = 1;

#[repr(C)]
pub struct F0rPluginInfo {
    name: *const c_char,
    author: *const c_char,
    plugin_type: c_int,
    color_model: c_int,
    frei0r_version: c_int,
    major_version: c_int,
    minor_version: c_int,
    num_params: c_int,
    explanation: *const c_char,
}

#[repr(C)]
pub struct F0rParamInfo {
    name: *const c_char,
    kind: c_int,
    explanation: *const c_char,
}

/// Which plugin this library is: from the file name it was loaded under.
fn kind() -> Kind {
    static KIND: OnceLock<Kind> = OnceLock::new();
    *KIND.get_or_init(|| {
        let stem =
            kino_plugin_common::library_file().and_then(|f| f.file_stem().map(|s| s.to_string_lossy().into_owned())).unwrap_or_default();
        Kind::from_file_stem(&stem)
    })
}

/// Whether MLT's library is loaded into this process (then MLT is the host).
pub(crate) fn process_has_symbol_mlt() -> bool {
    process_has_symbol(c"mlt_factory_init")
}

/// Whether GStreamer's library is loaded into this process (then its frei0r wrapper is the host).
pub(crate) fn process_has_symbol_gstreamer() -> bool {
    process_has_symbol(c"gst_init")
}

/// Whether ffmpeg's libavfilter is loaded into this process (then its frei0r filters are the host).
pub(crate) fn process_has_symbol_avfilter() -> bool {
    process_has_symbol(c"avfilter_version")
}

fn process_has_symbol(name: &std::ffi::CStr) -> bool {
    // SAFETY: dlsym with RTLD_DEFAULT only looks a name up; the pointer is never called.
    unsafe { !libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()).is_null() }
}

/// Whether `addr` can be a pointer this process reads: canonical user space past the first page,
/// and in a mapped page (mincore fails with ENOMEM on a page that is not).
fn mapped(addr: usize) -> bool {
    // SAFETY: sysconf has no preconditions.
    let page = match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        p if p > 0 => p as usize,
        _ => 4096,
    };
    if addr < page || addr > 0x0000_7fff_ffff_ffff {
        return false;
    }
    let mut vec = 0u8;
    // SAFETY: mincore only asks the kernel about the page holding `addr` (aligned down, one page)
    // and writes one byte into `vec`; it never touches the memory itself.
    unsafe { libc::mincore((addr & !(page - 1)) as *mut c_void, 1, &mut vec) == 0 }
}

fn guard<T>(what: &str, fallback: T, f: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(_) => {
            log_once(&format!("internal error in {what}; please report it"));
            fallback
        }
    }
}

#[no_mangle]
pub extern "C" fn f0r_init() -> c_int {
    crate::words::install();
    1
}

#[no_mangle]
pub extern "C" fn f0r_deinit() {}

/// # Safety
/// `info` must point to a writable `f0r_plugin_info_t` (the host's).
#[no_mangle]
pub unsafe extern "C" fn f0r_get_plugin_info(info: *mut F0rPluginInfo) {
    if info.is_null() {
        return;
    }
    guard("f0r_get_plugin_info", (), || {
        let k = kind();
        let value = F0rPluginInfo {
            name: k.name().as_ptr(),
            author: c"kino".as_ptr(),
            plugin_type: match k {
                Kind::Generate => F0R_PLUGIN_TYPE_SOURCE,
                Kind::Bridge => F0R_PLUGIN_TYPE_MIXER2,
                Kind::Extend | Kind::Animate => F0R_PLUGIN_TYPE_FILTER,
            },
            color_model: F0R_COLOR_MODEL_RGBA8888,
            frei0r_version: FREI0R_MAJOR_VERSION,
            major_version: 0,
            minor_version: 1,
            num_params: k.params().len() as c_int,
            explanation: k.explanation().as_ptr(),
        };
        // SAFETY: checked non-null; the host owns a struct of this layout (frei0r.h).
        unsafe { info.write(value) };
    })
}

/// # Safety
/// `info` must point to a writable `f0r_param_info_t`.
#[no_mangle]
pub unsafe extern "C" fn f0r_get_param_info(info: *mut F0rParamInfo, index: c_int) {
    if info.is_null() {
        return;
    }
    guard("f0r_get_param_info", (), || {
        let Some(p) = usize::try_from(index).ok().and_then(|i| kind().params().get(i).copied()) else { return };
        // SAFETY: checked non-null; the strings are 'static.
        unsafe { info.write(F0rParamInfo { name: p.name.as_ptr(), kind: F0R_PARAM_STRING, explanation: p.explanation.as_ptr() }) };
    })
}

#[no_mangle]
pub extern "C" fn f0r_construct(width: c_uint, height: c_uint) -> *mut c_void {
    guard("f0r_construct", std::ptr::null_mut(), || {
        if width == 0 || height == 0 || (width as u64) * (height as u64) > 1 << 28 {
            log_once(&format!("frame size {width}x{height} is not usable"));
            return std::ptr::null_mut();
        }
        Box::into_raw(Box::new(Instance::new(kind(), width, height))) as *mut c_void
    })
}

/// # Safety
/// `instance` must come from `f0r_construct` and not be used afterwards.
#[no_mangle]
pub unsafe extern "C" fn f0r_destruct(instance: *mut c_void) {
    if instance.is_null() {
        return;
    }
    guard("f0r_destruct", (), || {
        // SAFETY: made by Box::into_raw in f0r_construct; the host destroys each instance once.
        drop(unsafe { Box::from_raw(instance as *mut Instance) });
    })
}

/// # Safety
/// `instance` from `f0r_construct`; `param` points to a `char*` (f0r_param_string) that is null
/// or NUL-terminated, or (GStreamer's frei0r wrapper, on an element that is running) is that
/// `char*` itself.
#[no_mangle]
pub unsafe extern "C" fn f0r_set_param_value(instance: *mut c_void, param: *mut c_void, index: c_int) {
    if instance.is_null() || param.is_null() {
        return;
    }
    guard("f0r_set_param_value", (), || {
        // SAFETY: the host passes its instance and a pointer to a string pointer (frei0r.h),
        // which is at least 8 readable bytes; so is a string GStreamer passes directly (it
        // comes from g_value_dup_string, at least 8 bytes with malloc's smallest chunk).
        let inst = unsafe { &mut *(instance as *mut Instance) };
        let mut s = unsafe { *(param as *const *const c_char) };
        if !s.is_null() && crate::host_is_gstreamer() && !mapped(s as usize) {
            // GStreamer (1.22 at least) passes a running element's new string itself, not a
            // pointer to it: its first bytes are text, not an address this process maps.
            s = param as *const c_char;
        }
        let value = if s.is_null() { String::new() } else { unsafe { CStr::from_ptr(s) }.to_string_lossy().into_owned() };
        if let Some(slot) = inst.param(index) {
            *slot = value;
        }
    })
}

/// # Safety
/// `instance` from `f0r_construct`; `param` points to a writable `char*`.
#[no_mangle]
pub unsafe extern "C" fn f0r_get_param_value(instance: *mut c_void, param: *mut c_void, index: c_int) {
    if instance.is_null() || param.is_null() {
        return;
    }
    guard("f0r_get_param_value", (), || {
        // SAFETY: as in f0r_set_param_value; the returned pointer stays valid until the next get
        // of the same parameter on this instance (the plugin keeps the copy, as frei0r.h asks).
        let inst = unsafe { &mut *(instance as *mut Instance) };
        let Some(value) = inst.param(index).cloned() else { return };
        let c = CString::new(value.replace('\0', "")).unwrap_or_default();
        let i = index as usize; // in range: param() accepted it
        inst.c_values[i] = c;
        unsafe { *(param as *mut *const c_char) = inst.c_values[i].as_ptr() };
    })
}

/// # Safety
/// `instance` from `f0r_construct`; `outframe` (and `inframe` for filters, else null) point to
/// width*height 32-bit pixels.
#[no_mangle]
pub unsafe extern "C" fn f0r_update(instance: *mut c_void, time: c_double, inframe: *const u32, outframe: *mut u32) {
    if instance.is_null() || outframe.is_null() {
        return;
    }
    // SAFETY: the host's instance; buffers of width*height pixels as frei0r.h specifies.
    let inst = unsafe { &mut *(instance as *mut Instance) };
    let n = inst.width as usize * inst.height as usize * 4;
    let out = unsafe { std::slice::from_raw_parts_mut(outframe as *mut u8, n) };
    let input = if inframe.is_null() { None } else { Some(unsafe { std::slice::from_raw_parts(inframe as *const u8, n) }) };
    let (w, h) = (inst.width, inst.height);
    let ok = catch_unwind(AssertUnwindSafe(|| inst.update(time, input, out))).is_ok();
    if !ok {
        log_once("internal error while rendering; please report it");
        fallback(w, h, input, out);
    }
}

/// # Safety
/// As `f0r_update`, with `in2` (a mixer's second input) null or width*height pixels too; the
/// third input is not used.
#[no_mangle]
pub unsafe extern "C" fn f0r_update2(
    instance: *mut c_void,
    time: c_double,
    in1: *const u32,
    in2: *const u32,
    _in3: *const u32,
    outframe: *mut u32,
) {
    if instance.is_null() || outframe.is_null() {
        return;
    }
    // SAFETY: the host's instance (only read here, to pick the path).
    let bridge = unsafe { &*(instance as *const Instance) }.kind == Kind::Bridge;
    if !bridge || in1.is_null() || in2.is_null() {
        // SAFETY: same contract as f0r_update.
        return unsafe { f0r_update(instance, time, in1, outframe) };
    }
    // SAFETY: the host's instance; three buffers of width*height pixels (frei0r.h).
    let inst = unsafe { &mut *(instance as *mut Instance) };
    let n = inst.width as usize * inst.height as usize * 4;
    let out = unsafe { std::slice::from_raw_parts_mut(outframe as *mut u8, n) };
    let (a, b) = unsafe { (std::slice::from_raw_parts(in1 as *const u8, n), std::slice::from_raw_parts(in2 as *const u8, n)) };
    let (w, h) = (inst.width, inst.height);
    let ok = catch_unwind(AssertUnwindSafe(|| inst.update_mixer(time, a, b, out))).is_ok();
    if !ok {
        log_once("internal error while rendering; please report it");
        fallback(w, h, Some(a), out);
    }
}
