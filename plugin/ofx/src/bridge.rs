//! "Kino Bridge": footage that continues clip A (SourceFrom) and arrives at clip B (SourceTo),
//! the frames `kino bridge` makes.
//!
//! * Transition context (editors' transitions, e.g. Resolve): over the transition's frames
//!   [t0, t1], t0 shows A's own frame and t1 B's, untouched, and the frames between are the
//!   bridge from A's frames up to t0 to B's from t1 on: what `kino bridge A B --only` makes for A
//!   cut at t0 and B starting at t1, with `--frames` the frames between.
//! * General context (hosts without transitions: Natron, Nuke): A's frames, then "Duration" of
//!   bridge, then B's frames: the output of `kino bridge A B`.
//!
//! Both need temporal clip access: the context is read at other times than the one rendered.

use std::ffi::CStr;

use crate::abi::*;
use crate::actions::{Instance, Pick, Shown};
use crate::jobs::{self, JobKey, Start};
use kino::footage::Retime;
use kino::{Pipeline, Placement};

pub const FROM: &CStr = kOfxImageEffectTransitionSourceFromClipName;
pub const TO: &CStr = kOfxImageEffectTransitionSourceToClipName;

/// Where the clips and the bridge are, in host frames.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Layout {
    /// The frames of A that the bridge continues: [first, last].
    a: (f64, f64),
    /// The bridge's frames: [first, last] (empty when last < first).
    gap: (f64, f64),
    /// The frames of B the bridge leads into: [first, last] (last may be unknown: infinite).
    b: (f64, f64),
    /// Host time minus B's own time, for B's frames (general context: B comes after the gap).
    b_shift: f64,
}

fn in_transition(inst: &Instance) -> bool {
    let context = inst.fx.props().and_then(|p| p.string(kOfxImageEffectPropContext, 0)).unwrap_or_default();
    context.as_bytes() == kOfxImageEffectContextTransition.to_bytes()
}

fn range_of(inst: &Instance, clip: &CStr) -> Option<(f64, f64)> {
    let r = inst.fx.clip(clip).ok()?.props.doubles::<2>(kOfxImageEffectPropFrameRange).ok()?;
    (r[0].is_finite() && r[1].is_finite() && r[1] >= r[0]).then_some((r[0], r[1]))
}

/// The transition's first and last frames: the output's frame range, else where the host's
/// Transition curve (0 at the first frame, 1 at the last, linear) puts them.
fn transition_frames(inst: &Instance, t: f64) -> Result<(f64, f64), String> {
    if let Some((t0, t1)) = range_of(inst, kOfxImageEffectOutputClipName).filter(|(a, b)| b > a) {
        return Ok((t0, t1));
    }
    let p = inst.fx.param(kOfxImageEffectTransitionParamName).map_err(|e| format!("the Transition parameter (host status {e})"))?;
    if let (Ok(v), Ok(next)) = (p.double_at(t), p.double_at(t + 1.0)) {
        if let Some(ends) = ends_of_curve(t, v, next) {
            return Ok(ends);
        }
    }
    Err("the host says neither the transition's frame range nor how Transition runs over it: Kino Bridge cannot tell where the transition starts and ends".into())
}

/// The frames where a linear curve that has `v` at `t` and `next` at `t + 1` is 0 and 1.
fn ends_of_curve(t: f64, v: f64, next: f64) -> Option<(f64, f64)> {
    let slope = next - v;
    if !(slope > 1e-9 && slope.is_finite() && v.is_finite()) {
        return None;
    }
    let t0 = (t - v / slope).round();
    Some((t0, t0 + (1.0 / slope).round()))
}

fn layout(inst: &Instance, t: f64) -> Result<Layout, String> {
    if in_transition(inst) {
        let (t0, t1) = transition_frames(inst, t)?;
        // A's frames up to t0 (as far back as the host has them), B's from t1 on.
        let a_first = range_of(inst, FROM).map_or(t0, |r| r.0.min(t0));
        let b_last = range_of(inst, TO).map_or(t1, |r| r.1.max(t1));
        return Ok(Layout { a: (a_first, t0), gap: (t0 + 1.0, t1 - 1.0), b: (t1, b_last), b_shift: 0.0 });
    }
    let a = range_of(inst, FROM).ok_or("Kino Bridge needs the host to say clip A's (SourceFrom) frame range")?;
    let b = range_of(inst, TO).ok_or("Kino Bridge needs the host to say clip B's (SourceTo) frame range")?;
    let n = new_frames(inst, t)? as f64;
    Ok(Layout { a, gap: (a.1 + 1.0, a.1 + n), b, b_shift: a.1 + n + 1.0 - b.0 })
}

/// General context: the bridge's length in host frames, from Duration.
fn new_frames(inst: &Instance, t: f64) -> Result<usize, String> {
    let s = inst.settings(t)?;
    Ok((s.seconds() * inst.host_fps()).round().max(1.0) as usize)
}

fn retime(inst: &Instance, p: &Pipeline) -> Retime {
    Retime::new(inst.host_fps(), p.package.manifest.video.fps)
}

/// The source times of the context on each side, in time order: the frames `kino bridge`
/// takes from A's end and B's start.
fn context_times(inst: &Instance, p: &Pipeline, l: &Layout) -> (Vec<f64>, Vec<f64>) {
    let retime = retime(inst, p);
    let (want_a, want_b) = p.bridge_context_wanted();
    let n_a = (l.a.1 - l.a.0).round() as usize + 1;
    let n_b = if l.b.1.is_finite() { (l.b.1 - l.b.0).round() as usize + 1 } else { usize::MAX };
    let n_b = n_b.min(retime.context_span(want_b));
    let before = retime.context_indices(n_a, want_a, Placement::After).into_iter().map(|i| l.a.1 - (n_a - 1 - i) as f64).collect();
    let after = retime.context_indices(n_b, want_b, Placement::Before).into_iter().map(|i| l.b.0 + i as f64).collect();
    (before, after)
}

pub fn shown(inst: &Instance, t: f64) -> Result<Shown, String> {
    if !crate::caps::host_temporal() {
        return Err("Kino Bridge needs a host with temporal clip access (it reads both clips at other times than the one shown)".into());
    }
    let l = layout(inst, t)?;
    if t < l.gap.0 - 0.5 {
        return Ok(Shown::Clip(FROM, t));
    }
    if t > l.gap.1 + 0.5 {
        return Ok(Shown::Clip(TO, t - l.b_shift));
    }
    let settings = inst.settings(t)?;
    let p = jobs::pipeline(&settings)?;
    let req = jobs::request(&p, &settings, 1)?;
    let retime = retime(inst, &p);
    let n = (l.gap.1 - l.gap.0).round() as usize + 1;
    let model_new = retime.model_frames_for(n);
    let (before, after) = context_times(inst, &p, &l);
    let read = |clip: &CStr, times: Vec<f64>| -> Result<Vec<kino::RgbFrame>, String> {
        times.into_iter().map(|time| inst.clip_model_frame(clip, time, req.width, req.height)).collect()
    };
    let (before, after) = (read(FROM, before)?, read(TO, after)?);
    let i = ((t - l.gap.0).round().max(0.0) as usize).min(n - 1);
    let pick = Pick::FromStart(retime.placed_model_index(i, n, model_new, Placement::After));
    Ok(Shown::Generated { key: Box::new(JobKey { settings, frames: model_new as u32, start: Start::Bridge(before, after) }), pick })
}

/// The bridge's first frame (for the Generate button).
pub fn first_generated_time(inst: &Instance, t: f64) -> Result<f64, String> {
    let l = layout(inst, t)?;
    if l.gap.1 < l.gap.0 {
        return Err("the transition is too short for a bridge: it needs a frame between A's last and B's first".into());
    }
    Ok(l.gap.0)
}

/// Frames of one clip: [first, last].
pub type ClipFrames = (&'static CStr, (f64, f64));

/// The frames each clip is read at for time `t`.
pub fn frames_needed(inst: &Instance, t: f64) -> Vec<ClipFrames> {
    let needed = (|| -> Result<Vec<ClipFrames>, String> {
        let l = layout(inst, t)?;
        if t < l.gap.0 - 0.5 {
            return Ok(vec![(FROM, (t, t))]);
        }
        if t > l.gap.1 + 0.5 {
            let b = t - l.b_shift;
            return Ok(vec![(TO, (b, b))]);
        }
        let p = jobs::pipeline(&inst.settings(t)?)?;
        let (before, after) = context_times(inst, &p, &l);
        let span = |ts: &[f64]| (ts.iter().cloned().fold(f64::INFINITY, f64::min), ts.iter().cloned().fold(f64::NEG_INFINITY, f64::max));
        Ok(vec![(FROM, span(&before)), (TO, span(&after))])
    })();
    match needed {
        Ok(n) if n.iter().all(|(_, (a, b))| a <= b) => n,
        _ => vec![(FROM, (t, t)), (TO, (t, t))],
    }
}

/// General context: A, the bridge, then B.
pub fn time_domain(inst: &Instance) -> Option<(f64, f64)> {
    if in_transition(inst) {
        return None;
    }
    let l = layout(inst, 0.0).ok()?;
    Some((l.a.0, l.b.1 + l.b_shift))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_frames_from_the_hosts_curve() {
        // 0 at frame 10, 1 at frame 18: at frame 13 it is 3/8, at 14 4/8.
        assert_eq!(ends_of_curve(13.0, 3.0 / 8.0, 4.0 / 8.0), Some((10.0, 18.0)));
        assert_eq!(ends_of_curve(10.0, 0.0, 0.125), Some((10.0, 18.0)));
        // A constant (a host that sets only the current value) says nothing.
        assert_eq!(ends_of_curve(13.0, 0.5, 0.5), None);
        assert_eq!(ends_of_curve(13.0, f64::NAN, 0.5), None);
    }
}
