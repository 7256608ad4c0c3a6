//! "Kino Extend": inside the source's frame range the output is the source, untouched; past
//! its end (append) or before its start (prepend) it is footage that continues it, the frames
//! `kino extend` makes: context frames taken from the clip at the model's rate counted from the
//! seam, and output frame i from the seam showing the model frame nearest in time.
//!
//! The seam is the clip's end (or start), or set by "Start" (or the older "Seam"): hosts that
//! keep a filter's output as long as its source (the filter context) extend a clip lengthened
//! on the timeline, and the frames from Start on are replaced. Hosts without temporal clip
//! access get the same footage in place ([`crate::inplace`]).

use crate::actions::{Instance, Pick, Shown};
use crate::jobs::{self, JobKey, Side, Start};
use crate::{caps, inplace, params};
use kino::footage::{context_wanted, Retime};
use kino::Placement;

fn side(inst: &Instance, t: f64) -> Result<Side, String> {
    let v = inst.fx.param(params::PLACEMENT).and_then(|p| p.int_at(t)).map_err(|e| params::err(params::PLACEMENT, e))?;
    Ok(if v == 1 { Side::Before } else { Side::After })
}

/// The side new footage goes, and the source frames kept as they are [a, b]: from Start (or
/// the Seam) to the clip's other edge, else the source's frame range. Where the host does not
/// say the range, the clip is taken to start at 0 and to run on past Start.
fn kept(inst: &Instance, t: f64) -> Result<(Side, f64, f64), String> {
    let side = side(inst, t)?;
    let int = |name| inst.fx.param(name).and_then(|p| p.int_at(t)).map_err(|e| params::err(name, e));
    let (start, seam) = (int(params::START)?, int(params::SEAM)?);
    let range = inst.source_range();
    let (lo, hi) = range.as_ref().map_or((0.0, f64::INFINITY), |r| *r);
    let kept = match (side, start >= 0, seam >= 0) {
        (Side::After, true, _) => (lo, (start as f64 - 1.0).min(hi)),
        (Side::Before, true, _) => ((start as f64).max(lo), hi),
        (Side::After, false, true) => (lo, (seam as f64).clamp(lo, hi)),
        (Side::Before, false, true) => ((seam as f64).clamp(lo, hi), hi),
        _ => {
            let (a, b) = range.map_err(|e| format!("{e}: set Start (frame) to the first frame to replace"))?;
            (a, b)
        }
    };
    if kept.1 < kept.0 {
        return Err(format!("Start (frame) {start} leaves no source frame to continue: set it after the clip's first frame"));
    }
    Ok((side, kept.0, kept.1))
}

/// The retiming between the host's rate and the model's: kino's one rule.
fn retime(inst: &Instance, p: &kino::Pipeline) -> Retime {
    Retime::new(inst.host_fps(), p.package.manifest.video.fps)
}

/// Source times of the context, in time order: the clip frames `kino extend` takes, counted
/// from the seam at the model's rate.
fn context_times(inst: &Instance, p: &kino::Pipeline, side: Side, (a, b): (f64, f64)) -> Result<Vec<f64>, String> {
    // Saturating: in place, a prepend's clip may run on without a known end.
    let n = ((b - a).round() as usize).saturating_add(1);
    let placement = match side {
        Side::After => Placement::After,
        Side::Before => Placement::Before,
    };
    let idx = retime(inst, p).context_indices(n, context_wanted(p), placement);
    Ok(match side {
        // Counted back from the last kept frame, so the times are the kept frames' own.
        Side::After => idx.into_iter().map(|i| b - (n - 1 - i) as f64).collect(),
        Side::Before => idx.into_iter().map(|i| a + i as f64).collect(),
    })
}

/// Whether time `t` shows the source's own frame (not generated footage).
pub fn passes_through(inst: &Instance, t: f64) -> Result<bool, String> {
    let (side, a, b) = kept(inst, t)?;
    Ok(match side {
        Side::After => t <= b + 0.5,
        Side::Before => t >= a - 0.5,
    })
}

pub fn shown(inst: &Instance, t: f64) -> Result<Shown, String> {
    if caps::host_temporal() {
        if passes_through(inst, t)? {
            return Ok(Shown::Source(t));
        }
        let ctx = |side: Side, a: f64, b: f64, w: u32, h: u32| {
            let p = jobs::pipeline(&inst.settings(t)?)?;
            context_times(inst, &p, side, (a, b))?.into_iter().map(|time| inst.model_frame(time, w, h)).collect::<Result<Vec<_>, String>>()
        };
        return generated(inst, t, &ctx);
    }
    // In place: the context is what the host has rendered before Start (after it, prepending).
    let (side, a, b) = kept(inst, t)?;
    let p = jobs::pipeline(&inst.settings(t)?)?;
    let needed = context_times(inst, &p, side, (a, b))?;
    inplace::shown(inst, t, &needed, !passes_through(inst, t)?, |frames| {
        generated(inst, t, &move |_: Side, _: f64, _: f64, _: u32, _: u32| Ok(frames.clone()))
    })
}

type Context<'a> = dyn Fn(Side, f64, f64, u32, u32) -> Result<Vec<kino::RgbFrame>, String> + 'a;

/// The generated frame at `t`, with the context frames (model size) from `ctx`.
fn generated(inst: &Instance, t: f64, ctx: &Context) -> Result<Shown, String> {
    let (side, a, b) = kept(inst, t)?;
    let settings = inst.settings(t)?;
    let p = jobs::pipeline(&settings)?;
    let req = jobs::request(&p, &settings, 1)?;
    let retime = retime(inst, &p);
    // New footage at the host's rate, and the model frames that cover it.
    let new_frames = (settings.seconds() * inst.host_fps()).round().max(1.0) as usize;
    let model_new = retime.model_frames_for(new_frames);
    let ctx = ctx(side, a, b, req.width, req.height)?;
    // Output frames from the seam (0 = next to the clip) and the model frame nearest in time.
    let from_seam = match side {
        Side::After => t - b - 1.0,
        Side::Before => a - t - 1.0,
    };
    let model_index = retime.model_index_after(from_seam, model_new);
    let pick = match side {
        Side::After => Pick::FromStart(model_index),
        Side::Before => Pick::FromEnd(model_index),
    };
    Ok(Shown::Generated { key: Box::new(JobKey { settings, frames: model_new as u32, start: Start::Extend(side, ctx) }), pick })
}

/// The first generated time next to the clip (for the Generate button).
pub fn first_generated_time(inst: &Instance, t: f64) -> Result<f64, String> {
    let (side, a, b) = kept(inst, t)?;
    Ok(match side {
        Side::After => b + 1.0,
        Side::Before => a - 1.0,
    })
}

pub fn frames_needed(inst: &Instance, t: f64) -> Vec<(f64, f64)> {
    // As `shown` decides, without fetching any frame (this action may not fetch images).
    let times = (|| -> Result<Vec<f64>, String> {
        if passes_through(inst, t)? {
            return Ok(vec![t]);
        }
        let (side, a, b) = kept(inst, t)?;
        let p = jobs::pipeline(&inst.settings(t)?)?;
        context_times(inst, &p, side, (a, b))
    })();
    match times {
        Ok(ts) if !ts.is_empty() => {
            let lo = ts.iter().cloned().fold(f64::INFINITY, f64::min);
            let hi = ts.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            vec![(lo, hi)]
        }
        _ => vec![(t, t)],
    }
}

/// General context: the source's range plus the new footage on its side of the seam.
pub fn time_domain(inst: &Instance) -> Option<(f64, f64)> {
    let (a, b) = inst.source_range().ok()?;
    let (side, ka, kb) = kept(inst, a).ok()?;
    let (ka, kb) = (ka.max(a), kb.min(b));
    let s = inst.settings(a).ok()?;
    let n = (s.seconds() * inst.host_fps()).round().max(1.0);
    Some(match side {
        Side::After => (a, b.max(kb + n)),
        Side::Before => (a.min(ka - n), b),
    })
}
