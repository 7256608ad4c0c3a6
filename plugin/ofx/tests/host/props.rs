//! Property sets: typed, sized, with the spec's status codes.

use super::*;

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Vals {
    Int(Vec<i32>),
    Double(Vec<f64>),
    Str(Vec<CString>),
    Ptr(Vec<usize>),
}

impl Vals {
    pub(super) fn len(&self) -> usize {
        match self {
            Vals::Int(v) => v.len(),
            Vals::Double(v) => v.len(),
            Vals::Str(v) => v.len(),
            Vals::Ptr(v) => v.len(),
        }
    }
}

#[derive(Clone)]
pub(super) struct Prop {
    pub(super) vals: Vals,
    pub(super) defaults: Vals,
    /// Fixed dimension, or 0 for a variable one.
    pub(super) dim: usize,
    /// Set by the host only: the plugin gets kOfxStatErrValue writing it.
    pub(super) read_only: bool,
    /// Whether the plugin has written it.
    pub(super) written: bool,
}

/// One property set: the properties of one object, as the spec lists them.
pub struct PropSet {
    pub what: String,
    pub(super) props: Mutex<HashMap<String, Prop>>,
}

impl PropSet {
    pub fn new(what: &str) -> Box<PropSet> {
        Box::new(PropSet { what: what.into(), props: Mutex::new(HashMap::new()) })
    }

    pub(super) fn add(self: Box<Self>, name: &str, vals: Vals, dim: usize, read_only: bool) -> Box<Self> {
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
    pub(super) fn host_set(&self, name: &CStr, v: Vals) {
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
    pub(super) fn get(&self, name: &CStr) -> Option<Vals> {
        self.props.lock().unwrap().get(&*name.to_string_lossy()).map(|p| p.vals.clone())
    }
    /// A copy (descriptor to instance).
    pub fn copy(&self, what: &str) -> Box<PropSet> {
        Box::new(PropSet { what: what.into(), props: Mutex::new(self.props.lock().unwrap().clone()) })
    }
}
