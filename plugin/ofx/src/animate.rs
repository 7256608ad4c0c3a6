//! "Kino Animate": footage that starts from one source frame, the frames `kino animate` makes
//! from that image. With Start unset (-1), the frame at "Still frame" is animated from the
//! source's start (time `t` shows the model frame nearest `t` seconds after it); with Start set,
//! the frame at Start is animated from Start on and earlier frames pass through. Hosts without
//! temporal clip access animate in place ([`crate::inplace`]): Start, else Still frame.

use crate::actions::{Instance, Pick, Shown};
use crate::jobs::{self, JobKey, Start};
use crate::{caps, inplace, params};
use kino::footage::Retime;

fn start(inst: &Instance, t: f64) -> Result<Option<f64>, String> {
    let s = inst.fx.param(params::START).and_then(|p| p.int_at(t)).map_err(|e| params::err(params::START, e))?;
    Ok((s >= 0).then_some(s as f64))
}

fn still_time(inst: &Instance, t: f64) -> Result<f64, String> {
    inst.fx.param(params::STILL_TIME).and_then(|p| p.double_at(t)).map_err(|e| params::err(params::STILL_TIME, e))
}

/// The frame animated and the time the animation begins.
fn origin(inst: &Instance, t: f64) -> Result<(f64, f64), String> {
    Ok(match start(inst, t)? {
        Some(s) => (s, s),
        None if caps::host_temporal() => (still_time(inst, t)?, inst.source_range()?.0),
        None => {
            let s = still_time(inst, t)?.round();
            (s, s)
        }
    })
}

pub fn first_time(inst: &Instance) -> Result<f64, String> {
    Ok(origin(inst, 0.0)?.1)
}

fn footage(inst: &Instance, t: f64, from: f64, still: kino::RgbFrame) -> Result<Shown, String> {
    let settings = inst.settings(t)?;
    let p = jobs::pipeline(&settings)?;
    let frames = jobs::frames_for(&p, settings.seconds());
    let retime = Retime::new(inst.host_fps(), p.package.manifest.video.fps);
    let i = retime.model_index_after(t - from, frames as usize);
    Ok(Shown::Generated { key: Box::new(JobKey { settings, frames, start: Start::Still(still) }), pick: Pick::FromStart(i) })
}

pub fn shown(inst: &Instance, t: f64) -> Result<Shown, String> {
    let (still, from) = origin(inst, t)?;
    let before = t < from - 0.5;
    if !caps::host_temporal() {
        return inplace::shown(inst, t, &[still], !before, |mut frames| footage(inst, t, from, frames.remove(0)));
    }
    if before && start(inst, t)?.is_some() {
        return Ok(Shown::Source(t));
    }
    let settings = inst.settings(t)?;
    let req = jobs::request(&*jobs::pipeline(&settings)?, &settings, 1)?;
    footage(inst, t, from, inst.model_frame(still, req.width, req.height)?)
}

pub fn frames_needed(inst: &Instance, t: f64) -> Vec<(f64, f64)> {
    match origin(inst, t) {
        Ok((s, from)) if t >= from - 0.5 => vec![(s, s)],
        _ => vec![(t, t)],
    }
}

/// General context: the source's start, as long as the duration.
pub fn time_domain(inst: &Instance) -> Option<(f64, f64)> {
    let (a, _) = inst.source_range().ok()?;
    let s = inst.settings(a).ok()?;
    let n = (s.seconds() * inst.host_fps()).round().max(1.0);
    Some((a, a + n - 1.0))
}
