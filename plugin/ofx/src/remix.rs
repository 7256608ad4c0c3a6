//! "Kino Remix": the source clip redone under the panel's prompt (SDEdit), the frames `kino
//! remix` makes: the clip read at the model's rate and size (model frame j is the source frame
//! nearest its time), re-noised to Strength's level and denoised; time `t` shows the remixed
//! frame for source frame `t`. Needs temporal clip access and the source's frame range (the
//! whole clip is read before its first frame can be shown); elsewhere the source passes through.

use crate::actions::{Instance, Pick, Shown};
use crate::jobs::{self, JobKey, Start};
use crate::params;
use kino::footage::Retime;

/// The source's frame range, or why Remix cannot work here.
fn range(inst: &Instance) -> Result<(f64, f64), String> {
    if !crate::caps::host_temporal() {
        return Err("this host gives effects one frame at a time, and a remix reads the whole clip before its first frame: \
                    the clip passes through; remix it with `kino remix` instead"
            .into());
    }
    inst.source_range().map_err(|e| format!("{e}, which a remix reads whole: the clip passes through; remix it with `kino remix` instead"))
}

fn retime(inst: &Instance, p: &kino::Pipeline) -> Retime {
    Retime::new(inst.host_fps(), p.package.manifest.video.fps)
}

/// Source times the model reads, one per model frame, as `kino remix` picks them.
fn model_times(inst: &Instance, p: &kino::Pipeline, (a, b): (f64, f64)) -> Vec<f64> {
    let retime = retime(inst, p);
    let total = (b - a).round() as usize + 1;
    let n = retime.model_frames_for(total);
    (0..n).map(|j| a + retime.clip_index(j).min(total - 1) as f64).collect()
}

pub fn strength(inst: &Instance, t: f64) -> Result<f32, String> {
    let s = inst.fx.param(params::STRENGTH).and_then(|p| p.double_at(t)).map_err(|e| params::err(params::STRENGTH, e))?;
    if !(0.0..=1.0).contains(&s) {
        return Err(format!("Strength {s}: use 0 (keep the clip) to 1 (redraw it from noise)"));
    }
    Ok(s as f32)
}

pub fn shown(inst: &Instance, t: f64) -> Result<Shown, String> {
    let (a, b) = range(inst)?;
    if t < a - 0.5 || t > b + 0.5 {
        return Ok(Shown::Source(t));
    }
    let settings = inst.settings(t)?;
    let p = jobs::pipeline(&settings)?;
    let req = jobs::request(&p, &settings, 1)?;
    let strength = strength(inst, t)?;
    if (req.steps as f32 * strength).round() == 0.0 {
        // A strength that runs no step gives the clip back as it is (as `kino remix` does), not
        // the model's view of it at its own rate and size.
        return Ok(Shown::Source(t));
    }
    let frames = model_times(inst, &p, (a, b))
        .into_iter()
        .map(|time| inst.model_frame(time, req.width, req.height))
        .collect::<Result<Vec<_>, String>>()?;
    let n = frames.len();
    let i = retime(inst, &p).model_index((t - a).round().max(0.0) as usize, n);
    let start = Start::Remix { clip: frames, strength_bits: strength.to_bits() };
    Ok(Shown::Generated { key: Box::new(JobKey { settings, frames: n as u32, start }), pick: Pick::FromStart(i) })
}

/// The source's first frame (for the Generate button).
pub fn first_time(inst: &Instance) -> Result<f64, String> {
    Ok(range(inst)?.0)
}

pub fn frames_needed(inst: &Instance, t: f64) -> Vec<(f64, f64)> {
    match range(inst) {
        Ok((a, b)) if t >= a - 0.5 && t <= b + 0.5 => vec![(a, b)],
        _ => vec![(t, t)],
    }
}
