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
    process_has_symbol(c"mlt_factory_init") || process_has_library(&["libmlt-7.so", "libmlt.so"])
}

/// Whether GStreamer's library is loaded into this process (then its frei0r wrapper is the host).
pub(crate) fn process_has_symbol_gstreamer() -> bool {
    // By symbol only: an MLT editor built on Qt may map GStreamer's library for its own media
    // playback without GStreamer being the host; GStreamer's own hosts load it globally.
    process_has_symbol(c"gst_init")
}

/// Whether a shared library whose file name starts with one of `names` is mapped into this
/// process. A host loaded without RTLD_GLOBAL (MLT through its Python bindings: Flowblade, MLT
/// scripts) keeps its symbols out of `dlsym(RTLD_DEFAULT)`, but not its file out of the maps.
/// (Not for ffmpeg's libraries: kino links some of them itself.)
fn process_has_library(names: &[&str]) -> bool {
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else { return false };
    maps.lines().filter_map(|l| l.rsplit('/').next().filter(|_| l.contains('/'))).any(|file| names.iter().any(|n| file.starts_with(n)))
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
        Box::into_raw(Box::new(Handle::new(Instance::new(kind(), width, height)))) as *mut c_void
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
        drop(unsafe { Box::from_raw(instance as *mut Handle) });
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
        let handle = unsafe { &*(instance as *const Handle) };
        let inst = unsafe { &mut *handle.inst.get() };
        let mut s = unsafe { *(param as *const *const c_char) };
        if crate::host_is_gstreamer() {
            // GStreamer sets every parameter once, in order, when it makes an instance, and
            // passes a running element's new string itself afterwards (not a pointer to it, as
            // frei0r.h says): every call after those is the string itself, told apart by that
            // order, not by its bytes (a short string's bytes after its NUL may read as a mapped
            // address). The construction calls pass a pointer to the string in some versions and
            // the string itself in others: there a value whose first bytes are no address this
            // process maps is the string itself.
            let constructing = handle.gst_sets.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < inst.kind.param_slots().len();
            if !constructing || (!s.is_null() && !mapped(s as usize)) {
                s = param as *const c_char;
            }
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
        let inst = unsafe { &mut *(*(instance as *const Handle)).inst.get() };
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
    // SAFETY: the host's instance (a Handle: its size and flag are read here, its Instance is
    // reached only through the busy flag below).
    let handle = unsafe { &*(instance as *const Handle) };
    let n = handle.width as usize * handle.height as usize * 4;
    // SAFETY: buffers of width*height pixels as frei0r.h specifies.
    let owned = unsafe { copy_if_output(inframe, outframe, n) };
    // SAFETY: as above; the output is the only view of its buffer from here on.
    let out = unsafe { std::slice::from_raw_parts_mut(outframe as *mut u8, n) };
    let input = match &owned {
        Some(copy) => Some(copy.as_slice()),
        None if inframe.is_null() => None,
        // SAFETY: as above, a buffer apart from the output.
        None => Some(unsafe { std::slice::from_raw_parts(inframe as *const u8, n) }),
    };
    let (w, h) = (handle.width, handle.height);
    let busy = Busy::enter(handle);
    let sliced = handle.sliced(time, outframe as usize, busy.is_none());
    let (Some(_busy), false) = (busy, sliced) else {
        log_once(SLICED);
        return fallback(w, h, input, out);
    };
    // SAFETY: this thread alone is inside the instance (the busy flag).
    let inst = unsafe { &mut *handle.inst.get() };
    let ok = catch_unwind(AssertUnwindSafe(|| inst.update(time, input, out))).is_ok();
    if !ok {
        log_once("internal error while rendering; please report it");
        fallback(w, h, input, out);
    }
}

/// A copy of the `n` bytes at `input` when it is the output buffer (a host rendering in place),
/// so the input read and the output written never alias; `None` otherwise (null included).
///
/// # Safety
/// `input`, when it is `output`, points to `n` readable bytes.
unsafe fn copy_if_output(input: *const u32, output: *mut u32, n: usize) -> Option<Vec<u8>> {
    // SAFETY: the caller's contract; read before any mutable view of the buffer exists.
    std::ptr::eq(input, output).then(|| unsafe { std::slice::from_raw_parts(input as *const u8, n) }.to_vec())
}

const SLICED: &str = "the host renders this filter a slice of each frame at a time (MLT's threads property): its input passes through (a source shows this error's stripes); remove that property from the kino filter";
const SLICED_MIXER: &str = "the host renders this transition a slice of each frame at a time (MLT's threads property): the first clip passes through; remove that property from the kino transition";

/// What `f0r_construct` gives the host: the instance, its size, and whether a thread is
/// rendering with it. A host that calls one instance from several threads at once (MLT's
/// `threads` property slices a frame so) gets the input back from the calls that find it busy,
/// never two renders in one state.
struct Handle {
    width: u32,
    height: u32,
    busy: std::sync::atomic::AtomicBool,
    /// The host renders this instance a slice of a frame at a time (see [`Handle::sliced`]).
    slices: std::sync::atomic::AtomicBool,
    /// The last call's time and output address, to tell slices of one frame.
    last_call: std::sync::Mutex<Option<(f64, usize)>>,
    /// Parameters GStreamer has set on this instance (see `f0r_set_param_value`).
    gst_sets: std::sync::atomic::AtomicUsize,
    inst: std::cell::UnsafeCell<Instance>,
}

impl Handle {
    fn new(inst: Instance) -> Self {
        Handle {
            width: inst.width,
            height: inst.height,
            busy: Default::default(),
            slices: Default::default(),
            last_call: Default::default(),
            gst_sets: Default::default(),
            inst: inst.into(),
        }
    }

    /// Whether the host renders this instance a slice of each frame at a time: MLT's `threads`
    /// property constructs one instance at the frame's width and a slice's height, then calls it
    /// for each slice of a frame, at one time, with buffers one slice apart (frei0r_helper.c).
    /// kino's footage is a whole picture, so it cannot be made a band at a time. Told by two
    /// calls at one time whose outputs lie exactly one instance's frame apart, or by calls at
    /// once (`busy`); from then on, for good.
    fn sliced(&self, time: f64, out: usize, busy: bool) -> bool {
        use std::sync::atomic::Ordering;
        if busy {
            self.slices.store(true, Ordering::Relaxed);
        }
        if self.slices.load(Ordering::Relaxed) {
            return true;
        }
        let n = self.width as usize * self.height as usize * 4;
        let mut last = self.last_call.lock().unwrap_or_else(|e| e.into_inner());
        let next_slice = last.is_some_and(|(t, prev)| t == time && prev.abs_diff(out) == n);
        *last = Some((time, out));
        if next_slice {
            self.slices.store(true, Ordering::Relaxed);
        }
        next_slice
    }
}

/// An instance's busy flag, held while one thread renders with it.
struct Busy<'a>(&'a std::sync::atomic::AtomicBool);

impl<'a> Busy<'a> {
    fn enter(handle: &'a Handle) -> Option<Busy<'a>> {
        use std::sync::atomic::Ordering;
        handle.busy.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).ok().map(|_| Busy(&handle.busy))
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.store(false, std::sync::atomic::Ordering::Release);
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
    // SAFETY: the host's instance; its kind is set at construction and never written.
    let bridge = unsafe { &*(*(instance as *const Handle)).inst.get() }.kind == Kind::Bridge;
    if !bridge || in1.is_null() || in2.is_null() {
        // SAFETY: same contract as f0r_update.
        return unsafe { f0r_update(instance, time, in1, outframe) };
    }
    // SAFETY: the host's instance (see f0r_update).
    let handle = unsafe { &*(instance as *const Handle) };
    let n = handle.width as usize * handle.height as usize * 4;
    // Inputs that are the output buffer (rendering in place) are read from copies.
    // SAFETY: three buffers of width*height pixels (frei0r.h).
    let (a_owned, b_owned) = unsafe { (copy_if_output(in1, outframe, n), copy_if_output(in2, outframe, n)) };
    // SAFETY: as above; the output is the only view of its buffer from here on.
    let out = unsafe { std::slice::from_raw_parts_mut(outframe as *mut u8, n) };
    // SAFETY: as above, buffers apart from the output (or their copies).
    let a = a_owned.as_deref().unwrap_or_else(|| unsafe { std::slice::from_raw_parts(in1 as *const u8, n) });
    let b = b_owned.as_deref().unwrap_or_else(|| unsafe { std::slice::from_raw_parts(in2 as *const u8, n) });
    let (w, h) = (handle.width, handle.height);
    let busy = Busy::enter(handle);
    let sliced = handle.sliced(time, outframe as usize, busy.is_none());
    let (Some(_busy), false) = (busy, sliced) else {
        log_once(SLICED_MIXER);
        return fallback(w, h, Some(a), out);
    };
    // SAFETY: this thread alone is inside the instance (the busy flag).
    let inst = unsafe { &mut *handle.inst.get() };
    let ok = catch_unwind(AssertUnwindSafe(|| inst.update_mixer(time, a, b, out))).is_ok();
    if !ok {
        log_once("internal error while rendering; please report it");
        fallback(w, h, Some(a), out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Libraries are found by file name in the process's maps: this test binary maps libc, and
    /// no MLT.
    #[test]
    fn loaded_libraries_are_found_by_file_name() {
        assert!(process_has_library(&["libc.so", "libc-"]));
        assert!(!process_has_library(&["libmlt-7.so", "libmlt.so"]));
    }

    /// Slices of one frame (one time, outputs one instance's frame apart) mark the instance as
    /// rendered in slices, for good; a frame shown again or the next frame's buffer do not.
    #[test]
    fn slices_of_one_frame_are_told_from_frames() {
        let h = f0r_construct(16, 8);
        // SAFETY: the handle f0r_construct made.
        let handle = unsafe { &*(h as *const Handle) };
        let n = 16 * 8 * 4;
        assert!(!handle.sliced(0.0, 4096, false));
        assert!(!handle.sliced(0.0, 4096, false), "the same frame again");
        assert!(!handle.sliced(0.125, 4096 + n, false), "the next frame in the next buffer");
        assert!(!handle.sliced(0.25, 4096, false));
        assert!(handle.sliced(0.25, 4096 + n, false), "the frame's second slice");
        assert!(handle.sliced(0.375, 8192, false), "and from then on");
        // SAFETY: made by f0r_construct, destroyed once.
        unsafe { f0r_destruct(h) };
        let h = f0r_construct(16, 8);
        // SAFETY: as above.
        let handle = unsafe { &*(h as *const Handle) };
        assert!(handle.sliced(0.0, 4096, true), "two threads in one instance at once");
        assert!(handle.sliced(0.125, 4096, false));
        // SAFETY: as above.
        unsafe { f0r_destruct(h) };
    }

    /// A call that finds its instance busy on another thread gets its input back, untouched by
    /// a second render in the same state; in place (output == input), the input is read from a
    /// copy.
    #[test]
    fn a_busy_instance_passes_its_input_through() {
        let h = f0r_construct(16, 16);
        assert!(!h.is_null());
        // SAFETY: the handle f0r_construct made.
        let handle = unsafe { &*(h as *const Handle) };
        handle.busy.store(true, std::sync::atomic::Ordering::SeqCst);
        let input: Vec<u32> = (0..256u32).map(|i| i * 0x0101_0101).collect();
        let mut out = vec![0u32; 256];
        // SAFETY: buffers of 16x16 pixels.
        unsafe { f0r_update(h, 0.0, input.as_ptr(), out.as_mut_ptr()) };
        assert_eq!(out, input, "busy: the input passes through");
        let mut in_place = input.clone();
        // SAFETY: one buffer of 16x16 pixels as both input and output.
        unsafe { f0r_update(h, 0.0, in_place.as_ptr(), in_place.as_mut_ptr()) };
        assert_eq!(in_place, input, "in place and busy: the frame is left as it was");
        handle.busy.store(false, std::sync::atomic::Ordering::SeqCst);
        // SAFETY: made by f0r_construct, destroyed once.
        unsafe { f0r_destruct(h) };
    }
}
