//! `kino.json`, schema version 1 (docs/model-package.md).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::scheduler::SchedulerConfig;

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub schema_version: u32,
    pub name: String,
    #[serde(default)]
    pub family: String,
    #[serde(default)]
    pub description: String,
    pub video: VideoSpec,
    pub latent: LatentSpec,
    pub tokenizer: TokenizerSpec,
    pub text_encoder: TextEncoderSpec,
    pub denoiser: DenoiserSpec,
    pub vae_decoder: VaeSpec,
    #[serde(default)]
    pub vae_encoder: Option<VaeSpec>,
    /// Image tokens for models conditioned on images besides the text (Wan2.1 I2V / FLF2V's CLIP
    /// vision tower); used with `conditioning.image_frames`.
    #[serde(default)]
    pub image_encoder: Option<ImageEncoderSpec>,
    pub scheduler: SchedulerConfig,
    pub defaults: Defaults,
    #[serde(default)]
    pub conditioning: Conditioning,
    /// Informational only (how the package was made).
    #[serde(default)]
    pub training: Option<serde_json::Value>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VideoSpec {
    pub fps: f64,
    pub default_width: u32,
    pub default_height: u32,
    pub default_frames: u32,
    pub size_multiple: u32,
    pub min_size: u32,
    pub max_size: u32,
    pub max_frames: u32,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LatentSpec {
    pub channels: usize,
    pub spatial_compression: u32,
    pub temporal_compression: u32,
    pub causal_first_frame: bool,
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
    #[serde(default = "one")]
    pub scaling_factor: f32,
}

fn one() -> f32 {
    1.0
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Padding {
    /// Every prompt padded to `max_length` (Wan, LTX).
    MaxLength,
    /// Padded to the longest prompt in the batch.
    Longest,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum PromptCleaning {
    #[default]
    None,
    /// Collapse runs of whitespace and strip the ends.
    Whitespace,
}

/// What the text encoder is given for words the tokenizer reads as its unknown token.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum UnknownWords {
    /// The unknown token, where the word was (subword tokenizers, which were trained with it).
    #[default]
    Keep,
    /// Nothing: the prompt is read as if the words were not there. For word-level vocabularies
    /// whose encoder never saw its unknown token in training (the demo model: an unknown word
    /// in a prompt cost it a tenth of its adherence).
    Drop,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TokenizerSpec {
    pub file: String,
    pub max_length: usize,
    pub padding: Padding,
    #[serde(default)]
    pub clean: PromptCleaning,
    #[serde(default)]
    pub unknown_words: UnknownWords,
}

/// A tensor of a graph, by role.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TensorSpec {
    pub name: String,
    pub dtype: String,
}

/// One ONNX graph: its file and its inputs/outputs by role.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GraphSpec {
    pub file: String,
    pub inputs: BTreeMap<String, TensorSpec>,
    pub outputs: BTreeMap<String, TensorSpec>,
}

// `flatten` and `deny_unknown_fields` do not combine in serde; these structs accept extra keys.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct TextEncoderSpec {
    #[serde(flatten)]
    pub graph: GraphSpec,
    pub text_dim: usize,
    #[serde(default)]
    pub zero_past_length: bool,
    /// Feed the encoder an all-ones attention mask, so padding tokens are attended as in
    /// diffusers' `LTXPipeline`, which runs T5 without a mask (`LTXConditionPipeline` passes the
    /// real one). The denoiser's `text_mask` is the real mask either way.
    #[serde(default)]
    pub attend_to_padding: bool,
    /// Graphs run after the top-level one, in order (an encoder too large for one graph, split
    /// by the exporter). Values pass by role: the token batch gives `input_ids` and
    /// `attention_mask`, each graph takes its inputs from the values so far and adds its outputs
    /// (replacing a value of the same role); the last graph outputs `text_embeds`. Empty: one graph.
    #[serde(default)]
    pub stages: Vec<GraphSpec>,
}

impl TextEncoderSpec {
    /// Every graph of the chain in run order, with the manifest field that names it
    /// (`text_encoder`, `text_encoder.stages[0]`, ...).
    pub fn chain(&self) -> Vec<(String, &GraphSpec)> {
        let stages = self.stages.iter().enumerate().map(|(i, g)| (format!("text_encoder.stages[{i}]"), g));
        std::iter::once(("text_encoder".to_string(), &self.graph)).chain(stages).collect()
    }
}

/// The image encoder: a square image `[N, 3, S, S]` in [-1, 1] (the centre square of a frame, at
/// any side: the graph resizes it) -> image tokens `[N, tokens, dim]`.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct ImageEncoderSpec {
    #[serde(flatten)]
    pub graph: GraphSpec,
    /// Tokens per image.
    pub tokens: usize,
    /// Width of a token.
    pub dim: usize,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TimestepShape {
    PerSample,
    PerFrame,
    PerToken,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct DenoiserSpec {
    #[serde(flatten)]
    pub graph: GraphSpec,
    pub timestep_shape: TimestepShape,
    pub text_dim: usize,
    #[serde(default = "one_usize")]
    pub max_batch: usize,
    /// Per-token position coordinates fed as the `video_coords` input (LTX-Video).
    #[serde(default)]
    pub video_coords: Option<VideoCoords>,
}

/// How kino computes a denoiser's `video_coords` input `[B, 3, F*h*w]`: for the latent token at
/// frame `f`, row `y`, column `x` (row-major over `(f, y, x)`), the coordinates in pixel units
/// `[max(f*scale[0] + causal_offset, 0) / frame_rate, y*scale[1], x*scale[2]]`. LTX-Video's
/// rotary embedding reads positions this way (`LTXConditionPipeline` uses `causal_offset = 1 - scale[0]`,
/// `LTXPipeline` 0).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VideoCoords {
    /// Pixels (frames) per latent step along (t, y, x): the VAE's compression times the patch size.
    pub scale: [f32; 3],
    pub frame_rate: f32,
    #[serde(default)]
    pub causal_offset: f32,
}

impl VideoCoords {
    /// `[B, 3, F*h*w]` coordinates for latents of shape `[B, _, F, h, w]`.
    pub fn for_shape(&self, batch: usize, frames: usize, h: usize, w: usize) -> Vec<f32> {
        self.for_positions(batch, &self.frame_positions(frames, 0.0), h, w)
    }

    /// The time position, in pixel frames, of each of `frames` latent frames whose first frame
    /// is pixel frame `frame_index`: `max(f*scale[0] + causal_offset, 0) + frame_index`
    /// (LTXConditionPipeline places a condition at `frame_index` this way).
    pub fn frame_positions(&self, frames: usize, frame_index: f32) -> Vec<f32> {
        (0..frames).map(|f| ((f as f32) * self.scale[0] + self.causal_offset).max(0.0) + frame_index).collect()
    }

    /// `[B, 3, F*h*w]` coordinates for latent frames at time `positions` (pixel frames, one per
    /// latent frame, see [`Self::frame_positions`]) of `h` x `w` tokens each.
    pub fn for_positions(&self, batch: usize, positions: &[f32], h: usize, w: usize) -> Vec<f32> {
        let seq = positions.len() * h * w;
        let mut one = vec![0f32; 3 * seq];
        for (f, p) in positions.iter().enumerate() {
            let t = p / self.frame_rate;
            for y in 0..h {
                for x in 0..w {
                    let i = (f * h + y) * w + x;
                    one[i] = t;
                    one[seq + i] = y as f32 * self.scale[1];
                    one[2 * seq + i] = x as f32 * self.scale[2];
                }
            }
        }
        one.repeat(batch)
    }
}

fn one_usize() -> usize {
    1
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum VaeSpec {
    WholeClip {
        #[serde(flatten)]
        graph: GraphSpec,
        #[serde(default)]
        timestep_conditioned: bool,
        #[serde(default)]
        decode_timestep: f32,
        #[serde(default)]
        decode_noise_scale: f32,
    },
    CausalChunks {
        first: GraphSpec,
        step: GraphSpec,
        #[serde(default = "one_usize")]
        first_latent_frames: usize,
        #[serde(default = "one_usize")]
        step_latent_frames: usize,
        /// Cache names, in order: roles `cache_in_<i>` / `cache_out_<i>`.
        #[serde(default)]
        caches: Vec<String>,
    },
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    pub steps: usize,
    pub guidance: f32,
    /// Guidance for windows whose footage goes from given frames into the user's (bridge, loop,
    /// keyframes) or remix a clip at strength 0.5 or less, where the request leaves guidance to
    /// the model; absent: `guidance` everywhere. Windows that only continue frames (animate,
    /// extend forwards, a long clip's later windows) or only arrive at them (extend backwards)
    /// and remix above 0.5 take `guidance`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guidance_given_frames: Option<f32>,
    /// Noise levels `[low, high]` (0 clean, 1 pure noise) at which guidance runs; the steps
    /// outside run the prompt alone, one model run instead of two. Absent: every step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guidance_interval: Option<[f32; 2]>,
    #[serde(default)]
    pub negative_prompt: String,
    /// Draws of each window whose new footage arrives at given frames (extend backwards,
    /// bridges, loops, footage into a keyframe): the draw whose decode of the given frames comes
    /// nearest to them is kept. Absent: one draw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidates: Option<usize>,
}

#[derive(Clone, Debug, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Conditioning {
    /// Trained with per-frame timesteps where some latent frames are clean context.
    #[serde(default)]
    pub clean_context: bool,
    #[serde(default = "yes")]
    pub text: bool,
    /// Pixel frames of context a window continues from when extending or chaining windows
    /// (default `1 + temporal_compression`: two latent frames with a causal VAE).
    #[serde(default)]
    pub context_frames: Option<u32>,
    /// Native conditioning: the clean context is re-noised at each step by
    /// `context_noise_scale * (t / num_train_timesteps)^2` standard deviations before the model
    /// sees it (LTX-Video's `image_cond_noise_scale`, 0.15 in its pipelines); 0 keeps it clean.
    #[serde(default)]
    pub context_noise_scale: f32,
    /// Where in a window clean context may sit (the masks the model was trained with). Absent:
    /// `start` and `end` for a `clean_context` model, nothing otherwise.
    #[serde(default)]
    pub context_at: Option<Vec<ContextAt>>,
    /// How one image becomes a latent frame past the first, for keyframes.
    #[serde(default)]
    pub keyframe_latent: Option<KeyframeLatent>,
    /// Clean context may also sit ahead of the window as extra tokens, placed in time by their
    /// `video_coords` (LTX-Video's conditions at `frame_index` > 0, `LTXConditionPipeline`):
    /// given frames at any time of a window, encoded as a clip of their own. Makes `both_ends`
    /// and `keyframes` places of a `clean_context` model. Needs `denoiser.video_coords`.
    #[serde(default)]
    pub context_tokens: bool,
    /// Given frames go in as extra input channels of the denoiser (Wan2.1 I2V / FLF2V): its
    /// `condition` input is `[B, t + C, f, h, w]`, `t = temporal_compression` mask channels (for
    /// each latent frame, which of its pixel frames are given; the causal first frame's one
    /// repeated) and the normalised VAE latents of the window's frames with the given ones in
    /// place and zeros (mid-grey) elsewhere. The noisy latents themselves hold no context.
    #[serde(default)]
    pub context_channels: bool,
    /// Frames of the window whose image tokens (`image_encoder`) the denoiser takes as its
    /// `image_embeds` input, one image after another: `[first]` (I2V) or `[first, last]` (FLF2V).
    /// These frames must be given in every window.
    #[serde(default)]
    pub image_frames: Vec<ImageFrame>,
}

/// A frame of a window whose image the denoiser sees (`conditioning.image_frames`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageFrame {
    First,
    Last,
}

/// A place clean context can take in a window (`conditioning.context_at`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ContextAt {
    /// The first latent frames: extend forwards, animate a still.
    Start,
    /// The last latent frames: extend backwards.
    End,
    /// First and last latent frames at once: bridge two clips, loop.
    BothEnds,
    /// Single latent frames anywhere in the window: keyframes.
    Keyframes,
}

impl std::fmt::Display for ContextAt {
    /// As `kino.json` spells it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ContextAt::Start => "start",
            ContextAt::End => "end",
            ContextAt::BothEnds => "both_ends",
            ContextAt::Keyframes => "keyframes",
        })
    }
}

/// How a single image is encoded as a latent frame other than the causal first one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyframeLatent {
    /// The image held for the latent frame's whole group of `temporal_compression` frames.
    StillGroup,
}

impl Conditioning {
    /// The places clean context can take, with the default for packages that predate the field.
    pub fn context_places(&self) -> Vec<ContextAt> {
        match (&self.context_at, self.clean_context) {
            (Some(at), _) => at.clone(),
            (None, _) if self.context_channels => vec![ContextAt::Start],
            (None, true) if self.context_tokens => vec![ContextAt::Start, ContextAt::End, ContextAt::BothEnds, ContextAt::Keyframes],
            (None, true) => vec![ContextAt::Start, ContextAt::End],
            (None, false) => Vec::new(),
        }
    }

    /// Whether the model was trained with clean context at `at`.
    pub fn supports(&self, at: ContextAt) -> bool {
        self.context_places().contains(&at)
    }
}

fn yes() -> bool {
    true
}

impl VideoSpec {
    /// Whether `frames` follows the causal rule `1 + t*k`.
    pub fn frames_valid(&self, latent: &LatentSpec, frames: u32) -> bool {
        let t = latent.temporal_compression.max(1);
        if latent.causal_first_frame {
            frames >= 1 && (frames - 1) % t == 0
        } else {
            frames >= t && frames % t == 0
        }
    }
}

impl LatentSpec {
    /// Latent frames for a pixel frame count that follows the causal rule.
    pub fn latent_frames(&self, frames: u32) -> usize {
        let t = self.temporal_compression.max(1);
        if self.causal_first_frame {
            (1 + (frames.saturating_sub(1)) / t) as usize
        } else {
            (frames / t) as usize
        }
    }

    /// Pixel frames of the first `k` latent frames, which is also the first pixel frame of latent
    /// frame `k`: `1 + t*(k-1)` with a causal first frame (0 for none), `t*k` without.
    pub fn pixel_frames(&self, k: usize) -> usize {
        let t = self.temporal_compression.max(1) as usize;
        match (k, self.causal_first_frame) {
            (0, _) => 0,
            (k, true) => 1 + t * (k - 1),
            (k, false) => t * k,
        }
    }

    /// The largest valid frame count of at most `n` frames (0 when there is none): `1 + t*k`
    /// with a causal first frame, `t*k` without.
    pub fn valid_frames_up_to(&self, n: usize) -> usize {
        let t = self.temporal_compression.max(1) as usize;
        if self.causal_first_frame {
            if n == 0 {
                0
            } else {
                1 + t * ((n - 1) / t)
            }
        } else {
            t * (n / t)
        }
    }

    /// The valid frame count nearest to `frames` (ties go up), at least the smallest valid one.
    pub fn nearest_valid_frames(&self, frames: f64) -> u32 {
        let t = self.temporal_compression.max(1) as f64;
        let (base, min) = if self.causal_first_frame { (1.0, 1.0) } else { (0.0, t) };
        let k = ((frames - base) / t).round().max(0.0);
        (base + k * t).max(min) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn latent(causal: bool) -> LatentSpec {
        serde_json::from_value(serde_json::json!({
            "channels": 4, "spatial_compression": 4, "temporal_compression": 4,
            "causal_first_frame": causal, "mean": [0.0], "std": [1.0]
        }))
        .unwrap()
    }

    #[test]
    fn video_coords_follow_token_order() {
        let vc = VideoCoords { scale: [8.0, 32.0, 32.0], frame_rate: 25.0, causal_offset: -7.0 };
        let c = vc.for_shape(2, 2, 1, 2);
        assert_eq!(c.len(), 2 * 3 * 4);
        // tokens (f, y, x): (0,0,0) (0,0,1) (1,0,0) (1,0,1)
        assert_eq!(&c[..4], &[0.0, 0.0, 1.0 / 25.0, 1.0 / 25.0]);
        assert_eq!(&c[4..8], &[0.0; 4]);
        assert_eq!(&c[8..12], &[0.0, 32.0, 0.0, 32.0]);
        assert_eq!(&c[..12], &c[12..]);
    }

    #[test]
    fn valid_frames_up_to_follows_the_causal_rule() {
        assert_eq!(latent(true).valid_frames_up_to(5), 5);
        assert_eq!(latent(true).valid_frames_up_to(4), 1);
        assert_eq!(latent(true).valid_frames_up_to(0), 0);
        assert_eq!(latent(false).valid_frames_up_to(7), 4);
    }

    #[test]
    fn pixel_frames_count_and_start_latent_frames() {
        // t = 4: a causal first latent frame is one pixel frame, each later one four.
        assert_eq!((0..4).map(|k| latent(true).pixel_frames(k)).collect::<Vec<_>>(), vec![0, 1, 5, 9]);
        assert_eq!((0..4).map(|k| latent(false).pixel_frames(k)).collect::<Vec<_>>(), vec![0, 4, 8, 12]);
        for k in 1..6 {
            let l = latent(true);
            assert_eq!(l.latent_frames(l.pixel_frames(k) as u32), k);
        }
    }
}
