//! The model's components, each an ONNX graph behind a small typed API.

use crate::error::{Error, Result};
use crate::model::manifest::{DenoiserSpec, GraphSpec, TextEncoderSpec, TimestepShape, VaeSpec};
use crate::model::ModelPackage;
use crate::runtime::{Device, Input, OnnxSession, RuntimeOptions};
use crate::text::TokenBatch;

fn role<'a>(spec: &'a GraphSpec, side_inputs: bool, role: &str) -> Option<&'a str> {
    let map = if side_inputs { &spec.inputs } else { &spec.outputs };
    map.get(role).map(|t| t.name.as_str())
}

fn required<'a>(pkg: &ModelPackage, field: &str, spec: &'a GraphSpec, side_inputs: bool, r: &str) -> Result<&'a str> {
    role(spec, side_inputs, r).ok_or_else(|| {
        let side = if side_inputs { "inputs" } else { "outputs" };
        Error::package_file(&pkg.dir, "kino.json", format!("field `{field}.{side}` lacks the role `{r}`"))
    })
}

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

    pub fn encode(&self, tokens: &TokenBatch) -> Result<Vec<f32>> {
        let shape = [tokens.batch, tokens.len];
        let mut out = self.session.run(
            "text encoder",
            &[(&self.input_ids, Input::I64(&shape, &tokens.ids)), (&self.attention_mask, Input::I64(&shape, &tokens.mask))],
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

/// The diffusion transformer: noisy latents + timestep + text -> velocity.
pub struct Denoiser {
    session: OnnxSession,
    pub spec: DenoiserSpec,
    latents: String,
    timestep: String,
    text_embeds: String,
    text_mask: Option<String>,
    velocity: String,
}

/// One denoiser call's inputs. Shapes are `[B, C, F, h, w]` and `[B, L, D]`.
pub struct DenoiserInputs<'a> {
    pub latents: &'a [f32],
    pub latent_shape: [usize; 5],
    /// Laid out per the manifest's `timestep_shape` (`[B]`, `[B, F]` or `[B, tokens]`).
    pub timestep: &'a [f32],
    pub text_embeds: &'a [f32],
    pub text_shape: [usize; 3],
    pub text_mask: &'a [i64],
}

impl Denoiser {
    pub fn load(pkg: &ModelPackage, device: Device, opts: &RuntimeOptions) -> Result<Self> {
        let spec = pkg.manifest.denoiser.clone();
        let g = &spec.graph;
        let f = "denoiser";
        Ok(Denoiser {
            latents: required(pkg, f, g, true, "latents")?.to_string(),
            timestep: required(pkg, f, g, true, "timestep")?.to_string(),
            text_embeds: required(pkg, f, g, true, "text_embeds")?.to_string(),
            text_mask: role(g, true, "text_mask").map(str::to_string),
            velocity: required(pkg, f, g, false, "velocity")?.to_string(),
            session: pkg.open_graph(f, g, device, opts)?,
            spec,
        })
    }

    pub fn timestep_shape(&self, latent_shape: [usize; 5], tokens: usize) -> Vec<usize> {
        match self.spec.timestep_shape {
            TimestepShape::PerSample => vec![latent_shape[0]],
            TimestepShape::PerFrame => vec![latent_shape[0], latent_shape[2]],
            TimestepShape::PerToken => vec![latent_shape[0], tokens],
        }
    }

    pub fn predict(&self, x: &DenoiserInputs<'_>, tokens: usize) -> Result<Vec<f32>> {
        let t_shape = self.timestep_shape(x.latent_shape, tokens);
        let mask_shape = [x.text_shape[0], x.text_shape[1]];
        let mut inputs = vec![
            (self.latents.as_str(), Input::F32(&x.latent_shape, x.latents)),
            (self.timestep.as_str(), Input::F32(&t_shape, x.timestep)),
            (self.text_embeds.as_str(), Input::F32(&x.text_shape, x.text_embeds)),
        ];
        if let Some(m) = &self.text_mask {
            inputs.push((m.as_str(), Input::I64(&mask_shape, x.text_mask)));
        }
        let mut out = self.session.run("denoiser", &inputs, &[&self.velocity])?;
        let v = out.remove(0);
        if v.shape != x.latent_shape {
            return Err(Error::Inference {
                component: "denoiser".into(),
                file: self.session.file.display().to_string(),
                reason: format!("velocity shape {:?} differs from the latents' {:?}", v.shape, x.latent_shape),
            });
        }
        Ok(v.data)
    }
}

/// Copies latent frames `[start, start+n)` of a `[1, C, F, h, w]` tensor into a new `[1, C, n, h, w]` buffer.
pub(crate) fn latent_frames(latents: &[f32], shape: [usize; 5], start: usize, n: usize) -> Vec<f32> {
    let [_, c, f, h, w] = shape;
    let plane = h * w;
    let mut out = Vec::with_capacity(c * n * plane);
    for ch in 0..c {
        let base = ch * f * plane + start * plane;
        out.extend_from_slice(&latents[base..base + n * plane]);
    }
    out
}

struct ChunkGraph {
    session: OnnxSession,
    latents: String,
    frames: String,
    cache_in: Vec<String>,
    cache_out: Vec<String>,
}

// Few decoders exist per process; boxing the bigger variant buys nothing.
#[allow(clippy::large_enum_variant)]
enum DecoderGraphs {
    WholeClip { session: OnnxSession, latents: String, frames: String },
    CausalChunks { first: ChunkGraph, step: ChunkGraph, first_latent_frames: usize, step_latent_frames: usize },
}

/// Receives each decoded chunk `[1, 3, n, H, W]` and its shape.
pub type ChunkSink<'a> = dyn FnMut(&[f32], &[usize]) -> Result<()> + 'a;

/// Latents -> pixel frames in `[-1, 1]`, whole clip or chunk by chunk with explicit caches.
pub struct VaeDecoder {
    graphs: DecoderGraphs,
}

impl VaeDecoder {
    pub fn load(pkg: &ModelPackage, device: Device, opts: &RuntimeOptions) -> Result<Self> {
        let graphs = match &pkg.manifest.vae_decoder {
            VaeSpec::WholeClip { graph, timestep_conditioned, .. } => {
                if *timestep_conditioned {
                    return Err(Error::package_file(&pkg.dir, "kino.json", "timestep-conditioned VAE decoders are not supported by this kino yet"));
                }
                DecoderGraphs::WholeClip {
                    latents: required(pkg, "vae_decoder", graph, true, "latents")?.to_string(),
                    frames: required(pkg, "vae_decoder", graph, false, "frames")?.to_string(),
                    session: pkg.open_graph("vae_decoder", graph, device, opts)?,
                }
            }
            VaeSpec::CausalChunks { first, step, first_latent_frames, step_latent_frames, caches } => {
                let chunk = |field: &str, g: &GraphSpec, takes_cache: bool| -> Result<ChunkGraph> {
                    let names = |side_inputs: bool, prefix: &str| -> Result<Vec<String>> {
                        (0..caches.len()).map(|i| required(pkg, field, g, side_inputs, &format!("{prefix}{i}")).map(str::to_string)).collect()
                    };
                    Ok(ChunkGraph {
                        latents: required(pkg, field, g, true, "latents")?.to_string(),
                        frames: required(pkg, field, g, false, "frames")?.to_string(),
                        cache_in: if takes_cache { names(true, "cache_in_")? } else { Vec::new() },
                        cache_out: names(false, "cache_out_")?,
                        session: pkg.open_graph(field, g, device, opts)?,
                    })
                };
                if *first_latent_frames == 0 || *step_latent_frames == 0 {
                    return Err(Error::package_file(&pkg.dir, "kino.json", "field `vae_decoder`: first_latent_frames and step_latent_frames must be at least 1"));
                }
                DecoderGraphs::CausalChunks {
                    first: chunk("vae_decoder.first", first, false)?,
                    step: chunk("vae_decoder.step", step, true)?,
                    first_latent_frames: *first_latent_frames,
                    step_latent_frames: *step_latent_frames,
                }
            }
        };
        Ok(VaeDecoder { graphs })
    }

    /// Decodes `[1, C, F, h, w]` latents, handing each decoded chunk `[1, 3, n, H, W]` to `on_chunk`
    /// with its shape. Chunked graphs keep memory flat in the clip length.
    pub fn decode(&self, latents: &[f32], shape: [usize; 5], on_chunk: &mut ChunkSink<'_>) -> Result<()> {
        match &self.graphs {
            DecoderGraphs::WholeClip { session, latents: li, frames } => {
                let out = session.run("VAE decoder", &[(li, Input::F32(&shape, latents))], &[frames])?;
                on_chunk(&out[0].data, &out[0].shape)
            }
            DecoderGraphs::CausalChunks { first, step, first_latent_frames, step_latent_frames } => {
                let total = shape[2];
                let mut caches: Vec<(Vec<usize>, Vec<f32>)> = Vec::new();
                let mut start = 0;
                while start < total {
                    let (graph, n) = if start == 0 { (first, (*first_latent_frames).min(total)) } else { (step, (*step_latent_frames).min(total - start)) };
                    let chunk = latent_frames(latents, shape, start, n);
                    let chunk_shape = [shape[0], shape[1], n, shape[3], shape[4]];
                    let mut inputs = vec![(graph.latents.as_str(), Input::F32(&chunk_shape, &chunk))];
                    for (name, (s, d)) in graph.cache_in.iter().zip(&caches) {
                        inputs.push((name.as_str(), Input::F32(s, d)));
                    }
                    let mut wanted = vec![graph.frames.as_str()];
                    wanted.extend(graph.cache_out.iter().map(String::as_str));
                    let mut out = graph.session.run("VAE decoder", &inputs, &wanted)?;
                    let frames = out.remove(0);
                    caches = out.into_iter().map(|o| (o.shape, o.data)).collect();
                    on_chunk(&frames.data, &frames.shape)?;
                    start += n;
                }
                Ok(())
            }
        }
    }
}

/// Pixel frames `[1, 3, F, H, W]` in `[-1, 1]` -> latents `[1, C, f, h, w]` (whole clip).
pub struct VaeEncoder {
    session: OnnxSession,
    frames: String,
    latents: String,
}

impl VaeEncoder {
    pub fn load(pkg: &ModelPackage, device: Device, opts: &RuntimeOptions) -> Result<Option<Self>> {
        match &pkg.manifest.vae_encoder {
            None => Ok(None),
            Some(VaeSpec::WholeClip { graph, .. }) => Ok(Some(VaeEncoder {
                frames: required(pkg, "vae_encoder", graph, true, "frames")?.to_string(),
                latents: required(pkg, "vae_encoder", graph, false, "latents")?.to_string(),
                session: pkg.open_graph("vae_encoder", graph, device, opts)?,
            })),
            Some(VaeSpec::CausalChunks { .. }) => Err(Error::package_file(&pkg.dir, "kino.json", "causal-chunk VAE encoders are not supported by this kino yet")),
        }
    }

    pub fn encode(&self, frames: &[f32], shape: [usize; 5]) -> Result<(Vec<usize>, Vec<f32>)> {
        let mut out = self.session.run("VAE encoder", &[(&self.frames, Input::F32(&shape, frames))], &[&self.latents])?;
        let o = out.remove(0);
        Ok((o.shape, o.data))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latent_frames_slices_channel_major_layout() {
        // [1, C=2, F=3, 1, 2]
        let lat: Vec<f32> = (0..12).map(|x| x as f32).collect();
        assert_eq!(latent_frames(&lat, [1, 2, 3, 1, 2], 1, 2), vec![2.0, 3.0, 4.0, 5.0, 8.0, 9.0, 10.0, 11.0]);
        assert_eq!(latent_frames(&lat, [1, 2, 3, 1, 2], 0, 1), vec![0.0, 1.0, 6.0, 7.0]);
    }
}
