//! Storyboards that cut: a line marked `[cut]` starts a new shot, made from its prompt alone
//! (no context from the frames before), so the look can change at once. Each shot is a clip of
//! its own, made as `generate` makes one (its own storyboard lines, its own windows), with the
//! request's seed plus the shot's number; shots are joined end to end.

use super::{Pipeline, Progress, PromptAt};
use crate::error::{Error, Result};
use crate::frame::RgbFrame;
use crate::pipeline::GenerateRequest;

/// Progress units per shot (each reports against its own total).
const UNITS: usize = 1000;

/// One shot: its first frame in the clip, and its request (frames, prompt, storyboard, seed).
pub(super) struct Shot {
    pub start: u32,
    pub req: GenerateRequest,
}

/// The request's shots, split at its `[cut]` lines. Each shot's frame count is a length the
/// model makes (one window's counts follow its frame rule); `len` frames of it are used.
pub(super) fn shots(req: &GenerateRequest) -> Vec<(Shot, u32)> {
    let mut starts: Vec<(u32, String, Vec<PromptAt>)> = vec![(0, req.prompt.clone(), Vec::new())];
    for p in &req.storyboard {
        if p.cut {
            starts.push((p.frame, p.prompt.clone(), Vec::new()));
        } else if let Some((start, _, board)) = starts.last_mut() {
            board.push(PromptAt { frame: p.frame - *start, cut: false, ..p.clone() });
        }
    }
    let n = starts.len();
    (0..n)
        .map(|k| {
            let (start, prompt, board) = &starts[k];
            let end = starts.get(k + 1).map_or(req.frames, |s| s.0);
            let len = end - start;
            let shot = GenerateRequest {
                prompt: prompt.clone(),
                storyboard: board.clone(),
                frames: len,
                seed: req.seed.wrapping_add(k as u64),
                ..req.clone()
            };
            (Shot { start: *start, req: shot }, len)
        })
        .collect()
}

impl Pipeline {
    /// `generate` for a storyboard with cuts: each shot made on its own, joined end to end.
    pub(super) fn generate_shots(
        &self,
        req: &GenerateRequest,
        on_progress: &mut dyn FnMut(Progress) -> bool,
        on_frame: &mut dyn FnMut(RgbFrame) -> Result<()>,
    ) -> Result<()> {
        let m = &self.package.manifest;
        let shots = shots(req);
        let n = shots.len();
        for (k, (mut shot, len)) in shots.into_iter().enumerate() {
            // A shot of one window is made at the nearest count the model makes at or above its
            // length; the extra frames at its end are dropped.
            if shot.req.frames <= m.video.max_frames {
                let t = m.latent.temporal_compression.max(1);
                shot.req.frames = (len..=m.video.max_frames + t)
                    .find(|&f| m.latent.valid_frames_up_to(f as usize) == f as usize)
                    .unwrap_or(len)
                    .min(m.video.max_frames.max(len));
            }
            if !shot.req.storyboard.is_empty() && shot.req.frames <= m.video.default_frames {
                return Err(Error::InvalidRequest(format!(
                    "the shot from frame {} changes prompts inside it: make it longer than one window ({} frames) of model {}",
                    shot.start, m.video.default_frames, m.name
                )));
            }
            let mut sent = 0u32;
            let mut scaled =
                |p: Progress| on_progress(Progress { done: k * UNITS + p.done * UNITS / p.total.max(1), total: n * UNITS, ..p });
            let mut keep = |f: RgbFrame| {
                sent += 1;
                if sent <= len {
                    on_frame(f)
                } else {
                    Ok(())
                }
            };
            self.generate_from(&shot.req, None, &mut scaled, &mut keep)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_starts_a_shot_of_its_own() {
        let mut req = GenerateRequest {
            prompt: "a red circle".into(),
            negative_prompt: None,
            width: 64,
            height: 64,
            frames: 48,
            steps: 4,
            guidance: 4.0,
            guidance_given_frames: None,
            guidance_interval: None,
            seed: 10,
            sampler: None,
            context_mode: None,
            storyboard: Vec::new(),
            candidates: 1,
        };
        req.storyboard = vec![
            PromptAt { frame: 8, prompt: "a red circle moving up".into(), cut: false, place: String::new() },
            PromptAt { frame: 24, prompt: "a blue square".into(), cut: true, place: String::new() },
            PromptAt { frame: 40, prompt: "a blue square moving up".into(), cut: false, place: String::new() },
        ];
        let s = shots(&req);
        assert_eq!(s.len(), 2);
        let (a, b) = (&s[0], &s[1]);
        assert_eq!((a.0.start, a.1, a.0.req.seed, a.0.req.prompt.as_str()), (0, 24, 10, "a red circle"));
        assert_eq!(a.0.req.storyboard, [PromptAt { frame: 8, prompt: "a red circle moving up".into(), cut: false, place: String::new() }]);
        assert_eq!((b.0.start, b.1, b.0.req.seed, b.0.req.prompt.as_str()), (24, 24, 11, "a blue square"));
        assert_eq!(
            b.0.req.storyboard,
            [PromptAt { frame: 16, prompt: "a blue square moving up".into(), cut: false, place: String::new() }]
        );
    }
}
