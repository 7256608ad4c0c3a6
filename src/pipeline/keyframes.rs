//! Keyframes: images placed at given frames of a clip and the footage around them generated.
//! Each image is the clip's frame at its time, exactly. Before the first, footage is made
//! backwards into it (as a prepend); between two, a bridge leads from one into the next; after
//! the last, the clip is extended. Every seam is hidden the way those jobs hide theirs.

use std::collections::VecDeque;

use super::{Pipeline, Placement, Progress};
use crate::error::{Error, Result};
use crate::frame::RgbFrame;
use crate::pipeline::{GenerateRequest, MAX_LONG_FRAMES};

/// An image the clip shows at frame `frame`.
#[derive(Clone, Debug, PartialEq)]
pub struct Keyframe {
    pub frame: u32,
    pub image: RgbFrame,
}

/// Progress units per segment (segments report against their own totals).
const UNITS: usize = 1000;

impl Pipeline {
    /// Generates `req.frames` frames that pass through `keys` (at the request's size, frames
    /// strictly increasing), handing them to `on_frame` in order.
    pub fn generate_keyframes(
        &self,
        req: &GenerateRequest,
        keys: &[Keyframe],
        on_progress: &mut dyn FnMut(Progress) -> bool,
        on_frame: &mut dyn FnMut(RgbFrame) -> Result<()>,
    ) -> Result<()> {
        self.through_keyframes(req, None, None, keys, on_progress, on_frame)
    }

    /// Generates `req.frames` new frames next to `context` (a clip's frames at the seam, at the
    /// request's size, in time order: its last frames for `Placement::After`, its first for
    /// `Before`) that pass through `keys` (frames counted from the first new frame): `kino extend
    /// --keyframe`. After a clip the first stretch bridges from it into the first image; before
    /// one the last stretch bridges from the last image into it. New frames come out in time
    /// order.
    pub fn extend_keyframes(
        &self,
        req: &GenerateRequest,
        context: &[RgbFrame],
        placement: Placement,
        keys: &[Keyframe],
        on_progress: &mut dyn FnMut(Progress) -> bool,
        on_frame: &mut dyn FnMut(RgbFrame) -> Result<()>,
    ) -> Result<()> {
        if keys.is_empty() {
            return self.extend(req, context, placement, req.frames as usize, on_progress, on_frame);
        }
        if context.is_empty() {
            return Err(Error::InvalidRequest("nothing to extend: the clip has no frames".into()));
        }
        req.check_frame_sizes(context, "context frame")?;
        match placement {
            Placement::After => self.through_keyframes(req, Some(context), None, keys, on_progress, on_frame),
            Placement::Before => self.through_keyframes(req, None, Some(context), keys, on_progress, on_frame),
        }
    }

    /// The keyframe walk: footage through `keys`, continuing `before` (frames up to the new
    /// footage) and arriving at `after` (frames from its end on) where they are given.
    fn through_keyframes(
        &self,
        req: &GenerateRequest,
        context: Option<&[RgbFrame]>,
        after: Option<&[RgbFrame]>,
        keys: &[Keyframe],
        on_progress: &mut dyn FnMut(Progress) -> bool,
        on_frame: &mut dyn FnMut(RgbFrame) -> Result<()>,
    ) -> Result<()> {
        req.validate_settings(&self.package)?;
        self.require_encoder("keyframes")?;
        let total = req.frames as usize;
        if total == 0 || total > MAX_LONG_FRAMES as usize {
            return Err(Error::InvalidRequest(format!("make 1 to {MAX_LONG_FRAMES} frames, not {total}")));
        }
        if !req.storyboard.is_empty() {
            return Err(Error::InvalidRequest(
                "keyframes and prompts at later times (a storyboard) do not combine: give one or the other".into(),
            ));
        }
        let Some(first) = keys.first() else {
            return self.generate(req, on_progress, on_frame);
        };
        for (i, k) in keys.iter().enumerate() {
            if k.frame as usize >= total {
                return Err(Error::InvalidRequest(format!(
                    "keyframe {} is at frame {}, past the clip's end (it has {total} frames)",
                    i + 1,
                    k.frame
                )));
            }
            if i > 0 && k.frame <= keys[i - 1].frame {
                return Err(Error::InvalidRequest(format!(
                    "keyframe {} (frame {}) is not after keyframe {} (frame {}): give each its own time, in order",
                    i + 1,
                    k.frame,
                    i,
                    keys[i - 1].frame
                )));
            }
            req.check_frame_sizes([&k.image], &format!("keyframe {}", i + 1))?;
        }
        let l = &self.package.manifest.latent;
        let t = l.temporal_compression.max(1) as usize;
        let (ctx_frames, _) = self.window_layout();
        let (bridge_a, bridge_b) = self.bridge_context_wanted();
        let keep = bridge_a.max(ctx_frames);
        let last = keys[keys.len() - 1].frame as usize;
        // The segments that make footage, for progress: before the first, each gap, after the last.
        let gaps = keys.windows(2).filter(|w| w[1].frame > w[0].frame + 1).count();
        let segments = usize::from(first.frame > 0) + gaps + usize::from(last + 1 < total);
        let mut segment = 0usize;
        // The frames the next stretch continues: a clip's end, else none yet.
        let mut recent: VecDeque<RgbFrame> = context.unwrap_or_default().iter().rev().take(keep).rev().cloned().collect();
        let mut out = |f: RgbFrame, recent: &mut VecDeque<RgbFrame>| -> Result<()> {
            recent.push_back(f.clone());
            if recent.len() > keep {
                recent.pop_front();
            }
            on_frame(f)
        };
        // A segment's progress as a share of the whole job.
        let mut scaled = |segment: usize, p: Progress| {
            let done = segment * UNITS + p.done * UNITS / p.total.max(1);
            on_progress(Progress { done, total: segments.max(1) * UNITS, ..p })
        };

        if let (true, Some(_)) = (first.frame > 0, context) {
            // Bridged from the clip's end into the first image.
            let before: Vec<RgbFrame> = recent.iter().cloned().collect();
            let after = vec![first.image.clone(); bridge_b];
            self.bridge(req, &before, &after, first.frame as usize, &mut |p| scaled(segment, p), &mut |f| out(f, &mut recent))?;
            segment += 1;
        } else if first.frame > 0 {
            // Made backwards into the first image, held as a still for the context.
            let held = vec![first.image.clone(); t * l.latent_frames(ctx_frames as u32).max(1)];
            self.extend(req, &held, Placement::Before, first.frame as usize, &mut |p| scaled(segment, p), &mut |f| out(f, &mut recent))?;
            segment += 1;
        }
        out(first.image.clone(), &mut recent)?;
        for pair in keys.windows(2) {
            let gap = (pair[1].frame - pair[0].frame - 1) as usize;
            if gap > 0 {
                let before: Vec<RgbFrame> = recent.iter().cloned().collect();
                let after = vec![pair[1].image.clone(); bridge_b];
                self.bridge(req, &before, &after, gap, &mut |p| scaled(segment, p), &mut |f| out(f, &mut recent))?;
                segment += 1;
            }
            out(pair[1].image.clone(), &mut recent)?;
        }
        if last + 1 < total {
            let before: Vec<RgbFrame> = recent.iter().cloned().collect();
            let count = total - last - 1;
            match after {
                // Bridged from the last image into the clip after the new footage.
                Some(after) => {
                    let after = &after[..after.len().min(bridge_b)];
                    self.bridge(req, &before, after, count, &mut |p| scaled(segment, p), &mut |f| out(f, &mut recent))?
                }
                None => self.extend(req, &before, Placement::After, count, &mut |p| scaled(segment, p), &mut |f| out(f, &mut recent))?,
            }
        }
        Ok(())
    }
}
