//! Parameters: definition, values, and the (variadic) parameter suite.

use super::*;

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Int(i32),
    Double(f64),
    Str(String),
    None,
}

pub struct Param {
    /// MLT-like: values may be set in any action (MLT's paramSetValue does not check).
    pub(super) any_action_sets: bool,
    pub name: String,
    pub kind: String,
    pub props: Box<PropSet>,
    pub(super) value: Mutex<(Value, CString)>,
}

pub struct ParamSet {
    pub(super) descriptor: bool,
    pub props: Box<PropSet>,
    /// Boxed: the plugin holds pointers to them while the list grows.
    #[allow(clippy::vec_box)]
    pub params: Mutex<Vec<Box<Param>>>,
}

/// Properties of a parameter descriptor of `kind` (ofxParam.h), with the spec's defaults.
pub(super) fn param_props(kind: &str, name: &str) -> Box<PropSet> {
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
        "OfxParamTypeBoolean" => p.int(kOfxParamPropDefault, 1, &[0]),
        "OfxParamTypeString" => p
            .string(kOfxParamPropDefault, 1, &[""])
            .string(kOfxParamPropStringMode, 1, &["OfxParamStringIsSingleLine"])
            .int(kOfxParamPropStringFilePathExists, 1, &[1]),
        _ => p,
    }
}

pub(super) fn default_value(p: &Param) -> Value {
    match p.kind.as_str() {
        "OfxParamTypeInteger" | "OfxParamTypeChoice" | "OfxParamTypeBoolean" => Value::Int(p.props.ints(kOfxParamPropDefault)[0]),
        "OfxParamTypeDouble" => Value::Double(p.props.doubles(kOfxParamPropDefault)[0]),
        "OfxParamTypeString" => Value::Str(p.props.str(kOfxParamPropDefault)),
        _ => Value::None,
    }
}

pub(super) const PARAM_TYPES: [&str; 6] = [
    "OfxParamTypeInteger",
    "OfxParamTypeDouble",
    "OfxParamTypeChoice",
    "OfxParamTypeBoolean",
    "OfxParamTypeString",
    "OfxParamTypePushButton",
];

pub(super) unsafe extern "C" fn param_define(
    set: OfxParamSetHandle,
    kind: *const c_char,
    name: *const c_char,
    out: *mut OfxPropertySetHandle,
) -> OfxStatus {
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
    let p = Box::new(Param {
        any_action_sets: false,
        props: param_props(&kind, &name),
        name,
        kind,
        value: Mutex::new((Value::None, CString::default())),
    });
    if !out.is_null() {
        // SAFETY: the plugin passes a writable handle pointer.
        unsafe { *out = p.props.handle() };
    }
    params.push(p);
    kOfxStatOK
}

pub(super) unsafe extern "C" fn param_get_handle(
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

pub(super) unsafe extern "C" fn param_set_get_property_set(set: OfxParamSetHandle, out: *mut OfxPropertySetHandle) -> OfxStatus {
    // SAFETY: a param set handle this host gave out; a writable pointer.
    let Some(set) = (unsafe { (set as *const ParamSet).as_ref() }) else { return kOfxStatErrBadHandle };
    unsafe { *out = set.props.handle() };
    kOfxStatOK
}

pub(super) unsafe extern "C" fn param_get_property_set(p: OfxParamHandle, out: *mut OfxPropertySetHandle) -> OfxStatus {
    // SAFETY: a param handle this host gave out; a writable pointer.
    let Some(p) = (unsafe { (p as *const Param).as_ref() }) else { return kOfxStatErrBadHandle };
    unsafe { *out = p.props.handle() };
    kOfxStatOK
}

/// Writes the value through the first variadic pointer, by the parameter's type.
pub(super) fn write_value(p: &Param, a1: usize) -> OfxStatus {
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

pub(super) unsafe extern "C" fn param_get_value(p: OfxParamHandle, a1: usize, _a2: usize, _a3: usize) -> OfxStatus {
    // SAFETY: a param handle this host gave out.
    let Some(p) = (unsafe { (p as *const Param).as_ref() }) else { return kOfxStatErrBadHandle };
    write_value(p, a1)
}

pub(super) unsafe extern "C" fn param_get_value_at_time(p: OfxParamHandle, _time: f64, a1: usize, _a2: usize, _a3: usize) -> OfxStatus {
    // SAFETY: as param_get_value; parameters here do not animate, so every time has one value.
    let Some(p) = (unsafe { (p as *const Param).as_ref() }) else { return kOfxStatErrBadHandle };
    write_value(p, a1)
}

pub(super) unsafe extern "C" fn param_unsupported_t(_p: OfxParamHandle, _t: f64, _a1: usize) -> OfxStatus {
    kOfxStatErrUnsupported
}

pub(super) unsafe extern "C" fn param_unsupported_tt(_p: OfxParamHandle, _t: f64, _t2: f64, _a1: usize) -> OfxStatus {
    kOfxStatErrUnsupported
}

thread_local! {
    /// Inside InstanceChanged on this thread: the one action where a plugin may set values
    /// (ofxParam.h: "paramSetValue should only be called from within a kOfxActionInstanceChanged
    /// or interact action").
    pub(super) static IN_INSTANCE_CHANGED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

pub(super) unsafe extern "C" fn param_set_value(
    p: OfxParamHandle,
    a1: usize,
    _a2: usize,
    _a3: usize,
    x0: f64,
    _x1: f64,
    _x2: f64,
) -> OfxStatus {
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

pub(super) unsafe extern "C" fn param_set_value_at_time(
    p: OfxParamHandle,
    _t: f64,
    a1: usize,
    a2: usize,
    a3: usize,
    x1: f64,
    x2: f64,
) -> OfxStatus {
    // No animation here: the value at any time is the value (x1 is the double after the time).
    unsafe { param_set_value(p, a1, a2, a3, x1, x2, 0.0) }
}

pub(super) unsafe extern "C" fn param_get_num_keys(_p: OfxParamHandle, n: *mut c_uint) -> OfxStatus {
    // SAFETY: a writable pointer from the plugin.
    unsafe { *n = 0 };
    kOfxStatOK
}
pub(super) unsafe extern "C" fn param_get_key_time(_p: OfxParamHandle, _n: c_uint, _t: *mut OfxTime) -> OfxStatus {
    kOfxStatErrBadIndex
}
pub(super) unsafe extern "C" fn param_get_key_index(_p: OfxParamHandle, _t: OfxTime, _d: c_int, _i: *mut c_int) -> OfxStatus {
    kOfxStatFailed
}
pub(super) unsafe extern "C" fn param_delete_key(_p: OfxParamHandle, _t: OfxTime) -> OfxStatus {
    kOfxStatErrBadIndex
}
pub(super) unsafe extern "C" fn param_delete_all_keys(_p: OfxParamHandle) -> OfxStatus {
    kOfxStatOK
}
pub(super) unsafe extern "C" fn param_copy(_to: OfxParamHandle, _from: OfxParamHandle, _o: OfxTime, _r: *const OfxRangeD) -> OfxStatus {
    kOfxStatErrUnsupported
}
pub(super) unsafe extern "C" fn param_edit_begin(_s: OfxParamSetHandle, _n: *const c_char) -> OfxStatus {
    kOfxStatOK
}
pub(super) unsafe extern "C" fn param_edit_end(_s: OfxParamSetHandle) -> OfxStatus {
    kOfxStatOK
}

/// The parameter suite: the variadic members are stored through the C-variadic pointer types
/// of the ABI, the definitions above reading the registers those calls use (module docs).
pub(super) fn parameter_suite() -> &'static OfxParameterSuiteV1 {
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
