//! Context for a window: given frames, encoded to latents and held in place while the rest of
//! the window is denoised. Plus the latent-tensor helpers the window loop needs.

use std::ops::Range;

use crate::frame::RgbFrame;
use crate::model::components::latent_frames;

/// Where generated footage goes relative to the frames it continues.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// New frames follow the context (extend forwards, animate, chained windows).
    After,
    /// New frames come before the context (extend backwards).
    Before,
}

/// How context latents steer a window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContextMode {
    /// Clean latent frames at timestep 0, for models trained with per-frame timesteps where some
    /// frames are clean context (`conditioning.clean_context`, the demo model).
    Native,
    /// Latent replacement (any model): before every step the context frames are set to the
    /// context noised to that step's sigma, with one fixed noise draw. Weaker continuity: the
    /// model never sees the context clean.
    Replace,
}

impl std::str::FromStr for ContextMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "native" => Ok(ContextMode::Native),
            "replace" => Ok(ContextMode::Replace),
            _ => Err(format!("unknown context mode {s:?}: use native or replace")),
        }
    }
}

/// Normalised context latents `[1, C, k, h, w]` and where they sit in a window.
pub(crate) struct LatentContext {
    pub latents: Vec<f32>,
    pub frames: usize,
    pub placement: Placement,
}

impl LatentContext {
    /// Keeps latent frames `drop..` of an encoder output.
    pub fn new(latents: Vec<f32>, shape: [usize; 5], drop: usize, placement: Placement) -> Self {
        let frames = shape[2].saturating_sub(drop);
        let latents = if drop == 0 { latents } else { latent_frames(&latents, shape, drop, frames) };
        LatentContext { latents, frames, placement }
    }

    /// The context's latent frames within a window of `f`.
    pub fn frame_range(&self, f: usize) -> Range<usize> {
        match self.placement {
            Placement::After => 0..self.frames,
            Placement::Before => f - self.frames..f,
        }
    }
}

/// The VAE encoder's input `[1, 3, F, H, W]` for context frames, and how many leading latent
/// frames to drop from its output. Before a clip, the context's latents must be ordinary
/// (non-first) latent frames, as they are in the middle of a window: a causal VAE gets a copy
/// of the first frame in front, whose own latent frame is dropped.
pub fn encoder_input(frames: &[RgbFrame], causal: bool, placement: Placement) -> (Vec<f32>, [usize; 5], usize) {
    let lead = causal && placement == Placement::Before;
    let list: Vec<&RgbFrame> = if lead { std::iter::once(&frames[0]).chain(frames).collect() } else { frames.iter().collect() };
    let (w, h) = (frames[0].width as usize, frames[0].height as usize);
    let plane = w * h;
    let f = list.len();
    let mut out = vec![0f32; 3 * f * plane];
    for (j, frame) in list.iter().enumerate() {
        let p = frame.to_planar();
        for c in 0..3 {
            out[(c * f + j) * plane..(c * f + j + 1) * plane].copy_from_slice(&p[c * plane..(c + 1) * plane]);
        }
    }
    (out, [1, 3, f, h, w], usize::from(lead))
}

/// Writes `src` (`[1, C, n, h, w]`) into latent frames `range` of a `[1, C, F, h, w]` tensor.
pub fn write_frames(latents: &mut [f32], shape: [usize; 5], range: Range<usize>, src: &[f32]) {
    let [_, c, f, h, w] = shape;
    let plane = h * w;
    let n = range.len();
    for ch in 0..c {
        latents[(ch * f + range.start) * plane..(ch * f + range.end) * plane].copy_from_slice(&src[ch * n * plane..(ch + 1) * n * plane]);
    }
}

/// Raw VAE latents -> the denoiser's space: `(z - mean) * scaling / std` per channel.
pub fn normalise(latents: &mut [f32], shape: [usize; 5], mean: &[f32], std: &[f32], scaling: f32) {
    let [_, c, f, h, w] = shape;
    let plane = f * h * w;
    for ch in 0..c {
        for x in &mut latents[ch * plane..(ch + 1) * plane] {
            *x = (*x - mean[ch]) * scaling / std[ch];
        }
    }
}

/// The inverse of [`normalise`].
pub fn denormalise(latents: &mut [f32], shape: [usize; 5], mean: &[f32], std: &[f32], scaling: f32) {
    let [_, c, f, h, w] = shape;
    let plane = f * h * w;
    for ch in 0..c {
        for x in &mut latents[ch * plane..(ch + 1) * plane] {
            *x = *x * std[ch] / scaling + mean[ch];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_in_channel_major_layout() {
        // [1, C=2, F=3, 1, 2]
        let mut lat: Vec<f32> = (0..12).map(|x| x as f32).collect();
        let shape = [1, 2, 3, 1, 2];
        assert_eq!(latent_frames(&lat, shape, 1, 2), vec![2.0, 3.0, 4.0, 5.0, 8.0, 9.0, 10.0, 11.0]);
        write_frames(&mut lat, shape, 0..1, &[-1.0, -2.0, -3.0, -4.0]);
        assert_eq!(latent_frames(&lat, shape, 0, 1), vec![-1.0, -2.0, -3.0, -4.0]);
        assert_eq!(lat[2..6], [2.0, 3.0, 4.0, 5.0]);
    }

    #[test]
    fn normalise_inverts() {
        let shape = [1, 2, 1, 1, 2];
        let mut x = vec![1.0, 2.0, 3.0, 4.0];
        normalise(&mut x, shape, &[1.0, 2.0], &[2.0, 0.5], 1.5);
        assert_eq!(x, vec![0.0, 0.75, 3.0, 6.0]);
        denormalise(&mut x, shape, &[1.0, 2.0], &[2.0, 0.5], 1.5);
        assert_eq!(x, vec![1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn backward_context_gets_a_lead_frame_that_is_dropped() {
        let f = |v: u8| RgbFrame { width: 1, height: 1, data: vec![v, v, v] };
        let (input, shape, drop) = encoder_input(&[f(0), f(255)], true, Placement::Before);
        assert_eq!((shape, drop), ([1, 3, 3, 1, 1], 1));
        assert_eq!(&input[..3], &[-1.0, -1.0, 1.0]);
        let (_, shape, drop) = encoder_input(&[f(0), f(255)], true, Placement::After);
        assert_eq!((shape, drop), ([1, 3, 2, 1, 1], 0));
        let ctx = LatentContext::new((0..6).map(|x| x as f32).collect(), [1, 2, 3, 1, 1], 1, Placement::Before);
        assert_eq!((ctx.latents.clone(), ctx.frames, ctx.frame_range(5)), (vec![1.0, 2.0, 4.0, 5.0], 2, 3..5));
    }
}
