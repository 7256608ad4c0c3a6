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
    let keys = if settings.keyframes.trim().is_empty() { Vec::new() } else { keyframes(inst, &p, &settings, frames)? };
    let start = match keys {
        keys if keys.is_empty() => Start::Text,
        _ if settings.looped => return Err("Loop and Keyframes do not combine: use one or the other".into()),
        keys => Start::Keyframes(keys),
    };
    Ok(Shown::Generated { key: Box::new(JobKey { settings, frames, start }), pick: Pick::FromStart(i) })
}

/// The Keyframes field's images at the model's size (read through the window the footage is
/// shown in, as Animate reads its still), with their model frames.
fn keyframes(inst: &Instance, p: &kino::Pipeline, s: &crate::params::Settings, frames: u32) -> Result<Vec<(u32, kino::RgbFrame)>, String> {
    // Times as the user sees them: seconds, or frames at the project's rate; then model frames.
    let (host_fps, model_fps) = (inst.host_fps(), p.package.manifest.video.fps);
    let entries = kino::pipeline::parse_keyframe_list(&s.keyframes, host_fps, "Keyframes").map_err(|e| e.to_string())?;
    let req = jobs::request(p, s, frames)?;
    entries
        .into_iter()
        .map(|(at, path)| {
            let frame = (at as f64 / host_fps * model_fps).round() as u32;
            let image = crate::actions::fitted_image_file(&path, req.width, req.height, inst.fit().inverse())
                .map_err(|e| format!("Keyframes: {e}"))?;
            Ok((frame, image))
        })
        .collect()
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
