//! "Kino Animate": footage that starts from the source frame at the "Still frame" time, the
//! frames `kino animate` makes from that image. Time `t` shows the model frame nearest `t`
//! seconds after the source's start.

use crate::actions::{Instance, Pick, Shown};
use crate::jobs::{self, JobKey, Start};
use crate::params;

pub fn first_time(inst: &Instance) -> Result<f64, String> {
    Ok(inst.source_range()?.0)
}

fn still_time(inst: &Instance, t: f64) -> Result<f64, String> {
    inst.fx.param(params::STILL_TIME).and_then(|p| p.double_at(t)).map_err(|e| format!("could not read the still frame time (host status {e})"))
}

pub fn shown(inst: &Instance, t: f64) -> Result<Shown, String> {
    let settings = inst.settings(t)?;
    let p = jobs::pipeline(&settings)?;
    let req = jobs::request(&p, &settings, 1)?;
    let still = inst.source_frame(still_time(inst, t)?)?.resized(req.width, req.height);
    let frames = jobs::frames_for(&p, settings.seconds());
    let (a, _) = inst.source_range()?;
    let i = ((t - a) / inst.host_fps() * p.package.manifest.video.fps).round().max(0.0) as usize;
    Ok(Shown::Generated { key: JobKey { settings, frames, start: Start::Still(still) }, pick: Pick::FromStart(i) })
}

pub fn frames_needed(inst: &Instance, t: f64) -> Vec<(f64, f64)> {
    match still_time(inst, t) {
        Ok(s) => vec![(s, s)],
        Err(_) => vec![(t, t)],
    }
}

/// General context: the source's start, as long as the duration.
pub fn time_domain(inst: &Instance) -> Option<(f64, f64)> {
    let (a, _) = inst.source_range().ok()?;
    let s = inst.settings(a).ok()?;
    let n = (s.seconds() * inst.host_fps()).round().max(1.0);
    Some((a, a + n - 1.0))
}
