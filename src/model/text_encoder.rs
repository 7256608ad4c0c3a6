//! The text encoder: prompt token ids -> text embeddings.

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

    pub fn encode(&self, tokens: &TokenBatch) -> Result<Vec<f32>> {
        let shape = [tokens.batch, tokens.len];
        let ones;
        let mask = if self.spec.attend_to_padding {
            ones = vec![1i64; tokens.mask.len()];
            &ones
        } else {
            &tokens.mask
        };
        let mut out = self.session.run(
            "text encoder",
            &[(&self.input_ids, Input::I64(&shape, &tokens.ids)), (&self.attention_mask, Input::I64(&shape, mask))],
            &[&self.text_embeds],
        )?;
        let emb = out.remove(0);
        let d = self.spec.text_dim;
        if emb.shape != [tokens.batch, tokens.len, d] {
            return Err(Error::Inference {
                component: "text encoder".into(),
                file: self.session.file.display().to_string(),
                reason: format!("output shape {:?}, expected [{}, {}, {d}] (text_dim in kino.json)", emb.shape, tokens.batch, tokens.len),
            });
        }
        let mut data = emb.data;
        if self.spec.zero_past_length {
            // Wan's convention: embeddings past the real prompt length are exactly zero.
            for (i, m) in tokens.mask.iter().enumerate() {
                if *m == 0 {
                    data[i * d..(i + 1) * d].iter_mut().for_each(|x| *x = 0.0);
                }
            }
        }
        Ok(data)
    }
}
