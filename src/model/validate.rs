//! The ranges of kino.json's numbers (docs/model-package.md, "Ranges"). Every number a package
//! states is checked here before anything is allocated from it: a hostile or broken manifest gets
//! a one-line error, never an abort on a 64 GiB allocation.

use std::fmt::Display;
use std::ops::RangeInclusive;

use super::manifest::{ContextAt, Manifest, VaeSpec};

/// Longest tokenizer sequence (prompts are padded to it with `padding: max_length`).
pub const MAX_LENGTH: RangeInclusive<usize> = 1..=4096;
pub const TEXT_DIM: RangeInclusive<usize> = 1..=65536;
pub const CHANNELS: RangeInclusive<usize> = 1..=1024;
pub const COMPRESSION: RangeInclusive<u32> = 1..=64;
/// Pixel sizes: widths, heights, their minimum, maximum and multiple.
pub const SIZE: RangeInclusive<u32> = 1..=crate::limits::MAX_INPUT_SIDE;
pub const MAX_FRAMES: RangeInclusive<u32> = 1..=1025;
pub const FPS_MAX: f64 = 240.0;
/// Only 1 or 2 are used (2 runs the guided pair in one batch); larger values mean 2.
pub const MAX_BATCH: RangeInclusive<usize> = 1..=64;
pub const STEPS: RangeInclusive<usize> = 1..=1000;
pub const GUIDANCE: RangeInclusive<f32> = 0.0..=50.0;
pub const CACHES_MAX: usize = 256;
/// Longest package name or family, in characters.
pub const NAME_MAX: usize = 100;
pub const CHUNK_LATENT_FRAMES: RangeInclusive<usize> = 1..=64;
/// The largest latent the manifest's limits allow (channels x latent frames x height x width at
/// `max_size` and `max_frames`), in elements: 2^28 floats are 1 GiB.
pub const MAX_LATENT_ELEMENTS: u64 = 1 << 28;
/// Longest default negative prompt, in characters (as long as a prompt may be).
pub const NEGATIVE_PROMPT_CHARS: usize = crate::text::MAX_PROMPT_CHARS;

/// `field `X`: V must be within [a, b]`, the one shape of every range error.
/// A value as a message shows it: a number too long to read (1e300 written out) in exponent form.
fn shown(v: &impl Display) -> String {
    let s = v.to_string();
    match s.parse::<f64>() {
        Ok(f) if s.len() > 20 => format!("{f:e}"),
        _ => s,
    }
}

fn range<T: PartialOrd + Display>(field: &str, v: T, r: RangeInclusive<T>) -> Result<(), String> {
    if r.contains(&v) {
        Ok(())
    } else {
        Err(format!("field `{field}`: {} must be within [{}, {}]", shown(&v), r.start(), r.end()))
    }
}

fn finite(field: &str, v: f64) -> Result<(), String> {
    if v.is_finite() {
        Ok(())
    } else {
        Err(format!("field `{field}`: {} must be a finite number", shown(&v)))
    }
}

fn positive(field: &str, v: f64) -> Result<(), String> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(format!("field `{field}`: {} must be a finite number above 0", shown(&v)))
    }
}

/// Checks every number in `m`; the error is one line, `field `X`: ...`.
pub fn check(m: &Manifest) -> Result<(), String> {
    // Printed in listings, progress and errors: one readable line.
    for (field, text) in [("name", &m.name), ("family", &m.family)] {
        let n = text.chars().count();
        if text.trim().is_empty() || n > NAME_MAX || text.chars().any(char::is_control) {
            return Err(format!(
                "field `{field}`: {:?} must be 1 to {NAME_MAX} characters on one line, without control characters",
                text.chars().take(NAME_MAX).collect::<String>()
            ));
        }
    }
    let l = &m.latent;
    range("latent.channels", l.channels, CHANNELS)?;
    range("latent.spatial_compression", l.spatial_compression, COMPRESSION)?;
    range("latent.temporal_compression", l.temporal_compression, COMPRESSION)?;
    let c = l.channels;
    for (field, values) in [("latent.mean", &l.mean), ("latent.std", &l.std)] {
        if values.len() != c {
            return Err(format!("field `{field}`: has {} values but latent.channels is {c}", values.len()));
        }
    }
    for (i, &v) in l.mean.iter().enumerate() {
        finite(&format!("latent.mean[{i}]"), v as f64)?;
    }
    for (i, &v) in l.std.iter().enumerate() {
        positive(&format!("latent.std[{i}]"), v as f64)?;
    }
    positive("latent.scaling_factor", l.scaling_factor as f64)?;

    let v = &m.video;
    if !(v.fps.is_finite() && v.fps > 0.0 && v.fps <= FPS_MAX) {
        return Err(format!("field `video.fps`: {} must be within (0, {FPS_MAX}]", shown(&v.fps)));
    }
    for (field, size) in [("video.min_size", v.min_size), ("video.max_size", v.max_size), ("video.size_multiple", v.size_multiple)] {
        range(field, size, SIZE)?;
    }
    range("video.max_size", v.max_size, v.min_size..=*SIZE.end())?;
    if v.size_multiple % l.spatial_compression != 0 {
        return Err(format!(
            "field `video.size_multiple`: {} must be a multiple of latent.spatial_compression ({})",
            v.size_multiple, l.spatial_compression
        ));
    }
    for (field, size) in [("video.default_width", v.default_width), ("video.default_height", v.default_height)] {
        range(field, size, v.min_size..=v.max_size)?;
        if size % v.size_multiple != 0 {
            return Err(format!("field `{field}`: {size} must be a multiple of video.size_multiple ({})", v.size_multiple));
        }
    }
    range("video.max_frames", v.max_frames, MAX_FRAMES)?;
    range("video.default_frames", v.default_frames, 1..=v.max_frames)?;
    if !v.frames_valid(l, v.default_frames) {
        let rule = if l.causal_first_frame { format!("1 + {}*k", l.temporal_compression) } else { format!("{}*k", l.temporal_compression) };
        return Err(format!(
            "field `video.default_frames`: {} breaks the frame rule {rule} of latent.temporal_compression",
            v.default_frames
        ));
    }
    let side = (v.max_size / l.spatial_compression) as u64;
    let latent = c as u64 * l.latent_frames(v.max_frames) as u64 * side * side;
    if latent > MAX_LATENT_ELEMENTS {
        return Err(format!(
            "fields `video.max_size`, `video.max_frames`, `latent`: the largest latent would hold {latent} values, more than {MAX_LATENT_ELEMENTS}; lower max_size or max_frames"
        ));
    }

    range("tokenizer.max_length", m.tokenizer.max_length, MAX_LENGTH)?;
    range("text_encoder.text_dim", m.text_encoder.text_dim, TEXT_DIM)?;
    super::text_chain::check(&m.text_encoder)?;
    range("denoiser.text_dim", m.denoiser.text_dim, m.text_encoder.text_dim..=m.text_encoder.text_dim)?;
    range("denoiser.max_batch", m.denoiser.max_batch, MAX_BATCH)?;
    if let Some(vc) = &m.denoiser.video_coords {
        for (i, s) in vc.scale.iter().enumerate() {
            finite(&format!("denoiser.video_coords.scale[{i}]"), *s as f64)?;
        }
        positive("denoiser.video_coords.frame_rate", vc.frame_rate as f64)?;
        finite("denoiser.video_coords.causal_offset", vc.causal_offset as f64)?;
    }
    for (field, vae) in std::iter::once(("vae_decoder", &m.vae_decoder)).chain(m.vae_encoder.as_ref().map(|e| ("vae_encoder", e))) {
        match vae {
            VaeSpec::WholeClip { decode_timestep, decode_noise_scale, .. } => {
                range(&format!("{field}.decode_timestep"), *decode_timestep, 0.0..=1.0)?;
                range(&format!("{field}.decode_noise_scale"), *decode_noise_scale, 0.0..=1.0)?;
            }
            VaeSpec::CausalChunks { first_latent_frames, step_latent_frames, caches, .. } => {
                range(&format!("{field}.first_latent_frames"), *first_latent_frames, CHUNK_LATENT_FRAMES)?;
                range(&format!("{field}.step_latent_frames"), *step_latent_frames, CHUNK_LATENT_FRAMES)?;
                if caches.len() > CACHES_MAX {
                    return Err(format!("field `{field}.caches`: {} caches; at most {CACHES_MAX}", caches.len()));
                }
            }
        }
    }

    m.scheduler.validate()?;
    range("defaults.steps", m.defaults.steps, STEPS)?;
    range("defaults.guidance", m.defaults.guidance, GUIDANCE)?;
    if let Some(g) = m.defaults.guidance_given_frames {
        range("defaults.guidance_given_frames", g, GUIDANCE)?;
    }
    if let Some(n) = m.defaults.candidates {
        range("defaults.candidates", n, 1..=crate::pipeline::MAX_CANDIDATES)?;
    }
    if let Some([low, high]) = m.defaults.guidance_interval {
        crate::pipeline::GuidanceInterval::new(low, high).map_err(|e| format!("field `defaults.guidance_interval`: {e}"))?;
    }
    let chars = m.defaults.negative_prompt.chars().count();
    range("defaults.negative_prompt (characters)", chars, 0..=NEGATIVE_PROMPT_CHARS)?;

    let cond = &m.conditioning;
    range("conditioning.context_noise_scale", cond.context_noise_scale, 0.0..=1.0)?;
    if let Some(at) = &cond.context_at {
        if !(at.is_empty() || cond.clean_context || cond.context_channels) {
            return Err("field `conditioning.context_at`: places for clean context need `conditioning.clean_context: true` or `conditioning.context_channels: true`".into());
        }
        if at.contains(&ContextAt::Keyframes) && cond.keyframe_latent.is_none() && l.temporal_compression > 1 {
            return Err(
                "field `conditioning.context_at`: `keyframes` needs `conditioning.keyframe_latent` (how one image becomes a latent frame)"
                    .into(),
            );
        }
    }
    if cond.context_tokens && !(cond.clean_context && m.denoiser.video_coords.is_some()) {
        return Err("field `conditioning.context_tokens`: context as extra tokens needs `conditioning.clean_context: true` and `denoiser.video_coords` (their positions)".into());
    }
    if cond.context_channels {
        if cond.clean_context || cond.context_tokens {
            return Err(
                "field `conditioning.context_channels`: context as input channels goes without `clean_context` and `context_tokens`".into(),
            );
        }
        if m.vae_encoder.is_none() || !m.denoiser.graph.inputs.contains_key("condition") {
            return Err("field `conditioning.context_channels`: needs `vae_encoder` and the denoiser input role `condition`".into());
        }
    }
    if !cond.image_frames.is_empty() {
        let ok = cond.context_channels && m.image_encoder.is_some() && m.denoiser.graph.inputs.contains_key("image_embeds");
        if !ok || cond.image_frames.len() > 2 {
            return Err("field `conditioning.image_frames`: needs `context_channels`, `image_encoder` and the denoiser input role `image_embeds`, and names at most two frames".into());
        }
    }
    if let Some(e) = &m.image_encoder {
        range("image_encoder.tokens", e.tokens, 1..=65536)?;
        range("image_encoder.dim", e.dim, TEXT_DIM)?;
    }
    if let Some(ctx) = cond.context_frames {
        // The context must leave a window room for new frames (fewer latent frames than it).
        range("conditioning.context_frames", ctx, 1..=v.default_frames)?;
        let (k, window) = (l.latent_frames(ctx), l.latent_frames(v.default_frames));
        if k >= window {
            return Err(format!(
                "field `conditioning.context_frames`: {ctx} frames are {k} latent frames, which leaves no new frames in a window of {window} (video.default_frames {})",
                v.default_frames
            ));
        }
    }
    Ok(())
}
