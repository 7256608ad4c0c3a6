//! The property suite: the C functions a plugin calls on property sets, with the spec's status codes.

use super::*;

/// The property set behind a handle, or kOfxStatErrBadHandle.
///
/// # Safety
/// `h` is null or a handle this host gave out, still alive.
pub(super) unsafe fn props<'a>(h: OfxPropertySetHandle) -> Result<&'a PropSet, OfxStatus> {
    // SAFETY: by the caller's contract.
    unsafe { (h as *const PropSet).as_ref() }.ok_or(kOfxStatErrBadHandle)
}

pub(super) fn name_of(p: *const c_char) -> Result<String, OfxStatus> {
    if p.is_null() {
        return Err(kOfxStatErrUnknown);
    }
    // SAFETY: the plugin passes NUL-terminated property names (ofxProperty.h).
    Ok(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
}

pub(super) enum One {
    Int(i32),
    Double(f64),
    Str(CString),
    Ptr(usize),
}

pub(super) unsafe fn set_one(h: OfxPropertySetHandle, name: *const c_char, index: c_int, v: One) -> OfxStatus {
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

pub(super) fn with_prop<T>(
    h: OfxPropertySetHandle,
    name: *const c_char,
    f: impl FnOnce(&Prop) -> Result<T, OfxStatus>,
) -> Result<T, OfxStatus> {
    // SAFETY: the plugin passes handles this host gave it.
    let set = unsafe { props(h) }?;
    let name = name_of(name)?;
    let map = set.props.lock().unwrap();
    f(map.get(&name).ok_or(kOfxStatErrUnknown)?)
}

pub(super) fn st(r: Result<(), OfxStatus>) -> OfxStatus {
    r.err().unwrap_or(kOfxStatOK)
}

pub(super) unsafe extern "C" fn prop_set_pointer(h: OfxPropertySetHandle, n: *const c_char, i: c_int, v: *mut c_void) -> OfxStatus {
    unsafe { set_one(h, n, i, One::Ptr(v as usize)) }
}
pub(super) unsafe extern "C" fn prop_set_string(h: OfxPropertySetHandle, n: *const c_char, i: c_int, v: *const c_char) -> OfxStatus {
    if v.is_null() {
        return kOfxStatErrValue;
    }
    // SAFETY: a NUL-terminated string from the plugin, copied here.
    let s = unsafe { CStr::from_ptr(v) }.to_owned();
    unsafe { set_one(h, n, i, One::Str(s)) }
}
pub(super) unsafe extern "C" fn prop_set_double(h: OfxPropertySetHandle, n: *const c_char, i: c_int, v: c_double) -> OfxStatus {
    unsafe { set_one(h, n, i, One::Double(v)) }
}
pub(super) unsafe extern "C" fn prop_set_int(h: OfxPropertySetHandle, n: *const c_char, i: c_int, v: c_int) -> OfxStatus {
    unsafe { set_one(h, n, i, One::Int(v)) }
}
pub(super) unsafe extern "C" fn prop_set_pointer_n(
    h: OfxPropertySetHandle,
    n: *const c_char,
    count: c_int,
    v: *const *mut c_void,
) -> OfxStatus {
    for i in 0..count.max(0) {
        // SAFETY: the plugin passes `count` values.
        let s = unsafe { set_one(h, n, i, One::Ptr(*v.add(i as usize) as usize)) };
        if s != kOfxStatOK {
            return s;
        }
    }
    kOfxStatOK
}
pub(super) unsafe extern "C" fn prop_set_string_n(
    h: OfxPropertySetHandle,
    n: *const c_char,
    count: c_int,
    v: *const *const c_char,
) -> OfxStatus {
    for i in 0..count.max(0) {
        // SAFETY: the plugin passes `count` NUL-terminated strings.
        let s = unsafe { prop_set_string(h, n, i, *v.add(i as usize)) };
        if s != kOfxStatOK {
            return s;
        }
    }
    kOfxStatOK
}
pub(super) unsafe extern "C" fn prop_set_double_n(
    h: OfxPropertySetHandle,
    n: *const c_char,
    count: c_int,
    v: *const c_double,
) -> OfxStatus {
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
pub(super) unsafe extern "C" fn prop_set_int_n(h: OfxPropertySetHandle, n: *const c_char, count: c_int, v: *const c_int) -> OfxStatus {
    for i in 0..count.max(0) {
        // SAFETY: the plugin passes `count` ints.
        let s = unsafe { set_one(h, n, i, One::Int(*v.add(i as usize))) };
        if s != kOfxStatOK {
            return s;
        }
    }
    kOfxStatOK
}

pub(super) fn get_one(h: OfxPropertySetHandle, n: *const c_char, i: c_int) -> Result<One, OfxStatus> {
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

pub(super) fn kind_of(h: OfxPropertySetHandle, n: *const c_char) -> Result<u8, OfxStatus> {
    with_prop(h, n, |p| {
        Ok(match p.vals {
            Vals::Int(_) => b'i',
            Vals::Double(_) => b'd',
            Vals::Str(_) => b's',
            Vals::Ptr(_) => b'p',
        })
    })
}

pub(super) unsafe extern "C" fn prop_get_pointer(h: OfxPropertySetHandle, n: *const c_char, i: c_int, out: *mut *mut c_void) -> OfxStatus {
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
pub(super) unsafe extern "C" fn prop_get_string(h: OfxPropertySetHandle, n: *const c_char, i: c_int, out: *mut *mut c_char) -> OfxStatus {
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
pub(super) unsafe extern "C" fn prop_get_double(h: OfxPropertySetHandle, n: *const c_char, i: c_int, out: *mut c_double) -> OfxStatus {
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
pub(super) unsafe extern "C" fn prop_get_int(h: OfxPropertySetHandle, n: *const c_char, i: c_int, out: *mut c_int) -> OfxStatus {
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
pub(super) unsafe extern "C" fn prop_get_pointer_n(
    h: OfxPropertySetHandle,
    n: *const c_char,
    count: c_int,
    out: *mut *mut c_void,
) -> OfxStatus {
    for i in 0..count.max(0) {
        // SAFETY: the plugin passes room for `count` values.
        let s = unsafe { prop_get_pointer(h, n, i, out.add(i as usize)) };
        if s != kOfxStatOK {
            return s;
        }
    }
    kOfxStatOK
}
pub(super) unsafe extern "C" fn prop_get_string_n(
    h: OfxPropertySetHandle,
    n: *const c_char,
    count: c_int,
    out: *mut *mut c_char,
) -> OfxStatus {
    for i in 0..count.max(0) {
        // SAFETY: as above.
        let s = unsafe { prop_get_string(h, n, i, out.add(i as usize)) };
        if s != kOfxStatOK {
            return s;
        }
    }
    kOfxStatOK
}
pub(super) unsafe extern "C" fn prop_get_double_n(
    h: OfxPropertySetHandle,
    n: *const c_char,
    count: c_int,
    out: *mut c_double,
) -> OfxStatus {
    for i in 0..count.max(0) {
        // SAFETY: as above.
        let s = unsafe { prop_get_double(h, n, i, out.add(i as usize)) };
        if s != kOfxStatOK {
            return s;
        }
    }
    kOfxStatOK
}
pub(super) unsafe extern "C" fn prop_get_int_n(h: OfxPropertySetHandle, n: *const c_char, count: c_int, out: *mut c_int) -> OfxStatus {
    for i in 0..count.max(0) {
        // SAFETY: as above.
        let s = unsafe { prop_get_int(h, n, i, out.add(i as usize)) };
        if s != kOfxStatOK {
            return s;
        }
    }
    kOfxStatOK
}
pub(super) unsafe extern "C" fn prop_reset(h: OfxPropertySetHandle, n: *const c_char) -> OfxStatus {
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
pub(super) unsafe extern "C" fn prop_get_dimension(h: OfxPropertySetHandle, n: *const c_char, out: *mut c_int) -> OfxStatus {
    let r = with_prop(h, n, |p| {
        // SAFETY: the plugin passes a writable pointer.
        unsafe { *out = p.vals.len() as c_int };
        Ok(())
    });
    st(r)
}

pub(super) static PROPERTY_SUITE: OfxPropertySuiteV1 = OfxPropertySuiteV1 {
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
