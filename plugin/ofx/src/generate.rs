//! "Kino Generate": a clip from the prompt, the frames `kino generate` makes for the same
//! settings. Time `t` shows the model frame nearest `t` seconds after the output's start.

use crate::actions::{Instance, Pick, Shown};
use crate::jobs::{self, JobKey, Start};
use kino::footage::Retime;
use kino::model::ModelPackage;

/// The output's first frame (its frame range, else 0).
pub fn first_time(inst: &Instance) -> Result<f64, String> {
    let out = inst.fx.clip(crate::abi::kOfxImageEffectOutputClipName).ok();
    Ok(out
        .and_then(|c| c.props.doubles::<2>(crate::abi::kOfxImageEffectPropFrameRange).ok())
        .map(|r| r[0])
        .filter(|v| v.is_finite())
        .unwrap_or(0.0))
}

pub fn shown(inst: &Instance, t: f64) -> Result<Shown, String> {
    let settings = inst.settings(t)?;
    let p = jobs::pipeline(&settings)?;
    let frames = jobs::frames_for(&p, settings.seconds());
    let retime = Retime::new(inst.host_fps(), p.package.manifest.video.fps);
    let i = retime.model_index_after(t - first_time(inst)?, frames as usize);
    Ok(Shown::Generated { key: Box::new(JobKey { settings, frames, start: Start::Text }), pick: Pick::FromStart(i) })
}

/// General context: as long as the duration, at the host's rate.
pub fn time_domain(inst: &Instance) -> Option<(f64, f64)> {
    let s = inst.settings(0.0).ok()?;
    // The frame count needs only the manifest, not a loaded model.
    let dir = jobs::model_dir(&s.model);
    let fps = inst.host_fps();
    let n = match ModelPackage::load(&dir) {
        Ok(pkg) => {
            let m = &pkg.manifest;
            let raw = s.seconds() * m.video.fps;
            let exact = raw.round().max(1.0) as u32;
            let model = if exact <= m.video.max_frames { m.latent.nearest_valid_frames(raw).min(m.video.max_frames) } else { exact };
            (model as f64 / m.video.fps * fps).round()
        }
        Err(_) => (s.seconds() * fps).round(),
    };
    Some((0.0, (n - 1.0).max(0.0)))
}
