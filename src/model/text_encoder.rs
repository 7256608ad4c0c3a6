//! The text encoder: prompt token ids -> text embeddings.

use ndarray::{s, Array2, Array3, Ix3};

use super::components::required;
use crate::error::{Error, Result};
use crate::model::manifest::TextEncoderSpec;
use crate::model::ModelPackage;
use crate::runtime::{Device, Input, OnnxSession, RuntimeOptions};
use crate::text::TokenBatch;

/// Prompt token ids -> text embeddings `[B, L, D]`.
pub struct TextEncoder {
    session: OnnxSession,
    spec: TextEncoderSpec,
    input_ids: String,
    attention_mask: String,
    text_embeds: String,
}

impl TextEncoder {
    pub fn load(pkg: &ModelPackage, device: Device, opts: &RuntimeOptions) -> Result<Self> {
        let spec = pkg.manifest.text_encoder.clone();
        let g = &spec.graph;
        let input_ids = required(pkg, "text_encoder", g, true, "input_ids")?.to_string();
        let attention_mask = required(pkg, "text_encoder", g, true, "attention_mask")?.to_string();
        let text_embeds = required(pkg, "text_encoder", g, false, "text_embeds")?.to_string();
        let session = pkg.open_graph("text_encoder", g, device, opts)?;
        Ok(TextEncoder { session, spec, input_ids, attention_mask, text_embeds })
    }

    pub fn sessions(&self) -> Vec<&OnnxSession> {
        vec![&self.session]
    }

    /// Token ids and mask `[B, L]` -> text embeddings `[B, L, D]`.
    pub fn encode(&self, tokens: &TokenBatch) -> Result<Array3<f32>> {
        let fail =
            |reason: String| Error::Inference { component: "text encoder".into(), file: self.session.file.display().to_string(), reason };
        let (ids, mask) = (tokens.ids.view(), tokens.mask.view());
        let (batch, len) = ids.dim();
        if mask.dim() != (batch, len) {
            return Err(fail(format!("token ids of shape {:?} and a mask of shape {:?}", ids.shape(), mask.shape())));
        }
        let ones = Array2::<i64>::ones((batch, len));
        let attend = if self.spec.attend_to_padding { ones.view() } else { mask };
        let mut out = self.session.run(
            "text encoder",
            &[(&self.input_ids, Input::i64(ids)), (&self.attention_mask, Input::i64(attend))],
            &[&self.text_embeds],
        )?;
        let d = self.spec.text_dim;
        let emb = out.remove(0);
        let got = emb.shape().to_vec();
        let mut emb = emb
            .into_dimensionality::<Ix3>()
            .ok()
            .filter(|e| e.dim() == (batch, len, d))
            .ok_or_else(|| fail(format!("output shape {got:?}, expected [{batch}, {len}, {d}] (text_dim in kino.json)")))?;
        if self.spec.zero_past_length {
            // Wan's convention: embeddings past the real prompt length are exactly zero.
            for ((b, l), _) in mask.indexed_iter().filter(|(_, m)| **m == 0) {
                emb.slice_mut(s![b, l, ..]).fill(0.0);
            }
        }
        Ok(emb)
    }
}
