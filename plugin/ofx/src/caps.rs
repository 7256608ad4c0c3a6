//! What the host can do, found out when an instance is created, and what the plugin tells the
//! user about it: once per instance (once per process in hosts that make an instance per
//! frame), through the message suite and in the Status line.
//!
//! Hosts differ in ways that decide whether an effect can work as written: MLT (>= 7.38) offers
//! the filter context only, no temporal clip access (every fetch returns the frame being
//! rendered), no source frame range and no bundle path, and makes an instance per frame. Extend
//! and Animate then work in place ([`crate::inplace`]); the user has to lengthen the clip and
//! set Start, and is told so in the panel's words.

use std::collections::{HashMap, HashSet};
use std::ffi::CStr;
use std::sync::{Mutex, OnceLock};

use crate::abi::*;
use crate::actions::Instance;
use crate::suites::{self, Props};
use crate::Kind;

/// The host's capabilities that matter to kino.
#[derive(Clone, Debug)]
pub struct Caps {
    pub host: String,
    /// kOfxImageEffectPropTemporalClipAccess on the host: source frames at other times.
    pub temporal: bool,
    /// The contexts the host says it offers (`None`: it does not say).
    pub contexts: Option<Vec<String>>,
    /// This instance's context.
    pub context: String,
    /// Whether the source clip's frame range is readable (`None`: no source clip).
    pub range: Option<bool>,
    /// Whether the host says the project's frame rate (MLT 7.40 does not).
    pub rate: bool,
}

fn strings(p: &Props, name: &CStr) -> Option<Vec<String>> {
    let v: Vec<String> = (0..16).map_while(|i| p.string(name, i).ok()).collect();
    (!v.is_empty()).then_some(v)
}

/// Whether the host is Natron (its kOfxPropName, ofxNatron.h).
pub fn host_is_natron() -> bool {
    suites::host_props().and_then(|p| p.string(kOfxPropName, 0).ok()).is_some_and(|n| n == "fr.inria.Natron")
}

/// Whether the host gives source frames at other times than the one rendered.
pub fn host_temporal() -> bool {
    suites::host_props().is_some_and(|p| p.int(kOfxImageEffectPropTemporalClipAccess, 0) == Ok(1))
}

pub fn detect(inst: &Instance) -> Caps {
    let host = suites::host_props();
    let context = inst.fx.props().and_then(|p| p.string(kOfxImageEffectPropContext, 0)).unwrap_or_default();
    let range = match inst.fx.clip(kOfxImageEffectSimpleSourceClipName) {
        Ok(c) => Some(c.props.doubles::<2>(kOfxImageEffectPropFrameRange).is_ok_and(|r| r[0].is_finite() && r[1] >= r[0])),
        Err(_) => None,
    };
    Caps {
        host: host
            .and_then(|p| p.string(kOfxPropLabel, 0).or_else(|_| p.string(kOfxPropName, 0)).ok())
            .unwrap_or_else(|| "this host".into()),
        temporal: host_temporal(),
        contexts: host.and_then(|p| strings(&p, kOfxImageEffectPropSupportedContexts)),
        context,
        range,
        rate: crate::actions::said_fps(&inst.fx).is_some(),
    }
}

impl Caps {
    fn short_context(&self) -> &str {
        self.context.strip_prefix("OfxImageEffectContext").unwrap_or(&self.context)
    }

    /// One line on the host, then what works for `kind` here and what to do instead; `None`
    /// when everything the effect needs is there (nothing to say).
    pub fn advice(&self, kind: Kind) -> Option<String> {
        let mut lacks = Vec::new();
        if !self.temporal {
            lacks.push("no temporal clip access");
        }
        if self.range == Some(false) {
            lacks.push("no source frame range");
        }
        if !self.rate {
            lacks.push("no frame rate");
        }
        let generator = self.contexts.as_ref().is_some_and(|c| c.iter().any(|c| c == "OfxImageEffectContextGenerator"));
        let what = match kind {
            Kind::Generate if self.short_context() == "Filter" => {
                let why = if generator { "" } else { " (this host offers no generator context)" };
                format!("{} replaces its input with generated footage{why}: the input gives only the frame size and time; put it on a clip as long as the footage you want.", kind.label())
            }
            Kind::Generate => return None,
            _ if lacks.is_empty() => return None,
            Kind::Extend if !self.temporal => format!(
                "{} works in place: lengthen the clip on the timeline (or hold its last frame), set Start (frame) to the first frame to replace, and play from before it once. Frames before Start pass through and are remembered as the host renders them; from Start on, generated footage continues them. Until those frames have been seen, the clip passes through.",
                kind.label()
            ),
            Kind::Extend => format!("{}: set Start (frame) to the first frame to replace (the host does not say where the clip ends).", kind.label()),
            Kind::Animate if !self.temporal => format!(
                "{} works in place: it animates the frame at Start (frame) (-1: at Still frame) when the host renders it; earlier frames pass through. Play from that frame once; until it has been seen, the clip passes through.",
                kind.label()
            ),
            Kind::Animate => format!("{}: set Start (frame) to the frame to animate (the host does not say where the clip starts).", kind.label()),
            Kind::Bridge if !self.temporal => format!("{} cannot work here: it reads both clips at other times than the one shown.", kind.label()),
            Kind::Bridge => return None,
            Kind::Remix if !self.temporal => format!("{} cannot work here: it reads the whole clip before showing its first frame; the clip passes through.", kind.label()),
            Kind::Remix => format!("{}: the host does not say the clip's frame range, so the clip passes through.", kind.label()),
        };
        let host = if lacks.is_empty() { String::new() } else { format!("{} has {}. ", self.host, lacks.join(", ")) };
        let rate = if self.rate { "" } else { " Set Frame rate (fps) to the project's (otherwise 24 is assumed)." };
        Some(format!("{host}{what}{rate}"))
    }
}

/// Messages already posted per instance (hosts render every frame, often in many threads;
/// an instance says each thing once). Forgotten when the instance is destroyed.
fn posted() -> &'static Mutex<HashMap<usize, HashSet<String>>> {
    static P: OnceLock<Mutex<HashMap<usize, HashSet<String>>>> = OnceLock::new();
    P.get_or_init(Default::default)
}

/// Posts `text` once per instance (message suite, else stderr) and shows it in Status where
/// the host lets the plugin write it now (see [`set_status`]).
pub fn tell(inst: &Instance, kind: &CStr, text: &str) {
    let text = text.to_string();
    // Hosts without temporal clip access (MLT) make an instance per frame: there "once per
    // instance" would be once per frame, so each thing is said once per process instead.
    let who = if host_temporal() { inst.fx.h as usize } else { 0 };
    let first = posted().lock().unwrap_or_else(|e| e.into_inner()).entry(who).or_default().insert(text.clone());
    if first && !inst.fx.message(kind, &text) {
        eprintln!("kino ofx: {text}");
    }
    if !host_temporal() {
        // Every instance's own panel says it.
        set_status(inst, &text);
    }
}

/// Sets the Status line. The spec lets a plugin set values in InstanceChanged; hosts without
/// temporal clip access (MLT) accept them in any action, and there it is the only place the
/// user sees what a render found. Elsewhere render-time news goes to the message suite only.
pub fn set_status(inst: &Instance, text: &str) {
    if let Ok(p) = inst.fx.param(crate::params::STATUS) {
        let _ = p.set_string(text);
    }
}

/// CreateInstance: says what works in this host, once.
pub fn on_create(inst: &Instance) {
    let caps = detect(inst);
    if let Some(advice) = caps.advice(inst.kind) {
        tell(inst, kOfxMessageWarning, &advice);
    }
}

/// Unload: the next load says everything again.
pub fn forget_all() {
    posted().lock().unwrap_or_else(|e| e.into_inner()).clear();
}

pub fn on_destroy(inst: &Instance) {
    if host_temporal() {
        posted().lock().unwrap_or_else(|e| e.into_inner()).remove(&(inst.fx.h as usize));
    }
}
