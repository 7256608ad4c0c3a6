//! The host's suites behind a safe wrapper: property sets, parameters, clips and images,
//! messages and progress. Every `unsafe` block of the plugin that talks to the host is here (and in
//! [`images`], its part for parameters, clips and images).
//!
//! Suites are fetched once, in the Load action (ofxCore.h: `setHost` must only store the
//! pointer), and are valid until Unload.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::sync::Mutex;

use crate::abi::*;

mod images;

pub use images::{Clip, Param, Pixels};

/// The suites kino uses. Property, parameter and image-effect suites are required; message
/// and progress are optional (a host without them gets error frames and no progress bar).
#[derive(Clone, Copy)]
pub struct Suites {
    pub prop: &'static OfxPropertySuiteV1,
    pub param: &'static OfxParameterSuiteV1,
    pub effect: &'static OfxImageEffectSuiteV1,
    pub message: Option<&'static OfxMessageSuiteV1>,
    pub progress: Progress,
}

#[derive(Clone, Copy)]
pub enum Progress {
    None,
    V1(&'static OfxProgressSuiteV1),
    V2(&'static OfxProgressSuiteV2),
}

type FetchSuite = unsafe extern "C" fn(OfxPropertySetHandle, *const c_char, c_int) -> *const c_void;

/// The host as given to `setHost`, and the suites fetched from it in Load.
struct HostState {
    host: *const OfxHost,
    suites: Option<Suites>,
    /// Effects loaded and not yet unloaded: the three share the suites, and a host may unload
    /// one while using another.
    loaded: usize,
}

// SAFETY: the host pointer and the suite tables are immutable host data, valid from setHost
// until Unload and meant to be used from any render thread (ofxCore.h, ofxImageEffect.h).
unsafe impl Send for HostState {}

static HOST: Mutex<HostState> = Mutex::new(HostState { host: std::ptr::null(), suites: None, loaded: 0 });

pub fn set_host(host: *const OfxHost) {
    let mut h = HOST.lock().unwrap_or_else(|e| e.into_inner());
    if h.host != host {
        // A different host (or the same one after unloading everything): fetch again in Load.
        h.host = host;
        h.suites = None;
        h.loaded = 0;
    }
}

/// Fetches the suites (the Load action). Fails with kOfxStatErrMissingHostFeature when a
/// required suite is missing.
pub fn load() -> Result<(), OfxStatus> {
    let mut h = HOST.lock().unwrap_or_else(|e| e.into_inner());
    if h.host.is_null() {
        return Err(kOfxStatErrMissingHostFeature);
    }
    // SAFETY: the host passed this OfxHost to setHost; it stays valid until Unload (ofxCore.h).
    let host = unsafe { &*h.host };
    let fetch = host.fetchSuite.ok_or(kOfxStatErrMissingHostFeature)?;
    fn fetch_as<T>(host: &OfxHost, fetch: FetchSuite, name: &CStr, version: c_int) -> Option<&'static T> {
        // SAFETY: fetchSuite takes the host's own property set and a NUL-terminated name, and
        // returns null or a pointer to the suite struct of that name and version (laid out as
        // in its header, which `T` mirrors), valid until Unload (ofxCore.h).
        unsafe { (fetch(host.host, name.as_ptr(), version) as *const T).as_ref() }
    }
    let prop = fetch_as::<OfxPropertySuiteV1>(host, fetch, kOfxPropertySuite, 1);
    let param = fetch_as::<OfxParameterSuiteV1>(host, fetch, kOfxParameterSuite, 1);
    let effect = fetch_as::<OfxImageEffectSuiteV1>(host, fetch, kOfxImageEffectSuite, 1);
    let message = fetch_as::<OfxMessageSuiteV1>(host, fetch, kOfxMessageSuite, 1);
    let progress = match fetch_as::<OfxProgressSuiteV2>(host, fetch, kOfxProgressSuite, 2) {
        Some(p) => Progress::V2(p),
        None => match fetch_as::<OfxProgressSuiteV1>(host, fetch, kOfxProgressSuite, 1) {
            Some(p) => Progress::V1(p),
            None => Progress::None,
        },
    };
    let (Some(prop), Some(param), Some(effect)) = (prop, param, effect) else {
        return Err(kOfxStatErrMissingHostFeature);
    };
    h.suites = Some(Suites { prop, param, effect, message, progress });
    h.loaded += 1;
    Ok(())
}

/// The Unload action of one effect; the suites go when the last loaded effect unloads.
pub fn unload() {
    let mut h = HOST.lock().unwrap_or_else(|e| e.into_inner());
    h.loaded = h.loaded.saturating_sub(1);
    if h.loaded == 0 {
        h.suites = None;
    }
}

/// The suites, once loaded.
pub fn suites() -> Result<Suites, OfxStatus> {
    HOST.lock().unwrap_or_else(|e| e.into_inner()).suites.ok_or(kOfxStatErrMissingHostFeature)
}

/// The host's own property set (its name and capabilities: ofxImageEffect.h, "Properties on
/// the Image Effect Host"), once loaded.
pub fn host_props() -> Option<Props> {
    let h = HOST.lock().unwrap_or_else(|e| e.into_inner());
    let s = h.suites?;
    // SAFETY: the OfxHost given to setHost, valid until Unload (suites are set only while loaded).
    let props = unsafe { h.host.as_ref() }?.host;
    (!props.is_null()).then(|| Props::new(s, props))
}

fn check(status: OfxStatus) -> Result<(), OfxStatus> {
    if status == kOfxStatOK {
        Ok(())
    } else {
        Err(status)
    }
}

/// A property set handle given by the host (an action's in/out args, an effect's, a clip's,
/// an image's or a parameter's properties).
#[derive(Clone, Copy)]
pub struct Props {
    s: Suites,
    h: OfxPropertySetHandle,
}

impl Props {
    pub fn new(s: Suites, h: OfxPropertySetHandle) -> Props {
        Props { s, h }
    }

    pub fn handle(&self) -> OfxPropertySetHandle {
        self.h
    }

    pub fn set_string(&self, name: &CStr, index: usize, value: &str) -> Result<(), OfxStatus> {
        let v = CString::new(value.replace('\0', "")).unwrap_or_default();
        // SAFETY: a host property set, NUL-terminated name and value; the host copies the string.
        check(unsafe { (self.s.prop.propSetString)(self.h, name.as_ptr(), index as c_int, v.as_ptr()) })
    }

    pub fn set_cstr(&self, name: &CStr, index: usize, value: &CStr) -> Result<(), OfxStatus> {
        // SAFETY: as set_string.
        check(unsafe { (self.s.prop.propSetString)(self.h, name.as_ptr(), index as c_int, value.as_ptr()) })
    }

    pub fn set_int(&self, name: &CStr, index: usize, value: i32) -> Result<(), OfxStatus> {
        // SAFETY: a host property set and a NUL-terminated name.
        check(unsafe { (self.s.prop.propSetInt)(self.h, name.as_ptr(), index as c_int, value) })
    }

    pub fn set_double(&self, name: &CStr, index: usize, value: f64) -> Result<(), OfxStatus> {
        // SAFETY: a host property set and a NUL-terminated name.
        check(unsafe { (self.s.prop.propSetDouble)(self.h, name.as_ptr(), index as c_int, value) })
    }

    pub fn set_doubles(&self, name: &CStr, values: &[f64]) -> Result<(), OfxStatus> {
        // SAFETY: `values` holds `len` doubles for the host to copy.
        check(unsafe { (self.s.prop.propSetDoubleN)(self.h, name.as_ptr(), values.len() as c_int, values.as_ptr()) })
    }

    pub fn int(&self, name: &CStr, index: usize) -> Result<i32, OfxStatus> {
        let mut v = 0;
        // SAFETY: the host writes one int to `v`.
        check(unsafe { (self.s.prop.propGetInt)(self.h, name.as_ptr(), index as c_int, &mut v) })?;
        Ok(v)
    }

    pub fn double(&self, name: &CStr, index: usize) -> Result<f64, OfxStatus> {
        let mut v = 0.0;
        // SAFETY: the host writes one double to `v`.
        check(unsafe { (self.s.prop.propGetDouble)(self.h, name.as_ptr(), index as c_int, &mut v) })?;
        Ok(v)
    }

    pub fn doubles<const N: usize>(&self, name: &CStr) -> Result<[f64; N], OfxStatus> {
        let mut v = [0.0; N];
        // SAFETY: the host writes N doubles into `v`.
        check(unsafe { (self.s.prop.propGetDoubleN)(self.h, name.as_ptr(), N as c_int, v.as_mut_ptr()) })?;
        Ok(v)
    }

    pub fn ints<const N: usize>(&self, name: &CStr) -> Result<[i32; N], OfxStatus> {
        let mut v = [0; N];
        // SAFETY: the host writes N ints into `v`.
        check(unsafe { (self.s.prop.propGetIntN)(self.h, name.as_ptr(), N as c_int, v.as_mut_ptr()) })?;
        Ok(v)
    }

    pub fn string(&self, name: &CStr, index: usize) -> Result<String, OfxStatus> {
        let mut p: *mut c_char = std::ptr::null_mut();
        // SAFETY: the host returns a pointer to its own NUL-terminated copy, valid for this call.
        check(unsafe { (self.s.prop.propGetString)(self.h, name.as_ptr(), index as c_int, &mut p) })?;
        if p.is_null() {
            return Ok(String::new());
        }
        // SAFETY: non-null, NUL-terminated (ofxProperty.h).
        Ok(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
    }

    pub fn pointer(&self, name: &CStr, index: usize) -> Result<*mut c_void, OfxStatus> {
        let mut p = std::ptr::null_mut();
        // SAFETY: the host writes one pointer to `p`.
        check(unsafe { (self.s.prop.propGetPointer)(self.h, name.as_ptr(), index as c_int, &mut p) })?;
        Ok(p)
    }
}

/// An image effect (descriptor or instance), as handed to an action.
#[derive(Clone, Copy)]
pub struct Effect {
    pub s: Suites,
    pub h: OfxImageEffectHandle,
}

impl Effect {
    pub fn props(&self) -> Result<Props, OfxStatus> {
        let mut p = std::ptr::null_mut();
        // SAFETY: the effect handle the host passed to this action.
        check(unsafe { (self.s.effect.getPropertySet)(self.h, &mut p) })?;
        Ok(Props::new(self.s, p))
    }

    fn param_set(&self) -> Result<OfxParamSetHandle, OfxStatus> {
        let mut p = std::ptr::null_mut();
        // SAFETY: as props.
        check(unsafe { (self.s.effect.getParamSet)(self.h, &mut p) })?;
        Ok(p)
    }

    /// Defines a parameter (describe-in-context) and returns its properties.
    pub fn define_param(&self, kind: &CStr, name: &CStr) -> Result<Props, OfxStatus> {
        let set = self.param_set()?;
        let mut p = std::ptr::null_mut();
        // SAFETY: the descriptor's parameter set and NUL-terminated type and name.
        check(unsafe { (self.s.param.paramDefine)(set, kind.as_ptr(), name.as_ptr(), &mut p) })?;
        Ok(Props::new(self.s, p))
    }

    /// Defines a clip (describe-in-context) and returns its properties.
    pub fn define_clip(&self, name: &CStr) -> Result<Props, OfxStatus> {
        let mut p = std::ptr::null_mut();
        // SAFETY: the descriptor handle and a NUL-terminated clip name.
        check(unsafe { (self.s.effect.clipDefine)(self.h, name.as_ptr(), &mut p) })?;
        Ok(Props::new(self.s, p))
    }

    pub fn param(&self, name: &CStr) -> Result<Param, OfxStatus> {
        let set = self.param_set()?;
        let mut p = std::ptr::null_mut();
        let mut props = std::ptr::null_mut();
        // SAFETY: the instance's parameter set and a NUL-terminated name.
        check(unsafe { (self.s.param.paramGetHandle)(set, name.as_ptr(), &mut p, &mut props) })?;
        Ok(Param { s: self.s, h: p })
    }

    pub fn clip(&self, name: &CStr) -> Result<Clip, OfxStatus> {
        let mut c = std::ptr::null_mut();
        let mut props = std::ptr::null_mut();
        // SAFETY: the instance handle and a NUL-terminated clip name.
        check(unsafe { (self.s.effect.clipGetHandle)(self.h, name.as_ptr(), &mut c, &mut props) })?;
        Ok(Clip { s: self.s, h: c, props: Props::new(self.s, props) })
    }

    /// Whether the host asks the effect to stop (ofxImageEffect.h: abort).
    pub fn aborted(&self) -> bool {
        // SAFETY: the instance handle; abort only reads host state.
        unsafe { (self.s.effect.abort)(self.h) != 0 }
    }

    /// Posts a message to the user (message suite), if the host has one.
    pub fn message(&self, kind: &CStr, text: &str) -> bool {
        let Some(m) = self.s.message else { return false };
        let text = CString::new(text.replace('\0', "")).unwrap_or_default();
        // SAFETY: a printf-style call with the literal format "%s" and one C string argument,
        // so nothing in the text is read as a format directive.
        unsafe { (m.message)(self.h, kind.as_ptr(), c"kino".as_ptr(), c"%s".as_ptr(), text.as_ptr()) == kOfxStatOK }
    }

    pub fn progress_start(&self, label: &str) -> bool {
        let label = CString::new(label.replace('\0', "")).unwrap_or_default();
        match self.s.progress {
            Progress::None => false,
            // SAFETY: the instance handle and a NUL-terminated label the host copies.
            Progress::V1(p) => unsafe { (p.progressStart)(self.h, label.as_ptr()) == kOfxStatOK },
            // SAFETY: as V1, plus a NUL-terminated message id.
            Progress::V2(p) => unsafe { (p.progressStart)(self.h, label.as_ptr(), c"kino.progress".as_ptr()) == kOfxStatOK },
        }
    }

    /// Reports `fraction` done; `false` when the user asked to stop (kOfxStatReplyNo).
    pub fn progress_update(&self, fraction: f64) -> bool {
        let status = match self.s.progress {
            Progress::None => kOfxStatOK,
            // SAFETY: the instance handle, inside a progressStart/progressEnd pair.
            Progress::V1(p) => unsafe { (p.progressUpdate)(self.h, fraction) },
            // SAFETY: as V1.
            Progress::V2(p) => unsafe { (p.progressUpdate)(self.h, fraction) },
        };
        status != kOfxStatReplyNo
    }

    pub fn progress_end(&self) {
        match self.s.progress {
            Progress::None => {}
            // SAFETY: the instance handle, closing the pair opened by progress_start.
            Progress::V1(p) => unsafe {
                (p.progressEnd)(self.h);
            },
            // SAFETY: as V1.
            Progress::V2(p) => unsafe {
                (p.progressEnd)(self.h);
            },
        }
    }
}
