//! Memory, threads, messages, progress, and fetchSuite.

use super::*;

pub(super) fn blocks() -> &'static Mutex<HashMap<usize, Box<[u64]>>> {
    static B: std::sync::OnceLock<Mutex<HashMap<usize, Box<[u64]>>>> = std::sync::OnceLock::new();
    B.get_or_init(Default::default)
}

pub(super) unsafe extern "C" fn memory_alloc(_h: *mut c_void, n: usize, out: *mut *mut c_void) -> OfxStatus {
    let mut block = vec![0u64; n.div_ceil(8).max(1)].into_boxed_slice();
    let p = block.as_mut_ptr() as *mut c_void;
    blocks().lock().unwrap().insert(p as usize, block);
    // SAFETY: a writable pointer from the plugin.
    unsafe { *out = p };
    kOfxStatOK
}

pub(super) unsafe extern "C" fn memory_free(p: *mut c_void) -> OfxStatus {
    if blocks().lock().unwrap().remove(&(p as usize)).is_some() {
        kOfxStatOK
    } else {
        kOfxStatErrBadHandle
    }
}

pub(super) static MEMORY_SUITE: OfxMemorySuiteV1 = OfxMemorySuiteV1 { memoryAlloc: memory_alloc, memoryFree: memory_free };

thread_local! {
    pub(super) static THREAD_INDEX: std::cell::Cell<Option<u32>> = const { std::cell::Cell::new(None) };
}

pub(super) unsafe extern "C" fn multi_thread(f: OfxThreadFunctionV1, n: c_uint, arg: *mut c_void) -> OfxStatus {
    if THREAD_INDEX.with(|t| t.get()).is_some() {
        return kOfxStatErrExists; // "cannot be called recursively" (ofxMultiThread.h)
    }
    let n = if n == 0 { 1 } else { n };
    let arg = arg as usize;
    std::thread::scope(|s| {
        for i in 0..n {
            s.spawn(move || {
                THREAD_INDEX.with(|t| t.set(Some(i)));
                // SAFETY: the plugin's thread function with its own argument, as it asked.
                unsafe { f(i, n, arg as *mut c_void) };
            });
        }
    });
    kOfxStatOK
}
pub(super) unsafe extern "C" fn multi_thread_num_cpus(n: *mut c_uint) -> OfxStatus {
    // SAFETY: a writable pointer.
    unsafe { *n = std::thread::available_parallelism().map(|n| n.get() as c_uint).unwrap_or(1) };
    kOfxStatOK
}
pub(super) unsafe extern "C" fn multi_thread_index(i: *mut c_uint) -> OfxStatus {
    // SAFETY: a writable pointer.
    unsafe { *i = THREAD_INDEX.with(|t| t.get()).unwrap_or(0) };
    kOfxStatOK
}
pub(super) unsafe extern "C" fn multi_thread_is_spawned() -> c_int {
    THREAD_INDEX.with(|t| t.get()).is_some() as c_int
}

/// A recursive mutex (ofxMultiThread.h: created with `lockCount` locks held).
pub(super) struct HostMutex {
    pub(super) state: Mutex<(Option<std::thread::ThreadId>, i32)>,
    pub(super) cv: std::sync::Condvar,
}

pub(super) unsafe extern "C" fn mutex_create(out: *mut OfxMutexHandle, lock_count: c_int) -> OfxStatus {
    let owner = if lock_count > 0 { Some(std::thread::current().id()) } else { None };
    let m = Box::new(HostMutex { state: Mutex::new((owner, lock_count.max(0))), cv: std::sync::Condvar::new() });
    // SAFETY: a writable pointer; the box is freed by mutex_destroy.
    unsafe { *out = Box::into_raw(m) as OfxMutexHandle };
    kOfxStatOK
}
pub(super) unsafe extern "C" fn mutex_destroy(m: OfxMutexHandle) -> OfxStatus {
    if m.is_null() {
        return kOfxStatErrBadHandle;
    }
    // SAFETY: made by mutex_create, destroyed once.
    drop(unsafe { Box::from_raw(m as *mut HostMutex) });
    kOfxStatOK
}
pub(super) unsafe extern "C" fn mutex_lock(m: OfxMutexHandle) -> OfxStatus {
    // SAFETY: a mutex handle from mutex_create.
    let Some(m) = (unsafe { (m as *const HostMutex).as_ref() }) else { return kOfxStatErrBadHandle };
    let me = std::thread::current().id();
    let mut s = m.state.lock().unwrap();
    while s.0.is_some_and(|o| o != me) {
        s = m.cv.wait(s).unwrap();
    }
    *s = (Some(me), s.1 + 1);
    kOfxStatOK
}
pub(super) unsafe extern "C" fn mutex_unlock(m: OfxMutexHandle) -> OfxStatus {
    // SAFETY: a mutex handle from mutex_create.
    let Some(m) = (unsafe { (m as *const HostMutex).as_ref() }) else { return kOfxStatErrBadHandle };
    let mut s = m.state.lock().unwrap();
    if s.0 != Some(std::thread::current().id()) {
        return kOfxStatErrBadHandle;
    }
    s.1 -= 1;
    if s.1 == 0 {
        s.0 = None;
        m.cv.notify_one();
    }
    kOfxStatOK
}
pub(super) unsafe extern "C" fn mutex_try_lock(m: OfxMutexHandle) -> OfxStatus {
    // SAFETY: a mutex handle from mutex_create.
    let Some(m) = (unsafe { (m as *const HostMutex).as_ref() }) else { return kOfxStatErrBadHandle };
    let me = std::thread::current().id();
    let mut s = m.state.lock().unwrap();
    if s.0.is_some_and(|o| o != me) {
        return kOfxStatFailed;
    }
    *s = (Some(me), s.1 + 1);
    kOfxStatOK
}

pub(super) static MULTI_THREAD_SUITE: OfxMultiThreadSuiteV1 = OfxMultiThreadSuiteV1 {
    multiThread: multi_thread,
    multiThreadNumCPUs: multi_thread_num_cpus,
    multiThreadIndex: multi_thread_index,
    multiThreadIsSpawnedThread: multi_thread_is_spawned,
    mutexCreate: mutex_create,
    mutexDestroy: mutex_destroy,
    mutexLock: mutex_lock,
    mutexUnLock: mutex_unlock,
    mutexTryLock: mutex_try_lock,
};

pub(super) fn effect_log(h: *mut c_void) -> Option<Arc<Log>> {
    // SAFETY: effect handles this host gave out (or null, which messages allow).
    unsafe { (h as *const Effect).as_ref() }.map(|e| e.log.clone())
}

pub(super) unsafe extern "C" fn message(
    h: *mut c_void,
    kind: *const c_char,
    _id: *const c_char,
    format: *const c_char,
    a0: usize,
) -> OfxStatus {
    let (Ok(kind), Ok(format)) = (name_of(kind), name_of(format)) else { return kOfxStatErrValue };
    // This host understands the one format a careful plugin uses, "%s"; anything else is shown
    // as written (a format with directives and no arguments would be the plugin's bug).
    let text = if format == "%s" && a0 != 0 {
        // SAFETY: "%s" takes one NUL-terminated string argument (printf rules).
        unsafe { CStr::from_ptr(a0 as *const c_char) }.to_string_lossy().into_owned()
    } else {
        format
    };
    if let Some(log) = effect_log(h) {
        log.messages.lock().unwrap().push((kind, text));
    }
    kOfxStatOK
}

pub(super) fn message_suite() -> &'static OfxMessageSuiteV1 {
    static SUITE: std::sync::OnceLock<OfxMessageSuiteV1> = std::sync::OnceLock::new();
    SUITE.get_or_init(|| OfxMessageSuiteV1 {
        // SAFETY: see the module docs (the variadic string arrives in the fifth integer register).
        message: unsafe {
            std::mem::transmute::<
                unsafe extern "C" fn(*mut c_void, *const c_char, *const c_char, *const c_char, usize) -> OfxStatus,
                unsafe extern "C" fn(*mut c_void, *const c_char, *const c_char, *const c_char, ...) -> OfxStatus,
            >(message)
        },
    })
}

pub(super) fn progress_log(h: *mut c_void, event: String) -> OfxStatus {
    match effect_log(h) {
        Some(log) => {
            log.progress.lock().unwrap().push(event);
            kOfxStatOK
        }
        None => kOfxStatErrBadHandle,
    }
}

pub(super) unsafe extern "C" fn progress_start_v1(h: *mut c_void, label: *const c_char) -> OfxStatus {
    progress_log(h, format!("start {}", name_of(label).unwrap_or_default()))
}
pub(super) unsafe extern "C" fn progress_start_v2(h: *mut c_void, label: *const c_char, id: *const c_char) -> OfxStatus {
    progress_log(h, format!("start {} [{}]", name_of(label).unwrap_or_default(), name_of(id).unwrap_or_default()))
}
pub(super) unsafe extern "C" fn progress_update(h: *mut c_void, f: c_double) -> OfxStatus {
    let s = progress_log(h, format!("update {f:.3}"));
    if let Some(log) = effect_log(h) {
        let seen = log.updates.fetch_add(1, Ordering::SeqCst) + 1;
        let pending = log.progress_pending.load(Ordering::SeqCst);
        if pending > 0 {
            log.progress_pending.store(pending - 1, Ordering::SeqCst);
            return kOfxStatReplyNo;
        }
        let cancel = log.cancel_after.load(Ordering::SeqCst);
        if cancel > 0 && seen >= cancel {
            return kOfxStatReplyNo;
        }
    }
    s
}
pub(super) unsafe extern "C" fn progress_end(h: *mut c_void) -> OfxStatus {
    progress_log(h, "end".into())
}

pub(super) static PROGRESS_V1: OfxProgressSuiteV1 =
    OfxProgressSuiteV1 { progressStart: progress_start_v1, progressUpdate: progress_update, progressEnd: progress_end };
pub(super) static PROGRESS_V2: OfxProgressSuiteV2 =
    OfxProgressSuiteV2 { progressStart: progress_start_v2, progressUpdate: progress_update, progressEnd: progress_end };

/// paramSetValue calls outside InstanceChanged (must stay 0).
pub static OUT_OF_ACTION_SETS: AtomicUsize = AtomicUsize::new(0);

/// Which progress suite versions this host offers (tests switch V2 off to exercise V1).
pub(super) static PROGRESS_V2_OFFERED: AtomicBool = AtomicBool::new(true);

pub fn offer_progress_v2(yes: bool) {
    PROGRESS_V2_OFFERED.store(yes, Ordering::SeqCst);
}

pub(super) unsafe extern "C" fn fetch_suite(_host: OfxPropertySetHandle, name: *const c_char, version: c_int) -> *const c_void {
    let Ok(name) = name_of(name) else { return std::ptr::null() };
    match (name.as_str(), version) {
        ("OfxPropertySuite", 1) => &PROPERTY_SUITE as *const _ as *const c_void,
        ("OfxParameterSuite", 1) => parameter_suite() as *const _ as *const c_void,
        ("OfxImageEffectSuite", 1) => &IMAGE_EFFECT_SUITE as *const _ as *const c_void,
        ("OfxMemorySuite", 1) => &MEMORY_SUITE as *const _ as *const c_void,
        ("OfxMultiThreadSuite", 1) => &MULTI_THREAD_SUITE as *const _ as *const c_void,
        ("OfxMessageSuite", 1) => message_suite() as *const _ as *const c_void,
        ("OfxProgressSuite", 1) => &PROGRESS_V1 as *const _ as *const c_void,
        ("OfxProgressSuite", 2) if PROGRESS_V2_OFFERED.load(Ordering::SeqCst) => &PROGRESS_V2 as *const _ as *const c_void,
        _ => std::ptr::null(),
    }
}

/// Host-side handles to the suites, for tests that exercise them directly.
pub fn suite(name: &CStr, version: c_int) -> *const c_void {
    // SAFETY: fetch_suite only reads the name.
    unsafe { fetch_suite(std::ptr::null_mut(), name.as_ptr(), version) }
}
