//! The text encoder: prompt token ids -> text embeddings, through one graph or a chain of them
//! (`stages` in kino.json, run by [`text_chain`](super::text_chain)).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use ndarray::{s, Array2, Array3, Ix3};

use super::text_chain::{run_graph, Value};
use crate::error::{Error, Result};
use crate::model::ModelPackage;
use crate::runtime::{Device, OnnxSession, RuntimeOptions};
use crate::text::TokenBatch;

/// Prompt token ids -> text embeddings `[B, L, D]`.
pub struct TextEncoder {
    pkg: ModelPackage,
    device: Device,
    opts: RuntimeOptions,
    /// One session per graph of the chain, opened up front; empty when streaming.
    sessions: Vec<OnnxSession>,
    streaming: bool,
    /// Nanoseconds spent opening graphs inside `encode` (streaming).
    opening_ns: AtomicU64,
}

impl TextEncoder {
    /// Opens every graph of the chain now and keeps them: the fastest encodes, the most memory.
    pub fn load(pkg: &ModelPackage, device: Device, opts: &RuntimeOptions) -> Result<Self> {
        let mut enc = TextEncoder::streaming(pkg, device, opts);
        enc.sessions =
            pkg.manifest.text_encoder.chain().iter().map(|(field, g)| pkg.open_graph(field, g, device, opts)).collect::<Result<_>>()?;
        enc.streaming = false;
        Ok(enc)
    }

    /// Opens nothing now; each `encode` opens one graph at a time, runs it and drops it before
    /// opening the next, so the memory peak is the largest graph, not the whole encoder.
    pub fn streaming(pkg: &ModelPackage, device: Device, opts: &RuntimeOptions) -> Self {
        TextEncoder { pkg: pkg.clone(), device, opts: opts.clone(), sessions: Vec::new(), streaming: true, opening_ns: AtomicU64::new(0) }
    }

    /// The resident sessions (none for a streaming encoder).
    pub fn sessions(&self) -> Vec<&OnnxSession> {
        self.sessions.iter().collect()
    }

    pub fn is_streaming(&self) -> bool {
        self.streaming
    }

    /// Seconds spent opening graphs inside `encode` so far (0 unless streaming).
    pub fn opening_s(&self) -> f64 {
        self.opening_ns.load(Ordering::Relaxed) as f64 * 1e-9
    }

    /// Token ids and mask `[B, L]` -> text embeddings `[B, L, D]`.
    pub fn encode(&self, tokens: &TokenBatch) -> Result<Array3<f32>> {
        let spec = &self.pkg.manifest.text_encoder;
        let chain = spec.chain();
        let last_file = chain.last().map(|(_, g)| self.pkg.dir.join(&g.file).display().to_string()).unwrap_or_default();
        let fail = |reason: String| Error::Inference { component: "text encoder".into(), file: last_file.clone(), reason };
        let (ids, mask) = (tokens.ids.view(), tokens.mask.view());
        let (batch, len) = ids.dim();
        if mask.dim() != (batch, len) {
            return Err(fail(format!("token ids of shape {:?} and a mask of shape {:?}", ids.shape(), mask.shape())));
        }
        let attend = if spec.attend_to_padding { Array2::<i64>::ones((batch, len)) } else { mask.to_owned() };
        let mut values = BTreeMap::from([
            ("input_ids".to_string(), Value::I64(ids.to_owned().into_dyn())),
            ("attention_mask".to_string(), Value::I64(attend.into_dyn())),
        ]);
        for (i, (field, graph)) in chain.iter().enumerate() {
            if let Some(session) = self.sessions.get(i) {
                run_graph(session, field, graph, &mut values)?;
            } else {
                let started = Instant::now();
                let session = self.pkg.open_graph(field, graph, self.device, &self.opts)?;
                self.opening_ns.fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
                run_graph(&session, field, graph, &mut values)?;
                // Dropped here, before the next graph opens.
            }
        }
        let Some(Value::F32(emb)) = values.remove("text_embeds") else {
            return Err(fail("the chain produced no float32 `text_embeds`".into()));
        };
        let d = spec.text_dim;
        let got = emb.shape().to_vec();
        let mut emb = emb
            .into_dimensionality::<Ix3>()
            .ok()
            .filter(|e| e.dim() == (batch, len, d))
            .ok_or_else(|| fail(format!("output shape {got:?}, expected [{batch}, {len}, {d}] (text_dim in kino.json)")))?;
        if spec.zero_past_length {
            // Wan's convention: embeddings past the real prompt length are exactly zero.
            for ((b, l), _) in mask.indexed_iter().filter(|(_, m)| **m == 0) {
                emb.slice_mut(s![b, l, ..]).fill(0.0);
            }
        }
        Ok(emb)
    }
}

#[cfg(test)]
#[path = "text_encoder_tests.rs"]
mod tests;
