//! Context for a window: given frames, encoded to latents and held in place while the rest of
//! the window is denoised. Plus the latent-tensor helpers the window loop needs.

use std::ops::Range;

use ndarray::{s, Array5, ArrayView3, ArrayView5, Axis};

use crate::error::{Error, Result};
use crate::frame::RgbFrame;
use crate::model::components::latent_frames;
use crate::model::manifest::LatentSpec;

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
    /// The given frames as extra input channels of the denoiser (`conditioning.context_channels`,
    /// Wan2.1 I2V / FLF2V): a mask of the given frames and the VAE's latents of the window with
    /// them in place; the noisy latents hold no context.
    Channels,
}

impl std::str::FromStr for ContextMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "native" => Ok(ContextMode::Native),
            "replace" => Ok(ContextMode::Replace),
            "channels" => Ok(ContextMode::Channels),
            _ => Err(format!("unknown context mode {s:?}: use native, replace or channels")),
        }
    }
}

/// Where context latents sit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Slot {
    /// The window's first latent frames.
    Start,
    /// The window's last latent frames.
    End,
    /// The window's latent frames from this one on.
    At(usize),
    /// Ahead of the window's latents as extra tokens, positioned (by `video_coords`) at pixel
    /// frame `frame_index` of the window: `conditioning.context_tokens`, LTX-Video's conditions.
    Tokens { frame_index: usize },
    /// At pixel frame `n` of the window, for models that take given frames as input channels
    /// (`conditioning.context_channels`), where the latents hold no context.
    Frame(usize),
}

/// Normalised context latents `[1, C, k, h, w]`, where they sit and how strongly they hold.
pub(crate) struct LatentContext {
    pub latents: Array5<f32>,
    pub frames: usize,
    pub slot: Slot,
    /// 1: clean and held for the whole loop; below 1 (LTX's condition strength): mixed with the
    /// window's noise by `strength` and held only until the noise level falls below
    /// `1 - strength`, then denoised with the rest.
    pub strength: f32,
    /// Frames this job made itself (a long clip's earlier window, a long extension's footage
    /// once it has replaced the clip's frames in the context), not frames the user gave:
    /// the window is guided and steps as a window from text is (`guidance_given_frames` and
    /// `stochastic_given_frames` are about the user's frames, which a seam must meet exactly).
    pub own: bool,
    /// The pixel frames these latents were encoded from (`None` for latents made otherwise):
    /// what a `context_channels` model takes.
    pub pixels: Option<std::sync::Arc<Vec<RgbFrame>>>,
}

impl LatentContext {
    /// Keeps latent frames `drop..` of an encoder output.
    pub fn new(latents: Array5<f32>, drop: usize, placement: Placement) -> Self {
        let frames = latents.dim().2.saturating_sub(drop);
        let latents = if drop == 0 { latents } else { latent_frames(latents.view(), drop.min(latents.dim().2), frames) };
        let slot = match placement {
            Placement::After => Slot::Start,
            Placement::Before => Slot::End,
        };
        LatentContext { latents, frames, slot, strength: 1.0, own: false, pixels: None }
    }

    /// The same latents in another slot.
    pub fn at(self, slot: Slot) -> Self {
        LatentContext { slot, ..self }
    }

    /// The same latents, marked as frames this job made itself.
    pub fn made_by_this_job(self) -> Self {
        LatentContext { own: true, ..self }
    }

    /// Whether these frames come before every frame the window makes (at its start, or as
    /// tokens at frame 0): a window with only such frames continues them.
    pub fn precedes_the_made_frames(&self) -> bool {
        matches!(self.slot, Slot::Start | Slot::At(0) | Slot::Tokens { frame_index: 0 } | Slot::Frame(0))
    }

    /// The latent frames from `from` on only.
    pub fn frames_from(&self, from: usize) -> Array5<f32> {
        latent_frames(self.latents.view(), from.min(self.frames), self.frames.saturating_sub(from))
    }

    /// The context's latent frames within a window of `f` (an error when it does not fit);
    /// `None` for extra tokens.
    pub fn frame_range(&self, f: usize) -> Result<Option<Range<usize>>> {
        let start = match self.slot {
            Slot::Start => 0,
            Slot::End => f.saturating_sub(self.frames),
            Slot::At(j) => j,
            Slot::Tokens { .. } | Slot::Frame(_) => return Ok(None),
        };
        if self.frames > f || start + self.frames > f {
            return Err(Error::InvalidRequest(format!(
                "{} latent frames of context from latent frame {start} do not fit a window of {f}: give fewer context frames",
                self.frames
            )));
        }
        Ok(Some(start..start + self.frames))
    }
}

impl LatentContext {
    /// The first pixel frame of these `given` frames in a window of `pixel_frames` frames.
    pub fn pixel_start(&self, pixel_frames: usize, given: usize, latent: &LatentSpec) -> usize {
        match self.slot {
            Slot::Start => 0,
            Slot::End => pixel_frames.saturating_sub(given),
            Slot::At(j) => latent.pixel_frames(j),
            Slot::Tokens { frame_index } | Slot::Frame(frame_index) => frame_index,
        }
    }
}

/// The VAE encoder's input `[1, 3, F, H, W]` for context frames (all of one size), and how many
/// leading latent frames to drop from its output. Before a clip, the context's latents must be
/// ordinary (non-first) latent frames, as they are in the middle of a window: a causal VAE gets a
/// copy of the first frame in front, whose own latent frame is dropped.
pub fn encoder_input(frames: &[RgbFrame], causal: bool, placement: Placement) -> Result<(Array5<f32>, usize)> {
    let Some(first) = frames.first() else {
        return Err(Error::InvalidRequest("no context frames to encode".into()));
    };
    let lead = causal && placement == Placement::Before;
    let list: Vec<&RgbFrame> = if lead { std::iter::once(first).chain(frames).collect() } else { frames.iter().collect() };
    let (w, h) = (first.width as usize, first.height as usize);
    let mut out = Array5::<f32>::zeros((1, 3, list.len(), h, w));
    for (j, frame) in list.iter().enumerate() {
        let planar = frame.to_planar();
        let planes = ArrayView3::from_shape((3, h, w), &planar)
            .ok()
            .filter(|_| (frame.width, frame.height) == (first.width, first.height))
            .ok_or_else(|| Error::InvalidRequest(format!("context frame {j} is {}x{}, the first {w}x{h}", frame.width, frame.height)))?;
        out.slice_mut(s![0, .., j, .., ..]).assign(&planes);
    }
    Ok((out, usize::from(lead)))
}

/// Writes `src` (`[1, C, n, h, w]`) into latent frames `range` of a `[1, C, F, h, w]` tensor.
pub fn write_frames(latents: &mut Array5<f32>, range: Range<usize>, src: ArrayView5<'_, f32>) {
    latents.slice_mut(s![.., .., range, .., ..]).assign(&src);
}

/// Raw VAE latents -> the denoiser's space: `(z - mean) * scaling / std` per channel.
pub fn normalise(latents: &mut Array5<f32>, mean: &[f32], std: &[f32], scaling: f32) {
    for ((mut x, m), s) in latents.axis_iter_mut(Axis(1)).zip(mean).zip(std) {
        x.mapv_inplace(|z| (z - m) * scaling / s);
    }
}

/// The inverse of [`normalise`].
pub fn denormalise(latents: &mut Array5<f32>, mean: &[f32], std: &[f32], scaling: f32) {
    for ((mut x, m), s) in latents.axis_iter_mut(Axis(1)).zip(mean).zip(std) {
        x.mapv_inplace(|z| z * s / scaling + m);
    }
}

/// A standard-layout array's values in order, for the scheduler (which knows nothing of shapes).
pub fn flat(a: &Array5<f32>) -> Result<&[f32]> {
    a.as_slice().ok_or_else(|| Error::InvalidRequest("latents are not in standard layout".into()))
}

/// As [`flat`], mutable.
pub fn flat_mut(a: &mut Array5<f32>) -> Result<&mut [f32]> {
    a.as_slice_mut().ok_or_else(|| Error::InvalidRequest("latents are not in standard layout".into()))
}

#[cfg(test)]
mod tests {
    use ndarray::Array;

    use super::*;

    fn values(a: &Array5<f32>) -> Vec<f32> {
        a.iter().copied().collect()
    }

    #[test]
    fn frames_round_trip_in_channel_major_layout() {
        // [1, C=2, F=3, 1, 2]
        let mut lat = Array::from_shape_vec((1, 2, 3, 1, 2), (0..12).map(|x| x as f32).collect()).unwrap();
        assert_eq!(values(&latent_frames(lat.view(), 1, 2)), vec![2.0, 3.0, 4.0, 5.0, 8.0, 9.0, 10.0, 11.0]);
        let src = Array::from_shape_vec((1, 2, 1, 1, 2), vec![-1.0, -2.0, -3.0, -4.0]).unwrap();
        write_frames(&mut lat, 0..1, src.view());
        assert_eq!(values(&latent_frames(lat.view(), 0, 1)), vec![-1.0, -2.0, -3.0, -4.0]);
        assert_eq!(flat(&lat).unwrap()[2..6], [2.0, 3.0, 4.0, 5.0]);
    }

    #[test]
    fn normalise_inverts() {
        let mut x = Array::from_shape_vec((1, 2, 1, 1, 2), vec![1.0, 2.0, 3.0, 4.0]).unwrap();
        normalise(&mut x, &[1.0, 2.0], &[2.0, 0.5], 1.5);
        assert_eq!(values(&x), vec![0.0, 0.75, 3.0, 6.0]);
        denormalise(&mut x, &[1.0, 2.0], &[2.0, 0.5], 1.5);
        assert_eq!(values(&x), vec![1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn backward_context_gets_a_lead_frame_that_is_dropped() {
        let f = |v: u8| RgbFrame { width: 1, height: 1, data: vec![v, v, v] };
        let (input, drop) = encoder_input(&[f(0), f(255)], true, Placement::Before).unwrap();
        assert_eq!((input.shape(), drop), (&[1, 3, 3, 1, 1][..], 1));
        assert_eq!(&values(&input)[..3], &[-1.0, -1.0, 1.0]);
        let (input, drop) = encoder_input(&[f(0), f(255)], true, Placement::After).unwrap();
        assert_eq!((input.shape(), drop), (&[1, 3, 2, 1, 1][..], 0));
        assert!(encoder_input(&[], true, Placement::After).is_err());
        let two = RgbFrame { width: 2, height: 1, data: vec![0; 6] };
        assert!(encoder_input(&[f(0), two], false, Placement::After).is_err(), "frames of two sizes");
        let latents = Array::from_shape_vec((1, 2, 3, 1, 1), (0..6).map(|x| x as f32).collect()).unwrap();
        let ctx = LatentContext::new(latents, 1, Placement::Before);
        assert_eq!((values(&ctx.latents), ctx.frames, ctx.frame_range(5).unwrap()), (vec![1.0, 2.0, 4.0, 5.0], 2, Some(3..5)));
        assert!(ctx.frame_range(1).is_err());
    }
}
