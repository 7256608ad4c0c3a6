//! A small OpenFX host that follows the spec (AcademySoftwareFoundation/openfx, include/*.h),
//! for testing the kino plugin the way editors load it:
//!
//! discovery through `OFX_PLUGIN_PATH`-style folders of `*.ofx.bundle/Contents/Linux-x86-64/*.ofx`,
//! `OfxGetNumberOfPlugins` / `OfxGetPlugin`, `setHost`, Load, Describe, DescribeInContext,
//! CreateInstance, clip preferences, region of definition, frames needed, IsIdentity, Render,
//! InstanceChanged, DestroyInstance, Unload; with the property, parameter, image-effect,
//! memory, multithread, message and progress suites.
//!
//! Like a real host it is strict: property sets hold only the properties the spec lists for
//! their object, typed and sized (a wrong type is kOfxStatErrValue, an unknown name
//! kOfxStatErrUnknown, an index past the dimension kOfxStatErrBadIndex); images are counted and
//! must be released; source frames outside the ranges declared by GetFramesNeeded are
//! recorded as violations.
//!
//! The parameter and message suites are C-variadic, which stable Rust cannot define. On the
//! System V x86-64 and AAPCS64 (Linux) ABIs a variadic call passes its arguments in the same
//! registers as a non-variadic one, so those functions are defined here with the extra
//! arguments spelled out (integer and floating-point registers read separately) and
//! interpreted by the parameter's type, as a C host's `va_arg` would.
#![allow(dead_code, non_upper_case_globals)]

use std::collections::HashMap;
use std::ffi::{c_char, c_double, c_int, c_uint, c_void, CStr, CString};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use kino_ofx::abi::*;

// ---------------------------------------------------------------- property sets

#[derive(Clone, Debug, PartialEq)]
enum Vals {
    Int(Vec<i32>),
    Double(Vec<f64>),
    Str(Vec<CString>),
    Ptr(Vec<usize>),
}

impl Vals {
    fn len(&self) -> usize {
        match self {
            Vals::Int(v) => v.len(),
            Vals::Double(v) => v.len(),
            Vals::Str(v) => v.len(),
            Vals::Ptr(v) => v.len(),
        }
    }
}

#[derive(Clone)]
struct Prop {
    vals: Vals,
    defaults: Vals,
    /// Fixed dimension, or 0 for a variable one.
    dim: usize,
    /// Set by the host only: the plugin gets kOfxStatErrValue writing it.
    read_only: bool,
    /// Whether the plugin has written it.
    written: bool,
}

/// One property set: the properties of one object, as the spec lists them.
pub struct PropSet {
    pub what: String,
    props: Mutex<HashMap<String, Prop>>,
}

impl PropSet {
    pub fn new(what: &str) -> Box<PropSet> {
        Box::new(PropSet { what: what.into(), props: Mutex::new(HashMap::new()) })
    }

    fn add(self: Box<Self>, name: &str, vals: Vals, dim: usize, read_only: bool) -> Box<Self> {
        self.props.lock().unwrap().insert(name.into(), Prop { defaults: vals.clone(), vals, dim, read_only, written: false });
        self
    }

    /// Builders: `dim` 0 means variable.
    pub fn int(self: Box<Self>, name: &CStr, dim: usize, v: &[i32]) -> Box<Self> {
        self.add(&name.to_string_lossy(), Vals::Int(v.to_vec()), dim, false)
    }
    pub fn double(self: Box<Self>, name: &CStr, dim: usize, v: &[f64]) -> Box<Self> {
        self.add(&name.to_string_lossy(), Vals::Double(v.to_vec()), dim, false)
    }
    pub fn string(self: Box<Self>, name: &CStr, dim: usize, v: &[&str]) -> Box<Self> {
        self.add(&name.to_string_lossy(), Vals::Str(v.iter().map(|s| CString::new(*s).unwrap()).collect()), dim, false)
    }
    pub fn ptr(self: Box<Self>, name: &CStr, dim: usize) -> Box<Self> {
        self.add(&name.to_string_lossy(), Vals::Ptr(vec![0; dim.max(1)]), dim, false)
    }
    /// Marks the last-named properties read-only for the plugin.
    pub fn read_only(self: Box<Self>, names: &[&CStr]) -> Box<Self> {
        {
            let mut p = self.props.lock().unwrap();
            for n in names {
                p.get_mut(&*n.to_string_lossy()).expect("read_only: property defined").read_only = true;
            }
        }
        self
    }

    pub fn handle(&self) -> OfxPropertySetHandle {
        self as *const PropSet as OfxPropertySetHandle
    }

    // Host-side access.
    pub fn set_ints(&self, name: &CStr, v: &[i32]) {
        self.host_set(name, Vals::Int(v.to_vec()))
    }
    pub fn set_doubles(&self, name: &CStr, v: &[f64]) {
        self.host_set(name, Vals::Double(v.to_vec()))
    }
    pub fn set_strs(&self, name: &CStr, v: &[&str]) {
        self.host_set(name, Vals::Str(v.iter().map(|s| CString::new(*s).unwrap()).collect()))
    }
    pub fn set_ptr(&self, name: &CStr, v: usize) {
        self.host_set(name, Vals::Ptr(vec![v]))
    }
    fn host_set(&self, name: &CStr, v: Vals) {
        let mut p = self.props.lock().unwrap();
        let prop = p.get_mut(&*name.to_string_lossy()).unwrap_or_else(|| panic!("host set: {} has no {:?}", self.what, name));
        prop.vals = v;
    }
    pub fn ints(&self, name: &CStr) -> Vec<i32> {
        match self.get(name) {
            Some(Vals::Int(v)) => v,
            other => panic!("{} {:?}: {:?}", self.what, name, other),
        }
    }
    pub fn doubles(&self, name: &CStr) -> Vec<f64> {
        match self.get(name) {
            Some(Vals::Double(v)) => v,
            other => panic!("{} {:?}: {:?}", self.what, name, other),
        }
    }
    pub fn strs(&self, name: &CStr) -> Vec<String> {
        match self.get(name) {
            Some(Vals::Str(v)) => v.iter().map(|s| s.to_string_lossy().into_owned()).collect(),
            other => panic!("{} {:?}: {:?}", self.what, name, other),
        }
    }
    pub fn str(&self, name: &CStr) -> String {
        self.strs(name).into_iter().next().unwrap_or_default()
    }
    pub fn written(&self, name: &CStr) -> bool {
        self.props.lock().unwrap().get(&*name.to_string_lossy()).is_some_and(|p| p.written)
    }
    /// Removes a property (a host that does not set it: reading it is kOfxStatErrUnknown).
    pub fn remove(self: Box<Self>, name: &CStr) -> Box<Self> {
        self.props.lock().unwrap().remove(&*name.to_string_lossy());
        self
    }
    pub fn has(&self, name: &CStr) -> bool {
        self.props.lock().unwrap().contains_key(&*name.to_string_lossy())
    }
    fn get(&self, name: &CStr) -> Option<Vals> {
        self.props.lock().unwrap().get(&*name.to_string_lossy()).map(|p| p.vals.clone())
    }
    /// A copy (descriptor to instance).
    pub fn copy(&self, what: &str) -> Box<PropSet> {
        Box::new(PropSet { what: what.into(), props: Mutex::new(self.props.lock().unwrap().clone()) })
    }
}

/// The property set behind a handle, or kOfxStatErrBadHandle.
///
/// # Safety
/// `h` is null or a handle this host gave out, still alive.
unsafe fn props<'a>(h: OfxPropertySetHandle) -> Result<&'a PropSet, OfxStatus> {
    // SAFETY: by the caller's contract.
    unsafe { (h as *const PropSet).as_ref() }.ok_or(kOfxStatErrBadHandle)
}

fn name_of(p: *const c_char) -> Result<String, OfxStatus> {
    if p.is_null() {
        return Err(kOfxStatErrUnknown);
    }
    // SAFETY: the plugin passes NUL-terminated property names (ofxProperty.h).
    Ok(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
}

enum One {
    Int(i32),
    Double(f64),
    Str(CString),
    Ptr(usize),
}

unsafe fn set_one(h: OfxPropertySetHandle, name: *const c_char, index: c_int, v: One) -> OfxStatus {
    let run = || -> Result<(), OfxStatus> {
        // SAFETY: the plugin passes handles this host gave it.
        let set = unsafe { props(h) }?;
        let name = name_of(name)?;
        let mut map = set.props.lock().unwrap();
        let p = map.get_mut(&name).ok_or(kOfxStatErrUnknown)?;
        if p.read_only {
            return Err(kOfxStatErrValue);
        }
        if index < 0 || (p.dim > 0 && index as usize >= p.dim) || index as usize > p.vals.len() {
            return Err(kOfxStatErrBadIndex);
        }
        let i = index as usize;
        macro_rules! put {
            ($vec:expr, $x:expr) => {{
                if i == $vec.len() {
                    $vec.push($x)
                } else {
                    $vec[i] = $x
                }
            }};
        }
        match (&mut p.vals, v) {
            (Vals::Int(vec), One::Int(x)) => put!(vec, x),
            (Vals::Double(vec), One::Double(x)) => put!(vec, x),
            (Vals::Str(vec), One::Str(x)) => put!(vec, x),
            (Vals::Ptr(vec), One::Ptr(x)) => put!(vec, x),
            _ => return Err(kOfxStatErrValue),
        }
        p.written = true;
        Ok(())
    };
    match run() {
        Ok(()) => kOfxStatOK,
        Err(e) => e,
    }
}

fn with_prop<T>(h: OfxPropertySetHandle, name: *const c_char, f: impl FnOnce(&Prop) -> Result<T, OfxStatus>) -> Result<T, OfxStatus> {
    // SAFETY: the plugin passes handles this host gave it.
    let set = unsafe { props(h) }?;
    let name = name_of(name)?;
    let map = set.props.lock().unwrap();
    f(map.get(&name).ok_or(kOfxStatErrUnknown)?)
}

fn st(r: Result<(), OfxStatus>) -> OfxStatus {
    r.err().unwrap_or(kOfxStatOK)
}

unsafe extern "C" fn prop_set_pointer(h: OfxPropertySetHandle, n: *const c_char, i: c_int, v: *mut c_void) -> OfxStatus {
    unsafe { set_one(h, n, i, One::Ptr(v as usize)) }
}
unsafe extern "C" fn prop_set_string(h: OfxPropertySetHandle, n: *const c_char, i: c_int, v: *const c_char) -> OfxStatus {
    if v.is_null() {
        return kOfxStatErrValue;
    }
    // SAFETY: a NUL-terminated string from the plugin, copied here.
    let s = unsafe { CStr::from_ptr(v) }.to_owned();
    unsafe { set_one(h, n, i, One::Str(s)) }
}
unsafe extern "C" fn prop_set_double(h: OfxPropertySetHandle, n: *const c_char, i: c_int, v: c_double) -> OfxStatus {
    unsafe { set_one(h, n, i, One::Double(v)) }
}
unsafe extern "C" fn prop_set_int(h: OfxPropertySetHandle, n: *const c_char, i: c_int, v: c_int) -> OfxStatus {
    unsafe { set_one(h, n, i, One::Int(v)) }
}
unsafe extern "C" fn prop_set_pointer_n(h: OfxPropertySetHandle, n: *const c_char, count: c_int, v: *const *mut c_void) -> OfxStatus {
    for i in 0..count.max(0) {
        // SAFETY: the plugin passes `count` values.
        let s = unsafe { set_one(h, n, i, One::Ptr(*v.add(i as usize) as usize)) };
        if s != kOfxStatOK {
            return s;
        }
    }
    kOfxStatOK
}
unsafe extern "C" fn prop_set_string_n(h: OfxPropertySetHandle, n: *const c_char, count: c_int, v: *const *const c_char) -> OfxStatus {
    for i in 0..count.max(0) {
        // SAFETY: the plugin passes `count` NUL-terminated strings.
        let s = unsafe { prop_set_string(h, n, i, *v.add(i as usize)) };
        if s != kOfxStatOK {
            return s;
        }
    }
    kOfxStatOK
}
unsafe extern "C" fn prop_set_double_n(h: OfxPropertySetHandle, n: *const c_char, count: c_int, v: *const c_double) -> OfxStatus {
    // A variable-dimension property set with N values has exactly N afterwards.
    let variable = with_prop(h, n, |p| Ok(p.dim == 0)).unwrap_or(false);
    if variable {
        let r = (|| {
            // SAFETY: as in with_prop; the plugin passes `count` doubles.
            let set = unsafe { props(h) }?;
            let name = name_of(n)?;
            let mut map = set.props.lock().unwrap();
            let p = map.get_mut(&name).ok_or(kOfxStatErrUnknown)?;
            if !matches!(p.vals, Vals::Double(_)) {
                return Err(kOfxStatErrValue);
            }
            p.vals = Vals::Double((0..count.max(0) as usize).map(|i| unsafe { *v.add(i) }).collect());
            p.written = true;
            Ok(())
        })();
        return st(r);
    }
    for i in 0..count.max(0) {
        // SAFETY: the plugin passes `count` doubles.
        let s = unsafe { set_one(h, n, i, One::Double(*v.add(i as usize))) };
        if s != kOfxStatOK {
            return s;
        }
    }
    kOfxStatOK
}
unsafe extern "C" fn prop_set_int_n(h: OfxPropertySetHandle, n: *const c_char, count: c_int, v: *const c_int) -> OfxStatus {
    for i in 0..count.max(0) {
        // SAFETY: the plugin passes `count` ints.
        let s = unsafe { set_one(h, n, i, One::Int(*v.add(i as usize))) };
        if s != kOfxStatOK {
            return s;
        }
    }
    kOfxStatOK
}

fn get_one(h: OfxPropertySetHandle, n: *const c_char, i: c_int) -> Result<One, OfxStatus> {
    with_prop(h, n, |p| {
        if i < 0 || i as usize >= p.vals.len() {
            return Err(kOfxStatErrBadIndex);
        }
        let i = i as usize;
        Ok(match &p.vals {
            Vals::Int(v) => One::Int(v[i]),
            Vals::Double(v) => One::Double(v[i]),
            // The pointer stays valid until the property is written again (ofxProperty.h).
            Vals::Str(v) => One::Ptr(v[i].as_ptr() as usize),
            Vals::Ptr(v) => One::Ptr(v[i]),
        })
    })
}

fn kind_of(h: OfxPropertySetHandle, n: *const c_char) -> Result<u8, OfxStatus> {
    with_prop(h, n, |p| {
        Ok(match p.vals {
            Vals::Int(_) => b'i',
            Vals::Double(_) => b'd',
            Vals::Str(_) => b's',
            Vals::Ptr(_) => b'p',
        })
    })
}

unsafe extern "C" fn prop_get_pointer(h: OfxPropertySetHandle, n: *const c_char, i: c_int, out: *mut *mut c_void) -> OfxStatus {
    let r = (|| {
        if kind_of(h, n)? != b'p' {
            return Err(kOfxStatErrValue);
        }
        if let One::Ptr(p) = get_one(h, n, i)? {
            // SAFETY: the plugin passes a writable pointer.
            unsafe { *out = p as *mut c_void };
        }
        Ok(())
    })();
    st(r)
}
unsafe extern "C" fn prop_get_string(h: OfxPropertySetHandle, n: *const c_char, i: c_int, out: *mut *mut c_char) -> OfxStatus {
    let r = (|| {
        if kind_of(h, n)? != b's' {
            return Err(kOfxStatErrValue);
        }
        if let One::Ptr(p) = get_one(h, n, i)? {
            // SAFETY: the plugin passes a writable pointer.
            unsafe { *out = p as *mut c_char };
        }
        Ok(())
    })();
    st(r)
}
unsafe extern "C" fn prop_get_double(h: OfxPropertySetHandle, n: *const c_char, i: c_int, out: *mut c_double) -> OfxStatus {
    let r = (|| match get_one(h, n, i)? {
        One::Double(v) => {
            // SAFETY: the plugin passes a writable pointer.
            unsafe { *out = v };
            Ok(())
        }
        _ => Err(kOfxStatErrValue),
    })();
    st(r)
}
unsafe extern "C" fn prop_get_int(h: OfxPropertySetHandle, n: *const c_char, i: c_int, out: *mut c_int) -> OfxStatus {
    let r = (|| match get_one(h, n, i)? {
        One::Int(v) => {
            // SAFETY: the plugin passes a writable pointer.
            unsafe { *out = v };
            Ok(())
        }
        _ => Err(kOfxStatErrValue),
    })();
    st(r)
}
unsafe extern "C" fn prop_get_pointer_n(h: OfxPropertySetHandle, n: *const c_char, count: c_int, out: *mut *mut c_void) -> OfxStatus {
    for i in 0..count.max(0) {
        // SAFETY: the plugin passes room for `count` values.
        let s = unsafe { prop_get_pointer(h, n, i, out.add(i as usize)) };
        if s != kOfxStatOK {
            return s;
        }
    }
    kOfxStatOK
}
unsafe extern "C" fn prop_get_string_n(h: OfxPropertySetHandle, n: *const c_char, count: c_int, out: *mut *mut c_char) -> OfxStatus {
    for i in 0..count.max(0) {
        // SAFETY: as above.
        let s = unsafe { prop_get_string(h, n, i, out.add(i as usize)) };
        if s != kOfxStatOK {
            return s;
        }
    }
    kOfxStatOK
}
unsafe extern "C" fn prop_get_double_n(h: OfxPropertySetHandle, n: *const c_char, count: c_int, out: *mut c_double) -> OfxStatus {
    for i in 0..count.max(0) {
        // SAFETY: as above.
        let s = unsafe { prop_get_double(h, n, i, out.add(i as usize)) };
        if s != kOfxStatOK {
            return s;
        }
    }
    kOfxStatOK
}
unsafe extern "C" fn prop_get_int_n(h: OfxPropertySetHandle, n: *const c_char, count: c_int, out: *mut c_int) -> OfxStatus {
    for i in 0..count.max(0) {
        // SAFETY: as above.
        let s = unsafe { prop_get_int(h, n, i, out.add(i as usize)) };
        if s != kOfxStatOK {
            return s;
        }
    }
    kOfxStatOK
}
unsafe extern "C" fn prop_reset(h: OfxPropertySetHandle, n: *const c_char) -> OfxStatus {
    let r = (|| {
        // SAFETY: a handle this host gave out.
        let set = unsafe { props(h) }?;
        let name = name_of(n)?;
        let mut map = set.props.lock().unwrap();
        let p = map.get_mut(&name).ok_or(kOfxStatErrUnknown)?;
        p.vals = p.defaults.clone();
        Ok(())
    })();
    st(r)
}
unsafe extern "C" fn prop_get_dimension(h: OfxPropertySetHandle, n: *const c_char, out: *mut c_int) -> OfxStatus {
    let r = with_prop(h, n, |p| {
        // SAFETY: the plugin passes a writable pointer.
        unsafe { *out = p.vals.len() as c_int };
        Ok(())
    });
    st(r)
}

static PROPERTY_SUITE: OfxPropertySuiteV1 = OfxPropertySuiteV1 {
    propSetPointer: prop_set_pointer,
    propSetString: prop_set_string,
    propSetDouble: prop_set_double,
    propSetInt: prop_set_int,
    propSetPointerN: prop_set_pointer_n,
    propSetStringN: prop_set_string_n,
    propSetDoubleN: prop_set_double_n,
    propSetIntN: prop_set_int_n,
    propGetPointer: prop_get_pointer,
    propGetString: prop_get_string,
    propGetDouble: prop_get_double,
    propGetInt: prop_get_int,
    propGetPointerN: prop_get_pointer_n,
    propGetStringN: prop_get_string_n,
    propGetDoubleN: prop_get_double_n,
    propGetIntN: prop_get_int_n,
    propReset: prop_reset,
    propGetDimension: prop_get_dimension,
};

// ---------------------------------------------------------------- parameters

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Int(i32),
    Double(f64),
    Str(String),
    None,
}

pub struct Param {
    /// MLT-like: values may be set in any action (MLT's paramSetValue does not check).
    any_action_sets: bool,
    pub name: String,
    pub kind: String,
    pub props: Box<PropSet>,
    value: Mutex<(Value, CString)>,
}

pub struct ParamSet {
    descriptor: bool,
    pub props: Box<PropSet>,
    /// Boxed: the plugin holds pointers to them while the list grows.
    #[allow(clippy::vec_box)]
    pub params: Mutex<Vec<Box<Param>>>,
}

/// Properties of a parameter descriptor of `kind` (ofxParam.h), with the spec's defaults.
fn param_props(kind: &str, name: &str) -> Box<PropSet> {
    let mut p = PropSet::new(&format!("param {name}"))
        .string(kOfxPropType, 1, &["OfxTypeParameter"])
        .string(kOfxPropName, 1, &[name])
        .string(kOfxPropLabel, 1, &[name])
        .string(c"OfxPropShortLabel", 1, &[name])
        .string(c"OfxPropLongLabel", 1, &[name])
        .string(kOfxParamPropType, 1, &[kind])
        .string(c"OfxParamPropScriptName", 1, &[name])
        .string(kOfxParamPropHint, 1, &[""])
        .string(c"OfxParamPropParent", 1, &[""])
        .int(c"OfxParamPropSecret", 1, &[0])
        .int(kOfxParamPropEnabled, 1, &[1])
        .ptr(c"OfxParamPropDataPtr", 1)
        .int(c"OfxParamPropCanUndo", 1, &[1])
        .read_only(&[kOfxPropType, kOfxPropName, kOfxParamPropType]);
    let animating = !matches!(kind, "OfxParamTypePushButton");
    if animating {
        p = p
            .int(kOfxParamPropAnimates, 1, &[1])
            .int(kOfxParamPropPersistant, 1, &[1])
            .int(kOfxParamPropEvaluateOnChange, 1, &[1])
            .int(c"OfxParamPropPluginMayWrite", 1, &[0])
            .string(c"OfxParamPropCacheInvalidation", 1, &["OfxParamInvalidateValueChange"]);
    }
    match kind {
        "OfxParamTypeInteger" => p
            .int(kOfxParamPropDefault, 1, &[0])
            .int(kOfxParamPropMin, 1, &[i32::MIN])
            .int(kOfxParamPropMax, 1, &[i32::MAX])
            .int(kOfxParamPropDisplayMin, 1, &[i32::MIN])
            .int(kOfxParamPropDisplayMax, 1, &[i32::MAX]),
        "OfxParamTypeDouble" => p
            .double(kOfxParamPropDefault, 1, &[0.0])
            .double(kOfxParamPropMin, 1, &[-f64::MAX])
            .double(kOfxParamPropMax, 1, &[f64::MAX])
            .double(kOfxParamPropDisplayMin, 1, &[-f64::MAX])
            .double(kOfxParamPropDisplayMax, 1, &[f64::MAX])
            .double(kOfxParamPropIncrement, 1, &[1.0])
            .int(kOfxParamPropDigits, 1, &[2])
            .string(c"OfxParamPropDoubleType", 1, &["OfxParamDoubleTypePlain"]),
        "OfxParamTypeChoice" => p.int(kOfxParamPropDefault, 1, &[0]).string(kOfxParamPropChoiceOption, 0, &[]),
        "OfxParamTypeString" => p.string(kOfxParamPropDefault, 1, &[""]).string(kOfxParamPropStringMode, 1, &["OfxParamStringIsSingleLine"]).int(
            kOfxParamPropStringFilePathExists,
            1,
            &[1],
        ),
        _ => p,
    }
}

fn default_value(p: &Param) -> Value {
    match p.kind.as_str() {
        "OfxParamTypeInteger" | "OfxParamTypeChoice" => Value::Int(p.props.ints(kOfxParamPropDefault)[0]),
        "OfxParamTypeDouble" => Value::Double(p.props.doubles(kOfxParamPropDefault)[0]),
        "OfxParamTypeString" => Value::Str(p.props.str(kOfxParamPropDefault)),
        _ => Value::None,
    }
}

const PARAM_TYPES: [&str; 5] = ["OfxParamTypeInteger", "OfxParamTypeDouble", "OfxParamTypeChoice", "OfxParamTypeString", "OfxParamTypePushButton"];

unsafe extern "C" fn param_define(set: OfxParamSetHandle, kind: *const c_char, name: *const c_char, out: *mut OfxPropertySetHandle) -> OfxStatus {
    // SAFETY: a param set handle this host gave out.
    let Some(set) = (unsafe { (set as *const ParamSet).as_ref() }) else { return kOfxStatErrBadHandle };
    if !set.descriptor {
        return kOfxStatErrBadHandle;
    }
    let (Ok(kind), Ok(name)) = (name_of(kind), name_of(name)) else { return kOfxStatErrUnknown };
    if !PARAM_TYPES.contains(&kind.as_str()) {
        // This host supports the types kino uses; others are "unknown" (ofxParam.h).
        return kOfxStatErrUnknown;
    }
    let mut params = set.params.lock().unwrap();
    if params.iter().any(|p| p.name == name) {
        return kOfxStatErrExists;
    }
    let p = Box::new(Param { any_action_sets: false, props: param_props(&kind, &name), name, kind, value: Mutex::new((Value::None, CString::default())) });
    if !out.is_null() {
        // SAFETY: the plugin passes a writable handle pointer.
        unsafe { *out = p.props.handle() };
    }
    params.push(p);
    kOfxStatOK
}

unsafe extern "C" fn param_get_handle(
    set: OfxParamSetHandle,
    name: *const c_char,
    out: *mut OfxParamHandle,
    props_out: *mut OfxPropertySetHandle,
) -> OfxStatus {
    // SAFETY: a param set handle this host gave out.
    let Some(set) = (unsafe { (set as *const ParamSet).as_ref() }) else { return kOfxStatErrBadHandle };
    let Ok(name) = name_of(name) else { return kOfxStatErrUnknown };
    let params = set.params.lock().unwrap();
    let Some(p) = params.iter().find(|p| p.name == name) else { return kOfxStatErrUnknown };
    // SAFETY: writable pointers from the plugin (props_out may be null).
    unsafe {
        *out = &**p as *const Param as OfxParamHandle;
        if !props_out.is_null() {
            *props_out = p.props.handle();
        }
    }
    kOfxStatOK
}

unsafe extern "C" fn param_set_get_property_set(set: OfxParamSetHandle, out: *mut OfxPropertySetHandle) -> OfxStatus {
    // SAFETY: a param set handle this host gave out; a writable pointer.
    let Some(set) = (unsafe { (set as *const ParamSet).as_ref() }) else { return kOfxStatErrBadHandle };
    unsafe { *out = set.props.handle() };
    kOfxStatOK
}

unsafe extern "C" fn param_get_property_set(p: OfxParamHandle, out: *mut OfxPropertySetHandle) -> OfxStatus {
    // SAFETY: a param handle this host gave out; a writable pointer.
    let Some(p) = (unsafe { (p as *const Param).as_ref() }) else { return kOfxStatErrBadHandle };
    unsafe { *out = p.props.handle() };
    kOfxStatOK
}

/// Writes the value through the first variadic pointer, by the parameter's type.
fn write_value(p: &Param, a1: usize) -> OfxStatus {
    if a1 == 0 {
        return kOfxStatErrBadHandle;
    }
    let mut v = p.value.lock().unwrap();
    // SAFETY: per ofxParam.h, the variadic argument is an int*, double* or char** by type.
    unsafe {
        match &v.0 {
            Value::Int(x) => *(a1 as *mut c_int) = *x,
            Value::Double(x) => *(a1 as *mut f64) = *x,
            Value::Str(s) => {
                v.1 = CString::new(s.clone()).unwrap_or_default();
                *(a1 as *mut *const c_char) = v.1.as_ptr();
            }
            Value::None => return kOfxStatErrUnsupported,
        }
    }
    kOfxStatOK
}

unsafe extern "C" fn param_get_value(p: OfxParamHandle, a1: usize, _a2: usize, _a3: usize) -> OfxStatus {
    // SAFETY: a param handle this host gave out.
    let Some(p) = (unsafe { (p as *const Param).as_ref() }) else { return kOfxStatErrBadHandle };
    write_value(p, a1)
}

unsafe extern "C" fn param_get_value_at_time(p: OfxParamHandle, _time: f64, a1: usize, _a2: usize, _a3: usize) -> OfxStatus {
    // SAFETY: as param_get_value; parameters here do not animate, so every time has one value.
    let Some(p) = (unsafe { (p as *const Param).as_ref() }) else { return kOfxStatErrBadHandle };
    write_value(p, a1)
}

unsafe extern "C" fn param_unsupported_t(_p: OfxParamHandle, _t: f64, _a1: usize) -> OfxStatus {
    kOfxStatErrUnsupported
}

unsafe extern "C" fn param_unsupported_tt(_p: OfxParamHandle, _t: f64, _t2: f64, _a1: usize) -> OfxStatus {
    kOfxStatErrUnsupported
}

thread_local! {
    /// Inside InstanceChanged on this thread: the one action where a plugin may set values
    /// (ofxParam.h: "paramSetValue should only be called from within a kOfxActionInstanceChanged
    /// or interact action").
    static IN_INSTANCE_CHANGED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

unsafe extern "C" fn param_set_value(p: OfxParamHandle, a1: usize, _a2: usize, _a3: usize, x0: f64, _x1: f64, _x2: f64) -> OfxStatus {
    // SAFETY: a param handle this host gave out.
    let Some(p) = (unsafe { (p as *const Param).as_ref() }) else { return kOfxStatErrBadHandle };
    if !IN_INSTANCE_CHANGED.with(|c| c.get()) && !p.any_action_sets {
        OUT_OF_ACTION_SETS.fetch_add(1, Ordering::SeqCst);
        return kOfxStatFailed;
    }
    let mut v = p.value.lock().unwrap();
    v.0 = match &v.0 {
        Value::Int(_) => Value::Int(a1 as u32 as i32),
        Value::Double(_) => Value::Double(x0),
        Value::Str(_) => {
            if a1 == 0 {
                return kOfxStatErrValue;
            }
            // SAFETY: string parameters take a NUL-terminated `const char*` (ofxParam.h).
            Value::Str(unsafe { CStr::from_ptr(a1 as *const c_char) }.to_string_lossy().into_owned())
        }
        Value::None => return kOfxStatErrUnsupported,
    };
    kOfxStatOK
}

unsafe extern "C" fn param_set_value_at_time(p: OfxParamHandle, _t: f64, a1: usize, a2: usize, a3: usize, x1: f64, x2: f64) -> OfxStatus {
    // No animation here: the value at any time is the value (x1 is the double after the time).
    unsafe { param_set_value(p, a1, a2, a3, x1, x2, 0.0) }
}

unsafe extern "C" fn param_get_num_keys(_p: OfxParamHandle, n: *mut c_uint) -> OfxStatus {
    // SAFETY: a writable pointer from the plugin.
    unsafe { *n = 0 };
    kOfxStatOK
}
unsafe extern "C" fn param_get_key_time(_p: OfxParamHandle, _n: c_uint, _t: *mut OfxTime) -> OfxStatus {
    kOfxStatErrBadIndex
}
unsafe extern "C" fn param_get_key_index(_p: OfxParamHandle, _t: OfxTime, _d: c_int, _i: *mut c_int) -> OfxStatus {
    kOfxStatFailed
}
unsafe extern "C" fn param_delete_key(_p: OfxParamHandle, _t: OfxTime) -> OfxStatus {
    kOfxStatErrBadIndex
}
unsafe extern "C" fn param_delete_all_keys(_p: OfxParamHandle) -> OfxStatus {
    kOfxStatOK
}
unsafe extern "C" fn param_copy(_to: OfxParamHandle, _from: OfxParamHandle, _o: OfxTime, _r: *const OfxRangeD) -> OfxStatus {
    kOfxStatErrUnsupported
}
unsafe extern "C" fn param_edit_begin(_s: OfxParamSetHandle, _n: *const c_char) -> OfxStatus {
    kOfxStatOK
}
unsafe extern "C" fn param_edit_end(_s: OfxParamSetHandle) -> OfxStatus {
    kOfxStatOK
}

/// The parameter suite: the variadic members are stored through the C-variadic pointer types
/// of the ABI, the definitions above reading the registers those calls use (module docs).
fn parameter_suite() -> &'static OfxParameterSuiteV1 {
    static SUITE: std::sync::OnceLock<OfxParameterSuiteV1> = std::sync::OnceLock::new();
    SUITE.get_or_init(|| {
        // SAFETY: see the module docs: on the supported ABIs these definitions receive the
        // variadic arguments in the registers they read.
        unsafe {
            OfxParameterSuiteV1 {
                paramDefine: param_define,
                paramGetHandle: param_get_handle,
                paramSetGetPropertySet: param_set_get_property_set,
                paramGetPropertySet: param_get_property_set,
                paramGetValue: std::mem::transmute::<
                    unsafe extern "C" fn(OfxParamHandle, usize, usize, usize) -> OfxStatus,
                    unsafe extern "C" fn(OfxParamHandle, ...) -> OfxStatus,
                >(param_get_value),
                paramGetValueAtTime: std::mem::transmute::<
                    unsafe extern "C" fn(OfxParamHandle, f64, usize, usize, usize) -> OfxStatus,
                    unsafe extern "C" fn(OfxParamHandle, OfxTime, ...) -> OfxStatus,
                >(param_get_value_at_time),
                paramGetDerivative: std::mem::transmute::<
                    unsafe extern "C" fn(OfxParamHandle, f64, usize) -> OfxStatus,
                    unsafe extern "C" fn(OfxParamHandle, OfxTime, ...) -> OfxStatus,
                >(param_unsupported_t),
                paramGetIntegral: std::mem::transmute::<
                    unsafe extern "C" fn(OfxParamHandle, f64, f64, usize) -> OfxStatus,
                    unsafe extern "C" fn(OfxParamHandle, OfxTime, OfxTime, ...) -> OfxStatus,
                >(param_unsupported_tt),
                paramSetValue: std::mem::transmute::<
                    unsafe extern "C" fn(OfxParamHandle, usize, usize, usize, f64, f64, f64) -> OfxStatus,
                    unsafe extern "C" fn(OfxParamHandle, ...) -> OfxStatus,
                >(param_set_value),
                paramSetValueAtTime: std::mem::transmute::<
                    unsafe extern "C" fn(OfxParamHandle, f64, usize, usize, usize, f64, f64) -> OfxStatus,
                    unsafe extern "C" fn(OfxParamHandle, OfxTime, ...) -> OfxStatus,
                >(param_set_value_at_time),
                paramGetNumKeys: param_get_num_keys,
                paramGetKeyTime: param_get_key_time,
                paramGetKeyIndex: param_get_key_index,
                paramDeleteKey: param_delete_key,
                paramDeleteAllKeys: param_delete_all_keys,
                paramCopy: param_copy,
                paramEditBegin: param_edit_begin,
                paramEditEnd: param_edit_end,
            }
        }
    })
}

// ---------------------------------------------------------------- clips, images, effects

/// RGBA8 frames (top row first) that the host serves as a source clip.
#[derive(Clone)]
pub struct Source {
    pub width: u32,
    pub height: u32,
    pub first: f64,
    pub frames: Vec<Vec<u8>>,
}

pub struct Clip {
    pub name: String,
    pub props: Box<PropSet>,
    source: Option<Arc<Source>>,
    effect: *const Effect,
}

/// Host state shared by everything one host made: what the plugin told the user, progress,
/// images handed out, and the abort switch.
#[derive(Default)]
pub struct Log {
    pub messages: Mutex<Vec<(String, String)>>,
    pub progress: Mutex<Vec<String>>,
    pub images_out: AtomicUsize,
    /// Source frames fetched outside the ranges GetFramesNeeded declared.
    pub violations: Mutex<Vec<String>>,
    /// Abort once this many progress updates have been seen (0: never).
    pub abort_after: AtomicUsize,
    pub updates: AtomicUsize,
    pub aborted: AtomicBool,
    /// MLT-like host: every source fetch returns the frame being rendered, whatever the time.
    pub mlt: AtomicBool,
}

pub struct Effect {
    pub props: Box<PropSet>,
    pub params: Box<ParamSet>,
    /// Boxed: clip handles are their addresses.
    #[allow(clippy::vec_box)]
    pub clips: Mutex<Vec<Box<Clip>>>,
    descriptor: bool,
    log: Arc<Log>,
    /// Images this instance fetched and has not released (renders run in many threads at once,
    /// so each instance keeps its own count).
    images_out: Arc<AtomicUsize>,
    /// During Render: the output image's layout; the frames each clip may be asked for.
    render: Mutex<Option<RenderState>>,
}

#[derive(Clone)]
struct RenderState {
    time: f64,
    scale: [f64; 2],
    depth: &'static CStr,
    negative_rows: bool,
    output: Arc<Buffer>,
    output_rect: OfxRectI,
    needed: Vec<(f64, f64)>,
}

/// Pixel memory, shared by the host and the image handle it hands out.
pub struct Buffer {
    bytes: Mutex<Vec<u8>>,
    ptr: usize,
    pub stride: usize,
    pub rows: usize,
}

impl Buffer {
    fn new(stride: usize, rows: usize) -> Arc<Buffer> {
        let mut bytes = vec![0xAAu8; stride * rows]; // not zero: the plugin must write every pixel
        let ptr = bytes.as_mut_ptr() as usize;
        Arc::new(Buffer { bytes: Mutex::new(bytes), ptr, stride, rows })
    }
}

struct Image {
    props: Box<PropSet>,
    _buf: Arc<Buffer>,
    log: Arc<Log>,
    owner: Arc<AtomicUsize>,
}

fn images() -> &'static Mutex<HashMap<usize, Box<Image>>> {
    static I: std::sync::OnceLock<Mutex<HashMap<usize, Box<Image>>>> = std::sync::OnceLock::new();
    I.get_or_init(Default::default)
}

fn bytes_per_channel(depth: &CStr) -> usize {
    match depth.to_bytes() {
        b"OfxBitDepthByte" => 1,
        b"OfxBitDepthShort" => 2,
        _ => 4,
    }
}

fn store(depth: &CStr, dst: &mut [u8], rgba: [u8; 4]) {
    for (c, v) in rgba.iter().enumerate() {
        match depth.to_bytes() {
            b"OfxBitDepthByte" => dst[c] = *v,
            b"OfxBitDepthShort" => dst[2 * c..2 * c + 2].copy_from_slice(&(*v as u16 * 257).to_ne_bytes()),
            _ => dst[4 * c..4 * c + 4].copy_from_slice(&(*v as f32 / 255.0).to_ne_bytes()),
        }
    }
}

fn load_px(depth: &CStr, src: &[u8]) -> [u8; 4] {
    let mut out = [0u8; 4];
    for (c, o) in out.iter_mut().enumerate() {
        *o = match depth.to_bytes() {
            b"OfxBitDepthByte" => src[c],
            b"OfxBitDepthShort" => {
                let v = u16::from_ne_bytes([src[2 * c], src[2 * c + 1]]);
                assert_eq!(v % 257, 0, "short value {v} is not an 8-bit value scaled by 257");
                (v / 257) as u8
            }
            _ => {
                let v = f32::from_ne_bytes(src[4 * c..4 * c + 4].try_into().unwrap());
                let b = (v * 255.0).round();
                assert!((v * 255.0 - b).abs() < 1e-3, "float value {v} is not an 8-bit value / 255");
                b as u8
            }
        };
    }
    out
}

/// Image properties (ofxImageEffect.h) for a buffer covering `rect` (pixel coordinates).
fn image_props(depth: &CStr, rect: OfxRectI, scale: [f64; 2], buf: &Buffer, negative_rows: bool) -> Box<PropSet> {
    let (data, row_bytes) = if negative_rows {
        // Rows top-down in memory: the bottom row (y1) is the last, and going up is going back.
        (buf.ptr + (buf.rows - 1) * buf.stride, -(buf.stride as i64))
    } else {
        (buf.ptr, buf.stride as i64)
    };
    let r = [rect.x1, rect.y1, rect.x2, rect.y2];
    let p = PropSet::new("image")
        .string(kOfxPropType, 1, &["OfxTypeImage"])
        .string(kOfxImageEffectPropPixelDepth, 1, &[depth.to_str().unwrap()])
        .string(kOfxImageEffectPropComponents, 1, &["OfxImageComponentRGBA"])
        .string(kOfxImageEffectPropPreMultiplication, 1, &["OfxImageOpaque"])
        .double(kOfxImageEffectPropRenderScale, 2, &scale)
        .double(c"OfxImagePropPixelAspectRatio", 1, &[1.0])
        .ptr(kOfxImagePropData, 1)
        .int(kOfxImagePropBounds, 4, &r)
        .int(c"OfxImagePropRegionOfDefinition", 4, &r)
        .int(kOfxImagePropRowBytes, 1, &[row_bytes as i32])
        .string(c"OfxImagePropField", 1, &["OfxFieldNone"])
        .string(c"OfxImagePropUniqueIdentifier", 1, &["img"]);
    p.set_ptr(kOfxImagePropData, data);
    let all: Vec<&CStr> = vec![
        kOfxPropType,
        kOfxImageEffectPropPixelDepth,
        kOfxImageEffectPropComponents,
        kOfxImageEffectPropPreMultiplication,
        kOfxImageEffectPropRenderScale,
        kOfxImagePropData,
        kOfxImagePropBounds,
        kOfxImagePropRowBytes,
    ];
    p.read_only(&all)
}

/// Offset of pixel (x, y) of `rect` in a buffer laid out as `image_props` describes.
fn offset(rect: OfxRectI, buf: &Buffer, negative_rows: bool, bpp: usize, x: i32, y: i32) -> usize {
    let row = if negative_rows { buf.rows - 1 - (y - rect.y1) as usize } else { (y - rect.y1) as usize };
    row * buf.stride + (x - rect.x1) as usize * bpp
}

unsafe extern "C" fn get_property_set(e: OfxImageEffectHandle, out: *mut OfxPropertySetHandle) -> OfxStatus {
    // SAFETY: an effect handle this host gave out; a writable pointer.
    let Some(e) = (unsafe { (e as *const Effect).as_ref() }) else { return kOfxStatErrBadHandle };
    unsafe { *out = e.props.handle() };
    kOfxStatOK
}

unsafe extern "C" fn get_param_set(e: OfxImageEffectHandle, out: *mut OfxParamSetHandle) -> OfxStatus {
    // SAFETY: as get_property_set.
    let Some(e) = (unsafe { (e as *const Effect).as_ref() }) else { return kOfxStatErrBadHandle };
    unsafe { *out = &*e.params as *const ParamSet as OfxParamSetHandle };
    kOfxStatOK
}

fn clip_descriptor_props(name: &str) -> Box<PropSet> {
    PropSet::new(&format!("clip descriptor {name}"))
        .string(kOfxPropType, 1, &["OfxTypeClip"])
        .string(kOfxPropName, 1, &[name])
        .string(kOfxPropLabel, 1, &[name])
        .string(c"OfxPropShortLabel", 1, &[name])
        .string(c"OfxPropLongLabel", 1, &[name])
        .string(kOfxImageEffectPropSupportedComponents, 0, &[])
        .int(kOfxImageEffectPropTemporalClipAccess, 1, &[0])
        .int(c"OfxImageClipPropOptional", 1, &[0])
        .string(c"OfxImageClipPropFieldExtraction", 1, &["OfxFieldDoubled"])
        .int(c"OfxImageClipPropIsMask", 1, &[0])
        .int(kOfxImageEffectPropSupportsTiles, 1, &[1])
        .read_only(&[kOfxPropType, kOfxPropName])
}

unsafe extern "C" fn clip_define(e: OfxImageEffectHandle, name: *const c_char, out: *mut OfxPropertySetHandle) -> OfxStatus {
    // SAFETY: as get_property_set.
    let Some(e) = (unsafe { (e as *const Effect).as_ref() }) else { return kOfxStatErrBadHandle };
    if !e.descriptor {
        return kOfxStatErrBadHandle;
    }
    let Ok(name) = name_of(name) else { return kOfxStatErrUnknown };
    let mut clips = e.clips.lock().unwrap();
    if clips.iter().any(|c| c.name == name) {
        return kOfxStatErrExists;
    }
    let c = Box::new(Clip { props: clip_descriptor_props(&name), name, source: None, effect: e });
    // SAFETY: a writable pointer.
    unsafe { *out = c.props.handle() };
    clips.push(c);
    kOfxStatOK
}

unsafe extern "C" fn clip_get_handle(
    e: OfxImageEffectHandle,
    name: *const c_char,
    out: *mut OfxImageClipHandle,
    props_out: *mut OfxPropertySetHandle,
) -> OfxStatus {
    // SAFETY: as get_property_set.
    let Some(e) = (unsafe { (e as *const Effect).as_ref() }) else { return kOfxStatErrBadHandle };
    if e.descriptor {
        return kOfxStatErrBadHandle;
    }
    let Ok(name) = name_of(name) else { return kOfxStatErrUnknown };
    let clips = e.clips.lock().unwrap();
    let Some(c) = clips.iter().find(|c| c.name == name) else { return kOfxStatErrUnknown };
    // SAFETY: writable pointers (props_out may be null).
    unsafe {
        *out = &**c as *const Clip as OfxImageClipHandle;
        if !props_out.is_null() {
            *props_out = c.props.handle();
        }
    }
    kOfxStatOK
}

unsafe extern "C" fn clip_get_property_set(c: OfxImageClipHandle, out: *mut OfxPropertySetHandle) -> OfxStatus {
    // SAFETY: a clip handle this host gave out; a writable pointer.
    let Some(c) = (unsafe { (c as *const Clip).as_ref() }) else { return kOfxStatErrBadHandle };
    unsafe { *out = c.props.handle() };
    kOfxStatOK
}

unsafe extern "C" fn clip_get_image(c: OfxImageClipHandle, time: OfxTime, _region: *const OfxRectD, out: *mut OfxPropertySetHandle) -> OfxStatus {
    // SAFETY: a clip handle this host gave out, whose effect outlives it.
    let Some(c) = (unsafe { (c as *const Clip).as_ref() }) else { return kOfxStatErrBadHandle };
    let e = unsafe { &*c.effect };
    let rs = e.render.lock().unwrap().clone();
    let (props, buf) = if c.name == "Output" {
        // The output image exists only during Render, at the time rendered.
        let Some(rs) = rs.filter(|rs| rs.time == time) else { return kOfxStatFailed };
        let p = image_props(rs.depth, rs.output_rect, rs.scale, &rs.output, rs.negative_rows);
        (p, rs.output.clone())
    } else {
        let Some(src) = c.source.as_ref() else { return kOfxStatFailed };
        // MLT's clipGetImage ignores the time asked: it has the frame being rendered, only then.
        let mlt = e.log.mlt.load(Ordering::SeqCst);
        let served = match (&rs, mlt) {
            (Some(rs), true) => rs.time,
            (None, true) => return kOfxStatFailed,
            (_, false) => time,
        };
        let i = (served - src.first).round();
        if i < 0.0 || i as usize >= src.frames.len() {
            return kOfxStatFailed;
        }
        // Outside Render (e.g. InstanceChanged): full scale, bytes.
        let (scale, depth, negative_rows) = rs.as_ref().map_or(([1.0, 1.0], kOfxBitDepthByte, false), |rs| (rs.scale, rs.depth, rs.negative_rows));
        if let Some(rs) = &rs {
            if !rs.needed.iter().any(|(a, b)| time >= a - 1e-9 && time <= b + 1e-9) {
                e.log.violations.lock().unwrap().push(format!("render at {} fetched source frame {time} outside {:?}", rs.time, rs.needed));
            }
        }
        // At render scale, nearest neighbour.
        let (w, h) = (((src.width as f64) * scale[0]).round() as i32, ((src.height as f64) * scale[1]).round() as i32);
        let rect = OfxRectI { x1: 0, y1: 0, x2: w, y2: h };
        let bpp = 4 * bytes_per_channel(depth);
        let buf = Buffer::new(w as usize * bpp + 12, h as usize);
        {
            let mut bytes = buf.bytes.lock().unwrap();
            let frame = &src.frames[i as usize];
            for y in 0..h {
                for x in 0..w {
                    let sx = ((x as f64 + 0.5) / scale[0]) as u32;
                    let sy = ((y as f64 + 0.5) / scale[1]) as u32;
                    // Source frames are top row first; pixel y counts up from the bottom.
                    let top = src.height - 1 - sy.min(src.height - 1);
                    let k = 4 * (top * src.width + sx.min(src.width - 1)) as usize;
                    let px = [frame[k], frame[k + 1], frame[k + 2], frame[k + 3]];
                    let o = offset(rect, &buf, negative_rows, bpp, x, y);
                    store(depth, &mut bytes[o..o + bpp], px);
                }
            }
        }
        (image_props(depth, rect, scale, &buf, negative_rows), buf)
    };
    let img = Box::new(Image { props, _buf: buf, log: e.log.clone(), owner: e.images_out.clone() });
    e.images_out.fetch_add(1, Ordering::SeqCst);
    let h = img.props.handle();
    images().lock().unwrap().insert(h as usize, img);
    e.log.images_out.fetch_add(1, Ordering::SeqCst);
    // SAFETY: a writable pointer.
    unsafe { *out = h };
    kOfxStatOK
}

unsafe extern "C" fn clip_release_image(h: OfxPropertySetHandle) -> OfxStatus {
    match images().lock().unwrap().remove(&(h as usize)) {
        Some(img) => {
            img.log.images_out.fetch_sub(1, Ordering::SeqCst);
            img.owner.fetch_sub(1, Ordering::SeqCst);
            kOfxStatOK
        }
        None => kOfxStatErrBadHandle,
    }
}

unsafe extern "C" fn clip_get_region_of_definition(c: OfxImageClipHandle, _t: OfxTime, out: *mut OfxRectD) -> OfxStatus {
    // SAFETY: a clip handle this host gave out; a writable pointer.
    let Some(c) = (unsafe { (c as *const Clip).as_ref() }) else { return kOfxStatErrBadHandle };
    let r = match &c.source {
        Some(s) => OfxRectD { x1: 0.0, y1: 0.0, x2: s.width as f64, y2: s.height as f64 },
        None => {
            // SAFETY: the clip's effect outlives it.
            let e = unsafe { &*c.effect };
            let ext = e.props.doubles(kOfxImageEffectPropProjectExtent);
            OfxRectD { x1: 0.0, y1: 0.0, x2: ext[0], y2: ext[1] }
        }
    };
    unsafe { *out = r };
    kOfxStatOK
}

unsafe extern "C" fn abort(e: OfxImageEffectHandle) -> c_int {
    // SAFETY: an effect handle this host gave out.
    let Some(e) = (unsafe { (e as *const Effect).as_ref() }) else { return 0 };
    let after = e.log.abort_after.load(Ordering::SeqCst);
    let hit = after > 0 && e.log.updates.load(Ordering::SeqCst) >= after;
    if hit {
        e.log.aborted.store(true, Ordering::SeqCst);
    }
    hit as c_int
}

unsafe extern "C" fn image_memory_alloc(_e: OfxImageEffectHandle, n: usize, out: *mut OfxImageMemoryHandle) -> OfxStatus {
    // SAFETY: the same contract as memoryAlloc: a writable handle pointer.
    unsafe { memory_alloc(std::ptr::null_mut(), n, out) }
}
unsafe extern "C" fn image_memory_free(h: OfxImageMemoryHandle) -> OfxStatus {
    unsafe { memory_free(h) }
}
unsafe extern "C" fn image_memory_lock(h: OfxImageMemoryHandle, out: *mut *mut c_void) -> OfxStatus {
    if !blocks().lock().unwrap().contains_key(&(h as usize)) {
        return kOfxStatErrBadHandle;
    }
    // SAFETY: a writable pointer; the block's address is its handle.
    unsafe { *out = h };
    kOfxStatOK
}
unsafe extern "C" fn image_memory_unlock(h: OfxImageMemoryHandle) -> OfxStatus {
    if blocks().lock().unwrap().contains_key(&(h as usize)) {
        kOfxStatOK
    } else {
        kOfxStatErrBadHandle
    }
}

static IMAGE_EFFECT_SUITE: OfxImageEffectSuiteV1 = OfxImageEffectSuiteV1 {
    getPropertySet: get_property_set,
    getParamSet: get_param_set,
    clipDefine: clip_define,
    clipGetHandle: clip_get_handle,
    clipGetPropertySet: clip_get_property_set,
    clipGetImage: clip_get_image,
    clipReleaseImage: clip_release_image,
    clipGetRegionOfDefinition: clip_get_region_of_definition,
    abort,
    imageMemoryAlloc: image_memory_alloc,
    imageMemoryFree: image_memory_free,
    imageMemoryLock: image_memory_lock,
    imageMemoryUnlock: image_memory_unlock,
};

// ---------------------------------------------------------------- memory, threads, messages, progress

fn blocks() -> &'static Mutex<HashMap<usize, Box<[u64]>>> {
    static B: std::sync::OnceLock<Mutex<HashMap<usize, Box<[u64]>>>> = std::sync::OnceLock::new();
    B.get_or_init(Default::default)
}

unsafe extern "C" fn memory_alloc(_h: *mut c_void, n: usize, out: *mut *mut c_void) -> OfxStatus {
    let mut block = vec![0u64; n.div_ceil(8).max(1)].into_boxed_slice();
    let p = block.as_mut_ptr() as *mut c_void;
    blocks().lock().unwrap().insert(p as usize, block);
    // SAFETY: a writable pointer from the plugin.
    unsafe { *out = p };
    kOfxStatOK
}

unsafe extern "C" fn memory_free(p: *mut c_void) -> OfxStatus {
    if blocks().lock().unwrap().remove(&(p as usize)).is_some() {
        kOfxStatOK
    } else {
        kOfxStatErrBadHandle
    }
}

static MEMORY_SUITE: OfxMemorySuiteV1 = OfxMemorySuiteV1 { memoryAlloc: memory_alloc, memoryFree: memory_free };

thread_local! {
    static THREAD_INDEX: std::cell::Cell<Option<u32>> = const { std::cell::Cell::new(None) };
}

unsafe extern "C" fn multi_thread(f: OfxThreadFunctionV1, n: c_uint, arg: *mut c_void) -> OfxStatus {
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
unsafe extern "C" fn multi_thread_num_cpus(n: *mut c_uint) -> OfxStatus {
    // SAFETY: a writable pointer.
    unsafe { *n = std::thread::available_parallelism().map(|n| n.get() as c_uint).unwrap_or(1) };
    kOfxStatOK
}
unsafe extern "C" fn multi_thread_index(i: *mut c_uint) -> OfxStatus {
    // SAFETY: a writable pointer.
    unsafe { *i = THREAD_INDEX.with(|t| t.get()).unwrap_or(0) };
    kOfxStatOK
}
unsafe extern "C" fn multi_thread_is_spawned() -> c_int {
    THREAD_INDEX.with(|t| t.get()).is_some() as c_int
}

/// A recursive mutex (ofxMultiThread.h: created with `lockCount` locks held).
struct HostMutex {
    state: Mutex<(Option<std::thread::ThreadId>, i32)>,
    cv: std::sync::Condvar,
}

unsafe extern "C" fn mutex_create(out: *mut OfxMutexHandle, lock_count: c_int) -> OfxStatus {
    let owner = if lock_count > 0 { Some(std::thread::current().id()) } else { None };
    let m = Box::new(HostMutex { state: Mutex::new((owner, lock_count.max(0))), cv: std::sync::Condvar::new() });
    // SAFETY: a writable pointer; the box is freed by mutex_destroy.
    unsafe { *out = Box::into_raw(m) as OfxMutexHandle };
    kOfxStatOK
}
unsafe extern "C" fn mutex_destroy(m: OfxMutexHandle) -> OfxStatus {
    if m.is_null() {
        return kOfxStatErrBadHandle;
    }
    // SAFETY: made by mutex_create, destroyed once.
    drop(unsafe { Box::from_raw(m as *mut HostMutex) });
    kOfxStatOK
}
unsafe extern "C" fn mutex_lock(m: OfxMutexHandle) -> OfxStatus {
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
unsafe extern "C" fn mutex_unlock(m: OfxMutexHandle) -> OfxStatus {
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
unsafe extern "C" fn mutex_try_lock(m: OfxMutexHandle) -> OfxStatus {
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

static MULTI_THREAD_SUITE: OfxMultiThreadSuiteV1 = OfxMultiThreadSuiteV1 {
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

fn effect_log(h: *mut c_void) -> Option<Arc<Log>> {
    // SAFETY: effect handles this host gave out (or null, which messages allow).
    unsafe { (h as *const Effect).as_ref() }.map(|e| e.log.clone())
}

unsafe extern "C" fn message(h: *mut c_void, kind: *const c_char, _id: *const c_char, format: *const c_char, a0: usize) -> OfxStatus {
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

fn message_suite() -> &'static OfxMessageSuiteV1 {
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

fn progress_log(h: *mut c_void, event: String) -> OfxStatus {
    match effect_log(h) {
        Some(log) => {
            log.progress.lock().unwrap().push(event);
            kOfxStatOK
        }
        None => kOfxStatErrBadHandle,
    }
}

unsafe extern "C" fn progress_start_v1(h: *mut c_void, label: *const c_char) -> OfxStatus {
    progress_log(h, format!("start {}", name_of(label).unwrap_or_default()))
}
unsafe extern "C" fn progress_start_v2(h: *mut c_void, label: *const c_char, id: *const c_char) -> OfxStatus {
    progress_log(h, format!("start {} [{}]", name_of(label).unwrap_or_default(), name_of(id).unwrap_or_default()))
}
unsafe extern "C" fn progress_update(h: *mut c_void, f: c_double) -> OfxStatus {
    let s = progress_log(h, format!("update {f:.3}"));
    if let Some(log) = effect_log(h) {
        log.updates.fetch_add(1, Ordering::SeqCst);
    }
    s
}
unsafe extern "C" fn progress_end(h: *mut c_void) -> OfxStatus {
    progress_log(h, "end".into())
}

static PROGRESS_V1: OfxProgressSuiteV1 = OfxProgressSuiteV1 { progressStart: progress_start_v1, progressUpdate: progress_update, progressEnd: progress_end };
static PROGRESS_V2: OfxProgressSuiteV2 = OfxProgressSuiteV2 { progressStart: progress_start_v2, progressUpdate: progress_update, progressEnd: progress_end };

/// paramSetValue calls outside InstanceChanged (must stay 0).
pub static OUT_OF_ACTION_SETS: AtomicUsize = AtomicUsize::new(0);

/// Which progress suite versions this host offers (tests switch V2 off to exercise V1).
static PROGRESS_V2_OFFERED: AtomicBool = AtomicBool::new(true);

pub fn offer_progress_v2(yes: bool) {
    PROGRESS_V2_OFFERED.store(yes, Ordering::SeqCst);
}

unsafe extern "C" fn fetch_suite(_host: OfxPropertySetHandle, name: *const c_char, version: c_int) -> *const c_void {
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

// ---------------------------------------------------------------- the host

/// Bundles in `OFX_PLUGIN_PATH`-style folders (ofxPackaging.rst, "Installation Location"):
/// each folder, first to last, and its sub-folders recursively, for
/// `<Name>.ofx.bundle/Contents/<arch>/<Name>.ofx`; names starting with '@' are skipped.
pub fn discover(path_list: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        let mut entries: Vec<PathBuf> = entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect();
        entries.sort();
        for e in entries {
            let name = e.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if name.starts_with('@') {
                continue;
            }
            match name.strip_suffix(".ofx.bundle") {
                Some(stem) => {
                    let binary = e.join("Contents").join(arch_dir()).join(format!("{stem}.ofx"));
                    if binary.is_file() {
                        found.push(binary);
                    }
                }
                None => walk(&e, found),
            }
        }
    }
    let mut found = Vec::new();
    for dir in std::env::split_paths(path_list) {
        walk(&dir, &mut found);
    }
    found
}

/// The bundle's architecture folder on Linux (ofxPackaging.rst: `Linux-x86-64`; for other
/// machines `Linux-$(uname -m)`).
pub fn arch_dir() -> &'static str {
    if cfg!(target_arch = "x86_64") {
        "Linux-x86-64"
    } else if cfg!(target_arch = "aarch64") {
        "Linux-aarch64"
    } else {
        "Linux-x86"
    }
}

pub struct Plugin {
    ptr: *const OfxPlugin,
    pub id: String,
    pub descriptor: Box<Effect>,
    /// Per context, the descriptor DescribeInContext filled in.
    pub contexts: HashMap<String, Box<Effect>>,
}

pub struct Host {
    // Declared first, dropped last... plugins reference the library's code.
    pub plugins: Vec<Plugin>,
    pub log: Arc<Log>,
    host: Box<OfxHost>,
    host_props: Box<PropSet>,
    lib: Option<libloading::Library>,
    pub project: (f64, f64),
    pub fps: f64,
    pub mlt: bool,
}

// SAFETY: the host's mutable state is behind mutexes and atomics; its raw pointers are to the
// plugin's static tables and to objects the host owns for its whole life. Hosts render
// instances from many threads, and so may the tests.
unsafe impl Sync for Host {}
unsafe impl Send for Host {}

/// The host's properties; `mlt`: as MLT's OpenFX module sets them (name MLT, no temporal clip
/// access, no list of supported contexts: it offers the filter context only).
fn host_props(mlt: bool) -> Box<PropSet> {
    let p = host_props_full();
    if !mlt {
        return p;
    }
    p.set_strs(kOfxPropLabel, &["MLT"]);
    p.set_ints(kOfxImageEffectPropTemporalClipAccess, &[0]);
    p.set_ints(kOfxImageEffectPropSupportsMultiResolution, &[0]);
    p.set_ints(kOfxImageEffectPropSupportsTiles, &[0]);
    p.remove(kOfxImageEffectPropSupportedContexts)
}

fn host_props_full() -> Box<PropSet> {
    PropSet::new("host")
        .string(kOfxPropType, 1, &["OfxTypeImageEffectHost"])
        .string(kOfxPropName, 1, &["org.kino.testhost"])
        .string(kOfxPropLabel, 1, &["kino test host"])
        .int(c"OfxPropAPIVersion", 0, &[1, 4])
        .int(c"OfxPropVersion", 0, &[1, 0])
        .string(c"OfxPropVersionLabel", 1, &["1.0"])
        .int(c"OfxImageEffectHostPropIsBackground", 1, &[1])
        .int(c"OfxImageEffectPropSupportsOverlays", 1, &[0])
        .int(kOfxImageEffectPropSupportsMultiResolution, 1, &[1])
        .int(kOfxImageEffectPropSupportsTiles, 1, &[1])
        .int(kOfxImageEffectPropTemporalClipAccess, 1, &[1])
        .string(kOfxImageEffectPropSupportedComponents, 0, &["OfxImageComponentRGBA"])
        .string(kOfxImageEffectPropSupportedContexts, 0, &["OfxImageEffectContextGenerator", "OfxImageEffectContextFilter", "OfxImageEffectContextGeneral"])
        .string(kOfxImageEffectPropSupportedPixelDepths, 0, &["OfxBitDepthByte", "OfxBitDepthShort", "OfxBitDepthFloat"])
        .int(kOfxImageEffectPropSupportsMultipleClipDepths, 1, &[0])
        .int(c"OfxImageEffectPropSupportsMultipleClipPARs", 1, &[0])
        .int(c"OfxImageEffectPropSetableFrameRate", 1, &[0])
        .int(c"OfxImageEffectPropSetableFielding", 1, &[0])
        .int(c"OfxParamHostPropSupportsStringAnimation", 1, &[0])
        .int(c"OfxParamHostPropSupportsChoiceAnimation", 1, &[0])
        .int(c"OfxParamHostPropMaxParameters", 1, &[-1])
        .int(c"OfxParamHostPropMaxPages", 1, &[0])
        .int(c"OfxImageEffectInstancePropSequentialRender", 1, &[0])
        .read_only(&[kOfxPropType, kOfxPropName])
}

/// Effect descriptor properties (ofxImageEffect.h, "Properties on an effect descriptor").
fn descriptor_props() -> Box<PropSet> {
    PropSet::new("effect descriptor")
        .string(kOfxPropType, 1, &["OfxTypeImageEffect"])
        .string(kOfxPropLabel, 1, &[""])
        .string(c"OfxPropShortLabel", 1, &[""])
        .string(c"OfxPropLongLabel", 1, &[""])
        .int(c"OfxPropVersion", 0, &[])
        .string(c"OfxPropVersionLabel", 1, &[""])
        .string(kOfxPropPluginDescription, 1, &[""])
        .string(kOfxImageEffectPropSupportedContexts, 0, &[])
        .string(kOfxImageEffectPluginPropGrouping, 1, &[""])
        .int(c"OfxImageEffectPluginPropSingleInstance", 1, &[0])
        .string(kOfxImageEffectPluginRenderThreadSafety, 1, &["OfxImageEffectRenderInstanceSafe"])
        .int(kOfxImageEffectPluginPropHostFrameThreading, 1, &[1])
        .int(kOfxImageEffectPropSupportsMultiResolution, 1, &[1])
        .int(kOfxImageEffectPropSupportsTiles, 1, &[1])
        .int(kOfxImageEffectPropTemporalClipAccess, 1, &[0])
        .string(kOfxImageEffectPropSupportedPixelDepths, 0, &[])
        .int(c"OfxImageEffectPluginPropFieldRenderTwiceAlways", 1, &[1])
        .int(kOfxImageEffectPropSupportsMultipleClipDepths, 1, &[0])
        .int(c"OfxImageEffectPropSupportsMultipleClipPARs", 1, &[0])
        .string(c"OfxImageEffectPropClipPreferencesSlaveParam", 0, &[])
        .string(kOfxPluginPropFilePath, 1, &[""])
        .string(kOfxImageEffectPropContext, 1, &[""])
        .read_only(&[kOfxPropType, kOfxPluginPropFilePath, kOfxImageEffectPropContext])
}

fn new_effect(props: Box<PropSet>, descriptor: bool, log: Arc<Log>) -> Box<Effect> {
    Box::new(Effect {
        props,
        params: Box::new(ParamSet {
            descriptor,
            props: PropSet::new("param set").string(c"OfxPluginPropParamPageOrder", 0, &[]),
            params: Mutex::new(Vec::new()),
        }),
        clips: Mutex::new(Vec::new()),
        descriptor,
        log,
        images_out: Arc::default(),
        render: Mutex::new(None),
    })
}

fn action_args(what: &str) -> Box<PropSet> {
    PropSet::new(what)
}

/// Calls the plugin's main entry. Panics in the plugin would abort the test process (they
/// cannot unwind through `extern "C"`), which is itself a failure.
fn call(p: *const OfxPlugin, action: &CStr, handle: *const c_void, inp: Option<&PropSet>, out: Option<&PropSet>) -> OfxStatus {
    // SAFETY: `p` came from OfxGetPlugin of a library still loaded; the handles are ours.
    unsafe {
        let entry = (*p).mainEntry.expect("mainEntry is mandatory (ofxCore.h)");
        entry(action.as_ptr(), handle, inp.map_or(std::ptr::null_mut(), |s| s.handle()), out.map_or(std::ptr::null_mut(), |s| s.handle()))
    }
}

fn ok_or_default(s: OfxStatus, what: &str) {
    assert!(s == kOfxStatOK || s == kOfxStatReplyDefault, "{what} returned {s}");
}

impl Host {
    /// Loads the first bundle found on `path_list` and describes every plugin in it, in every
    /// context this host supports, as hosts do at start-up.
    pub fn load(path_list: &str) -> Host {
        Host::load_as(path_list, false)
    }

    /// Loads as MLT's OpenFX module (>= 7.38) does: the filter context only (plugins without it
    /// are not listed), no temporal clip access (every source fetch returns the frame being
    /// rendered), no source frame range, no kOfxPluginPropFilePath, parameters set without
    /// InstanceChanged and in any action; [`Host::render_mlt`] renders as MLT does.
    pub fn load_mlt(path_list: &str) -> Host {
        Host::load_as(path_list, true)
    }

    fn load_as(path_list: &str, mlt: bool) -> Host {
        let binaries = discover(path_list);
        let binary = binaries.first().unwrap_or_else(|| panic!("no *.ofx.bundle on {path_list}"));
        // SAFETY: loading the plugin runs its initialisers: that is what we are testing.
        let lib = unsafe { libloading::Library::new(binary) }.expect("dlopen the bundle's binary");
        let log = Arc::new(Log::default());
        log.mlt.store(mlt, Ordering::SeqCst);
        let host_props = host_props(mlt);
        let host = Box::new(OfxHost { host: host_props.handle(), fetchSuite: Some(fetch_suite) });
        let mut plugins = Vec::new();
        // SAFETY: the two exports ofxCore.h requires, with its signatures.
        let (count, get) = unsafe {
            let count: libloading::Symbol<unsafe extern "C" fn() -> c_int> = lib.get(b"OfxGetNumberOfPlugins\0").expect("OfxGetNumberOfPlugins exported");
            let get: libloading::Symbol<unsafe extern "C" fn(c_int) -> *mut OfxPlugin> = lib.get(b"OfxGetPlugin\0").expect("OfxGetPlugin exported");
            (count(), *get)
        };
        let supported = if mlt { vec!["OfxImageEffectContextFilter".to_string()] } else { host_props.strs(kOfxImageEffectPropSupportedContexts) };
        for i in 0..count {
            // SAFETY: index in range; the struct is the plugin's, valid while loaded.
            let p = unsafe { get(i) };
            assert!(!p.is_null(), "OfxGetPlugin({i}) is null");
            let (api, version, id) =
                unsafe { (CStr::from_ptr((*p).pluginApi), (*p).apiVersion, CStr::from_ptr((*p).pluginIdentifier).to_string_lossy().into_owned()) };
            assert_eq!(api, kOfxImageEffectPluginApi);
            assert_eq!(version, 1);
            // SAFETY: setHost is mandatory and is the first call (ofxCore.h).
            unsafe { ((*p).setHost.expect("setHost is mandatory"))(&*host as *const OfxHost as *mut OfxHost) };
            ok_or_default(call(p, kOfxActionLoad, std::ptr::null(), None, None), "Load");
            let props = descriptor_props();
            let props = if mlt { props.remove(kOfxPluginPropFilePath) } else { props };
            let descriptor = new_effect(props, true, log.clone());
            if !mlt {
                descriptor.props.set_strs(kOfxPluginPropFilePath, &[binary.parent().unwrap().parent().unwrap().parent().unwrap().to_str().unwrap()]);
            }
            ok_or_default(call(p, kOfxActionDescribe, &*descriptor as *const Effect as *const c_void, None, None), "Describe");
            let mut contexts = HashMap::new();
            for c in descriptor.props.strs(kOfxImageEffectPropSupportedContexts) {
                if !supported.contains(&c) {
                    continue;
                }
                let d = new_effect(descriptor.props.copy("effect descriptor (in context)"), true, log.clone());
                d.props.set_strs(kOfxImageEffectPropContext, &[&c]);
                let inp = action_args("describeInContext in").string(kOfxImageEffectPropContext, 1, &[&c]);
                let s = call(p, kOfxImageEffectActionDescribeInContext, &*d as *const Effect as *const c_void, Some(&inp), None);
                assert_eq!(s, kOfxStatOK, "DescribeInContext {c} of {id}");
                contexts.insert(c, d);
            }
            if contexts.is_empty() {
                // Not offered to the user (MLT: "missing filter context"); done with it.
                ok_or_default(call(p, kOfxActionUnload, std::ptr::null(), None, None), "Unload");
                continue;
            }
            plugins.push(Plugin { ptr: p, id, descriptor, contexts });
        }
        Host { plugins, log, host, host_props, lib: Some(lib), project: (64.0, 64.0), fps: 8.0, mlt }
    }

    /// Renders `times` as MLT does a frame-threaded filter: for each frame an instance is
    /// created, given its parameter values (`setup`), rendered at the frame's time and destroyed;
    /// `threads` workers take the frames in the order given. Frames come back in that order.
    pub fn render_mlt(&self, id: &str, source: &Source, times: &[i32], threads: usize, setup: &(dyn Fn(&Instance) + Sync)) -> Vec<Frame> {
        let next = AtomicUsize::new(0);
        let out: Mutex<Vec<Option<Frame>>> = Mutex::new(vec![None; times.len()]);
        std::thread::scope(|s| {
            for _ in 0..threads.max(1) {
                s.spawn(|| loop {
                    let k = next.fetch_add(1, Ordering::SeqCst);
                    let Some(&t) = times.get(k) else { break };
                    let inst = self.instance(id, "OfxImageEffectContextFilter", Some(source.clone()));
                    setup(&inst);
                    let f = inst.render(t as f64, RenderOpts::default()).unwrap_or_else(|s| panic!("render at {t}: status {s}"));
                    out.lock().unwrap()[k] = Some(f);
                });
            }
        });
        out.into_inner().unwrap().into_iter().map(|f| f.expect("rendered")).collect()
    }

    pub fn plugin(&self, id: &str) -> &Plugin {
        self.plugins.iter().find(|p| p.id == id).unwrap_or_else(|| panic!("no plugin {id}"))
    }

    /// Creates an instance of `id` in `context`, with `source` connected as its Source clip.
    pub fn instance(&self, id: &str, context: &str, source: Option<Source>) -> Instance<'_> {
        let plugin = self.plugin(id);
        let d = plugin.contexts.get(context).unwrap_or_else(|| panic!("{id} does not support {context}"));
        let props = d.props.copy("effect instance");
        let props = props
            .int(c"OfxPropIsInteractive", 1, &[0])
            .double(kOfxImageEffectPropProjectExtent, 2, &[self.project.0, self.project.1])
            .double(c"OfxImageEffectPropProjectSize", 2, &[self.project.0, self.project.1])
            .double(kOfxImageEffectPropProjectOffset, 2, &[0.0, 0.0])
            .double(c"OfxImageEffectPropPixelAspectRatio", 1, &[1.0])
            .double(c"OfxImageEffectInstancePropEffectDuration", 1, &[0.0])
            .double(kOfxImageEffectPropFrameRate, 1, &[self.fps])
            .ptr(c"OfxPropInstanceData", 1)
            .read_only(&[kOfxImageEffectPropProjectExtent, kOfxImageEffectPropFrameRate]);
        let e = new_effect(props, false, self.log.clone());
        // Parameters: copies of the descriptor's, at their defaults.
        for p in d.params.params.lock().unwrap().iter() {
            let param = Box::new(Param {
                any_action_sets: self.mlt,
                name: p.name.clone(),
                kind: p.kind.clone(),
                props: p.props.copy("param instance"),
                value: Mutex::new((Value::None, CString::default())),
            });
            let v = default_value(&param);
            param.value.lock().unwrap().0 = v;
            e.params.params.lock().unwrap().push(param);
        }
        let source = source.map(Arc::new);
        let depth = "OfxBitDepthByte";
        for c in d.clips.lock().unwrap().iter() {
            let (range, rate, connected) = match (&source, c.name.as_str()) {
                (Some(s), "Source") => ([s.first, s.first + s.frames.len() as f64 - 1.0], self.fps, 1),
                (_, "Output") => ([0.0, 0.0], self.fps, 1),
                _ => ([0.0, 0.0], self.fps, 0),
            };
            let props = c
                .props
                .copy("clip instance")
                .string(kOfxImageEffectPropPixelDepth, 1, &[depth])
                .string(kOfxImageEffectPropComponents, 1, &["OfxImageComponentRGBA"])
                .string(c"OfxImageClipPropUnmappedPixelDepth", 1, &[depth])
                .string(c"OfxImageClipPropUnmappedComponents", 1, &["OfxImageComponentRGBA"])
                .string(kOfxImageEffectPropPreMultiplication, 1, &["OfxImageOpaque"])
                .double(c"OfxImagePropPixelAspectRatio", 1, &[1.0])
                .double(kOfxImageEffectPropFrameRate, 1, &[rate])
                .double(kOfxImageEffectPropFrameRange, 2, &range)
                .string(c"OfxImageClipPropFieldOrder", 1, &["OfxFieldNone"])
                .int(kOfxImageClipPropConnected, 1, &[connected])
                .double(c"OfxImageEffectPropUnmappedFrameRange", 2, &range)
                .double(c"OfxImageEffectPropUnmappedFrameRate", 1, &[rate])
                .int(c"OfxImageClipPropContinuousSamples", 1, &[0])
                .read_only(&[kOfxImageEffectPropPixelDepth, kOfxImageEffectPropFrameRange, kOfxImageEffectPropFrameRate, kOfxImageClipPropConnected]);
            // MLT sets no frame range on clips: reading it is an error.
            let props = if self.mlt { props.remove(kOfxImageEffectPropFrameRange).remove(c"OfxImageEffectPropUnmappedFrameRange") } else { props };
            let src = if c.name == "Source" { source.clone() } else { None };
            e.clips.lock().unwrap().push(Box::new(Clip { name: c.name.clone(), props, source: src, effect: &*e }));
        }
        let s = call(plugin.ptr, kOfxActionCreateInstance, &*e as *const Effect as *const c_void, None, None);
        assert!(s == kOfxStatOK || s == kOfxStatReplyDefault, "CreateInstance returned {s}");
        let inst = Instance { host: self, plugin: plugin.ptr, effect: e, context: context.into() };
        inst.clip_preferences();
        inst
    }

    /// Unloads one plugin of the binary (hosts may drop plugins they do not use); the others
    /// stay usable.
    pub fn unload_plugin(&mut self, id: &str) {
        let i = self.plugins.iter().position(|p| p.id == id).unwrap_or_else(|| panic!("no plugin {id}"));
        let p = self.plugins.remove(i);
        ok_or_default(call(p.ptr, kOfxActionUnload, std::ptr::null(), None, None), "Unload");
    }

    /// Unload (ofxCore.h). The binary stays mapped until the process exits, as in many hosts:
    /// the next `load` of the same path gets the same library (and its process-wide caches).
    pub fn unload(mut self) {
        for p in &self.plugins {
            ok_or_default(call(p.ptr, kOfxActionUnload, std::ptr::null(), None, None), "Unload");
        }
        self.plugins.clear();
        std::mem::forget(self.lib.take());
    }
}

/// How a frame is rendered.
#[derive(Clone, Copy, Debug)]
pub struct RenderOpts {
    pub depth: &'static CStr,
    pub scale: f64,
    pub negative_rows: bool,
    /// Ask IsIdentity first and copy the source when the effect says so (as hosts do).
    pub use_identity: bool,
}

impl Default for RenderOpts {
    fn default() -> Self {
        RenderOpts { depth: kOfxBitDepthByte, scale: 1.0, negative_rows: false, use_identity: false }
    }
}

/// A rendered frame: RGBA8, top row first.
#[derive(Clone, Debug, PartialEq)]
pub struct Frame {
    pub width: u32,
    pub height: u32,
    pub rgba: Vec<u8>,
}

impl Frame {
    pub fn rgb(&self) -> Vec<u8> {
        self.rgba.chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect()
    }

    pub fn save_png(&self, path: &Path) {
        image::save_buffer(path, &self.rgba, self.width, self.height, image::ExtendedColorType::Rgba8).expect("write PNG");
    }

    pub fn is_error_frame(&self) -> bool {
        self.rgba[..3] == [200, 20, 20] || self.rgba[..3] == [30, 30, 30]
    }
}

pub struct Instance<'h> {
    host: &'h Host,
    plugin: *const OfxPlugin,
    pub effect: Box<Effect>,
    pub context: String,
}

impl Instance<'_> {
    fn handle(&self) -> *const c_void {
        &*self.effect as *const Effect as *const c_void
    }

    pub fn param(&self, name: &str) -> Value {
        let params = self.effect.params.params.lock().unwrap();
        let p = params.iter().find(|p| p.name == name).unwrap_or_else(|| panic!("no param {name}"));
        let v = p.value.lock().unwrap().0.clone();
        v
    }

    pub fn param_props(&self, name: &str) -> Box<PropSet> {
        let params = self.effect.params.params.lock().unwrap();
        let p = params.iter().find(|p| p.name == name).unwrap_or_else(|| panic!("no param {name}"));
        p.props.copy("param props")
    }

    pub fn param_names(&self) -> Vec<(String, String)> {
        self.effect.params.params.lock().unwrap().iter().map(|p| (p.name.clone(), p.kind.clone())).collect()
    }

    /// Sets a value as the user would, then tells the plugin (InstanceChanged).
    pub fn set(&self, name: &str, v: Value) {
        {
            let params = self.effect.params.params.lock().unwrap();
            let p = params.iter().find(|p| p.name == name).unwrap_or_else(|| panic!("no param {name}"));
            let mut cur = p.value.lock().unwrap();
            assert_eq!(std::mem::discriminant(&cur.0), std::mem::discriminant(&v), "{name}: value of the wrong type");
            cur.0 = v;
        }
        // MLT writes values into each instance before rendering, without InstanceChanged.
        if !self.host.mlt {
            self.changed(name);
        }
    }

    /// Presses a push button.
    pub fn press(&self, name: &str) -> OfxStatus {
        self.changed(name)
    }

    fn changed(&self, name: &str) -> OfxStatus {
        let inp = action_args("instanceChanged in")
            .string(kOfxPropType, 1, &["OfxTypeParameter"])
            .string(kOfxPropName, 1, &[name])
            .string(kOfxPropChangeReason, 1, &["OfxChangeUserEdited"])
            .double(kOfxPropTime, 1, &[0.0])
            .double(kOfxImageEffectPropRenderScale, 2, &[1.0, 1.0]);
        let begin = action_args("begin").string(kOfxPropChangeReason, 1, &["OfxChangeUserEdited"]);
        ok_or_default(call(self.plugin, c"OfxActionBeginInstanceChanged", self.handle(), Some(&begin), None), "BeginInstanceChanged");
        IN_INSTANCE_CHANGED.with(|c| c.set(true));
        let s = call(self.plugin, kOfxActionInstanceChanged, self.handle(), Some(&inp), None);
        IN_INSTANCE_CHANGED.with(|c| c.set(false));
        ok_or_default(s, "InstanceChanged");
        ok_or_default(call(self.plugin, c"OfxActionEndInstanceChanged", self.handle(), Some(&begin), None), "EndInstanceChanged");
        s
    }

    /// GetClipPreferences: the host applies what the plugin asks for (here it only checks it).
    fn clip_preferences(&self) {
        let mut out = action_args("clip preferences out")
            .double(kOfxImageEffectPropFrameRate, 1, &[self.host.fps])
            .string(c"OfxImageClipPropFieldOrder", 1, &["OfxFieldNone"])
            .string(kOfxImageEffectPropPreMultiplication, 1, &["OfxImageOpaque"])
            .int(c"OfxImageClipPropContinuousSamples", 1, &[0])
            .int(kOfxImageEffectFrameVarying, 1, &[0]);
        for c in self.effect.clips.lock().unwrap().iter() {
            let n = &c.name;
            out = out
                .string(&CString::new(format!("OfxImageClipPropComponents_{n}")).unwrap(), 1, &["OfxImageComponentRGBA"])
                .string(&CString::new(format!("OfxImageClipPropDepth_{n}")).unwrap(), 1, &["OfxBitDepthByte"])
                .double(&CString::new(format!("OfxImageClipPropPAR_{n}")).unwrap(), 1, &[1.0]);
        }
        let s = call(self.plugin, kOfxImageEffectActionGetClipPreferences, self.handle(), None, Some(&out));
        ok_or_default(s, "GetClipPreferences");
        if s == kOfxStatOK {
            assert_eq!(out.ints(kOfxImageEffectFrameVarying), vec![1], "generated frames vary in time");
        }
    }

    /// PurgeCaches (ofxCore.h): the host wants memory back.
    pub fn purge_caches(&self) {
        ok_or_default(call(self.plugin, kOfxActionPurgeCaches, self.handle(), None, None), "PurgeCaches");
    }

    /// GetTimeDomain (general context only).
    pub fn time_domain(&self) -> Option<(f64, f64)> {
        let out = action_args("time domain out").double(kOfxImageEffectPropFrameRange, 2, &[0.0, 0.0]);
        let s = call(self.plugin, kOfxImageEffectActionGetTimeDomain, self.handle(), None, Some(&out));
        (s == kOfxStatOK).then(|| {
            let r = out.doubles(kOfxImageEffectPropFrameRange);
            (r[0], r[1])
        })
    }

    pub fn set_output_range(&self, first: f64, last: f64) {
        for c in self.effect.clips.lock().unwrap().iter() {
            if c.name == "Output" {
                c.props.set_doubles(kOfxImageEffectPropFrameRange, &[first, last]);
            }
        }
    }

    fn source(&self) -> Option<Arc<Source>> {
        self.effect.clips.lock().unwrap().iter().find(|c| c.name == "Source").and_then(|c| c.source.clone())
    }

    /// Renders the frame at `time`: region of definition, frames needed, (identity,) render.
    pub fn render(&self, time: f64, opts: RenderOpts) -> Result<Frame, OfxStatus> {
        let scale = [opts.scale, opts.scale];
        // Region of definition (canonical), or the host's default: the source's, else the project.
        let inp = action_args("rod in").double(kOfxPropTime, 1, &[time]).double(kOfxImageEffectPropRenderScale, 2, &scale);
        let out = action_args("rod out").double(kOfxImageEffectPropRegionOfDefinition, 4, &[0.0; 4]);
        let s = call(self.plugin, kOfxImageEffectActionGetRegionOfDefinition, self.handle(), Some(&inp), Some(&out));
        ok_or_default(s, "GetRegionOfDefinition");
        let rod = if s == kOfxStatOK {
            out.doubles(kOfxImageEffectPropRegionOfDefinition)
        } else {
            match self.source() {
                Some(src) => vec![0.0, 0.0, src.width as f64, src.height as f64],
                None => vec![0.0, 0.0, self.host.project.0, self.host.project.1],
            }
        };
        let rect = OfxRectI {
            x1: (rod[0] * opts.scale).floor() as i32,
            y1: (rod[1] * opts.scale).floor() as i32,
            x2: (rod[2] * opts.scale).ceil() as i32,
            y2: (rod[3] * opts.scale).ceil() as i32,
        };
        // Frames needed, when the plugin asked for temporal access.
        // (MLT never asks: it has no temporal clip access.)
        let temporal = self.effect.props.ints(kOfxImageEffectPropTemporalClipAccess)[0] == 1 && !self.host.mlt;
        let mut needed = vec![(time, time)];
        if temporal && self.source().is_some() {
            let inp = action_args("frames needed in").double(kOfxPropTime, 1, &[time]);
            let out = action_args("frames needed out").double(c"OfxImageClipPropFrameRange_Source", 0, &[time, time]);
            let s = call(self.plugin, kOfxImageEffectActionGetFramesNeeded, self.handle(), Some(&inp), Some(&out));
            ok_or_default(s, "GetFramesNeeded");
            if s == kOfxStatOK {
                let r = out.doubles(c"OfxImageClipPropFrameRange_Source");
                assert!(r.len().is_multiple_of(2), "frame ranges come in pairs");
                needed = r.chunks(2).map(|c| (c[0], c[1])).collect();
            }
        }
        let bpp = 4 * bytes_per_channel(opts.depth);
        let (w, h) = ((rect.x2 - rect.x1) as usize, (rect.y2 - rect.y1) as usize);
        let output = Buffer::new(w * bpp + 8, h.max(1));
        *self.effect.render.lock().unwrap() =
            Some(RenderState { time, scale, depth: opts.depth, negative_rows: opts.negative_rows, output: output.clone(), output_rect: rect, needed });
        for c in self.effect.clips.lock().unwrap().iter() {
            c.props.set_strs(kOfxImageEffectPropPixelDepth, &[opts.depth.to_str().unwrap()]);
        }
        let result = (|| {
            if opts.use_identity {
                let inp = action_args("identity in")
                    .double(kOfxPropTime, 1, &[time])
                    .string(c"OfxImageEffectPropFieldToRender", 1, &["OfxFieldNone"])
                    .int(kOfxImageEffectPropRenderWindow, 4, &[rect.x1, rect.y1, rect.x2, rect.y2])
                    .double(kOfxImageEffectPropRenderScale, 2, &scale);
                let out = action_args("identity out").string(kOfxPropName, 1, &[""]).double(kOfxPropTime, 1, &[time]);
                let s = call(self.plugin, kOfxImageEffectActionIsIdentity, self.handle(), Some(&inp), Some(&out));
                if s == kOfxStatOK {
                    assert_eq!(out.str(kOfxPropName), "Source");
                    let t = out.doubles(kOfxPropTime)[0];
                    let src = self.source().expect("identity to a connected source");
                    let f = &src.frames[(t - src.first).round() as usize];
                    return Ok(Frame { width: src.width, height: src.height, rgba: f.clone() });
                }
                ok_or_default(s, "IsIdentity");
            }
            let inp = action_args("render in")
                .double(kOfxPropTime, 1, &[time])
                .string(c"OfxImageEffectPropFieldToRender", 1, &["OfxFieldNone"])
                .int(kOfxImageEffectPropRenderWindow, 4, &[rect.x1, rect.y1, rect.x2, rect.y2])
                .double(kOfxImageEffectPropRenderScale, 2, &scale)
                .int(c"OfxImageEffectPropSequentialRenderStatus", 1, &[0])
                .int(c"OfxImageEffectPropInteractiveRenderStatus", 1, &[0])
                .int(c"OfxImageEffectPropRenderQualityDraft", 1, &[0]);
            let s = call(self.plugin, kOfxImageEffectActionRender, self.handle(), Some(&inp), None);
            if s != kOfxStatOK {
                return Err(s);
            }
            let bytes = output.bytes.lock().unwrap();
            let mut rgba = Vec::with_capacity(w * h * 4);
            for row in 0..h {
                let y = rect.y2 - 1 - row as i32; // top row first
                for x in rect.x1..rect.x2 {
                    let o = offset(rect, &output, opts.negative_rows, bpp, x, y);
                    rgba.extend_from_slice(&load_px(opts.depth, &bytes[o..o + bpp]));
                }
            }
            Ok(Frame { width: w as u32, height: h as u32, rgba })
        })();
        *self.effect.render.lock().unwrap() = None;
        assert_eq!(self.effect.images_out.load(Ordering::SeqCst), 0, "every image fetched was released");
        result
    }
}

impl Drop for Instance<'_> {
    fn drop(&mut self) {
        let s = call(self.plugin, kOfxActionDestroyInstance, self.handle(), None, None);
        if !std::thread::panicking() {
            assert!(s == kOfxStatOK || s == kOfxStatReplyDefault, "DestroyInstance returned {s}");
        }
    }
}
