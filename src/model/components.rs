//! The model's components, each an ONNX graph behind a small typed API.

use crate::error::{Error, Result};
use crate::model::manifest::{DenoiserSpec, GraphSpec, LatentSpec, TextEncoderSpec, TimestepShape, VaeSpec};
use crate::model::ModelPackage;
use crate::runtime::{BoundRun, Device, Input, OnnxSession, Output, RuntimeOptions};
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

/// The diffusion transformer: noisy latents + timestep + text -> velocity.
pub struct Denoiser {
    // Declared first so the bindings (and their tensors) are dropped before the session.
    /// Bindings of earlier windows, kept so a window of the same shapes reuses their tensors
    /// (fixed device addresses for CUDA graphs); `None` when runs are unbound.
    bindings: Option<std::sync::Mutex<Vec<(WindowKey, BoundRun)>>>,
    /// A GPU provider refused binding once: later windows run unbound without trying again.
    binding_refused: std::sync::atomic::AtomicBool,
    cuda_graph: bool,
    session: OnnxSession,
    pub spec: DenoiserSpec,
    latents: String,
    timestep: String,
    text_embeds: String,
    text_mask: Option<String>,
    video_coords: Option<String>,
    velocity: String,
}

/// The shapes a binding was made for: (latents, timestep, text).
type WindowKey = ([usize; 5], Vec<usize>, [usize; 3]);

/// At most this many bindings are kept (each holds a window's tensors).
const KEPT_BINDINGS: usize = 4;

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
        if opts.cuda_graph && opts.unbound_runs {
            return Err(Error::InvalidRequest("CUDA graphs need the denoiser's bound runs: drop --unbound-runs".into()));
        }
        let spec = pkg.manifest.denoiser.clone();
        let g = &spec.graph;
        let f = "denoiser";
        Ok(Denoiser {
            latents: required(pkg, f, g, true, "latents")?.to_string(),
            timestep: required(pkg, f, g, true, "timestep")?.to_string(),
            text_embeds: required(pkg, f, g, true, "text_embeds")?.to_string(),
            text_mask: role(g, true, "text_mask").map(str::to_string),
            video_coords: match (role(g, true, "video_coords"), &spec.video_coords) {
                (Some(name), Some(_)) => Some(name.to_string()),
                (None, None) => None,
                _ => {
                    return Err(Error::package_file(
                        &pkg.dir,
                        "kino.json",
                        "field `denoiser`: the input role `video_coords` and the `video_coords` block come together (one is missing)",
                    ))
                }
            },
            velocity: required(pkg, f, g, false, "velocity")?.to_string(),
            session: pkg.open_graph(f, g, device, opts)?,
            spec,
            bindings: (!opts.unbound_runs).then(|| std::sync::Mutex::new(Vec::new())),
            binding_refused: std::sync::atomic::AtomicBool::new(false),
            cuda_graph: opts.cuda_graph,
        })
    }

    /// Sets up one window's runs: the text (and positions) are written once here; each
    /// [`DenoiserWindow::run`] then writes only the latents and timesteps. With IoBinding (the
    /// default) every tensor is preallocated and reused across steps and same-shaped windows.
    pub fn window(&self, latent_shape: [usize; 5], tokens: usize, text_embeds: &[f32], text_shape: [usize; 3], text_mask: &[i64]) -> Result<DenoiserWindow<'_>> {
        let t_shape = self.timestep_shape(latent_shape, tokens);
        let unbound = |t_shape: Vec<usize>| DenoiserWindow {
            denoiser: self,
            latent_shape,
            tokens,
            t_shape,
            runs: Runs::Unbound(Unbound { latents: vec![0.0; latent_shape.iter().product()], text_embeds: text_embeds.to_vec(), text_shape, text_mask: text_mask.to_vec() }),
        };
        use std::sync::atomic::Ordering;
        let Some(cache) = self.bindings.as_ref().filter(|_| !self.binding_refused.load(Ordering::Relaxed)) else {
            return Ok(unbound(t_shape));
        };
        let key: WindowKey = (latent_shape, t_shape.clone(), text_shape);
        match self.bind_window(cache, &key, text_embeds, text_mask) {
            Ok(bound) => Ok(DenoiserWindow { denoiser: self, latent_shape, tokens, t_shape, runs: Runs::Bound(key, Box::new(bound)) }),
            // The GPU side of IoBinding (pinned and device allocators) is the part of this path
            // that could not be tried here: if a provider refuses it, run unbound rather than fail
            // (not with CUDA graphs, which replay bound runs only).
            Err(e) if self.session.provider != Device::Cpu && !self.cuda_graph => {
                if !self.binding_refused.swap(true, Ordering::Relaxed) {
                    log::warn!("IoBinding is not available on {} ({e}); the denoiser runs unbound", self.session.provider);
                }
                Ok(unbound(t_shape))
            }
            Err(e) => Err(e),
        }
    }

    /// An error of a bound run, named after the denoiser's graph.
    fn bound_error(&self, e: ort::Error) -> Error {
        Error::Inference { component: "denoiser".into(), file: self.session.file.display().to_string(), reason: e.to_string() }
    }

    /// A binding for `key`'s shapes (a kept one, or new) with this window's text written in.
    fn bind_window(&self, cache: &std::sync::Mutex<Vec<(WindowKey, BoundRun)>>, key: &WindowKey, text_embeds: &[f32], text_mask: &[i64]) -> Result<BoundRun> {
        let fail = |e| self.bound_error(e);
        let (latent_shape, _, text_shape) = key;
        let reused = {
            let mut kept = cache.lock().map_err(|_| fail(ort::Error::new("binding cache poisoned by an earlier panic")))?;
            kept.iter().position(|(k, _)| k == key).map(|i| kept.remove(i).1)
        };
        let mut bound = match reused {
            Some(b) => b,
            None => self.session.bind("denoiser")?,
        };
        bound.write_f32(&self.text_embeds, text_shape, |b| b.copy_from_slice(text_embeds)).map_err(fail)?;
        if let Some(m) = &self.text_mask {
            bound.write_i64(m, &[text_shape[0], text_shape[1]], |b| b.copy_from_slice(text_mask)).map_err(fail)?;
        }
        let [b, _, f, h, w] = *latent_shape;
        if let (Some(name), Some(vc)) = (&self.video_coords, &self.spec.video_coords) {
            let coords = vc.for_shape(b, f, h, w);
            bound.write_f32(name, &[b, 3, f * h * w], |buf| buf.copy_from_slice(&coords)).map_err(fail)?;
        }
        bound.bind_output(&self.velocity, latent_shape).map_err(fail)?;
        Ok(bound)
    }

    pub fn sessions(&self) -> Vec<&OnnxSession> {
        vec![&self.session]
    }

    pub fn timestep_shape(&self, latent_shape: [usize; 5], tokens: usize) -> Vec<usize> {
        match self.spec.timestep_shape {
            TimestepShape::PerSample => vec![latent_shape[0]],
            TimestepShape::PerFrame => vec![latent_shape[0], latent_shape[2]],
            TimestepShape::PerToken => vec![latent_shape[0], tokens],
        }
    }

    /// Runs the denoiser and hands the velocity (same shape as the latents) to `read`, straight
    /// from ONNX Runtime's output buffer.
    pub fn predict_with(&self, x: &DenoiserInputs<'_>, tokens: usize, read: &mut dyn FnMut(&[f32])) -> Result<()> {
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
        let [b, _, f, h, w] = x.latent_shape;
        let coords_shape = [b, 3, f * h * w];
        let coords = self.spec.video_coords.as_ref().map(|vc| vc.for_shape(b, f, h, w));
        if let (Some(name), Some(c)) = (&self.video_coords, &coords) {
            inputs.push((name.as_str(), Input::F32(&coords_shape, c)));
        }
        self.session.run_view("denoiser", &inputs, &[&self.velocity], |out| {
            let v = &out[0];
            if v.shape != x.latent_shape {
                return Err(Error::Inference {
                    component: "denoiser".into(),
                    file: self.session.file.display().to_string(),
                    reason: format!("velocity shape {:?} differs from the latents' {:?}", v.shape, x.latent_shape),
                });
            }
            read(v.data);
            Ok(())
        })
    }
}

/// Inputs of an unbound window, owned so each run can borrow them.
#[derive(Default)]
struct Unbound {
    latents: Vec<f32>,
    text_embeds: Vec<f32>,
    text_shape: [usize; 3],
    text_mask: Vec<i64>,
}

/// One window's denoiser runs (see [`Denoiser::window`]).
pub struct DenoiserWindow<'a> {
    denoiser: &'a Denoiser,
    latent_shape: [usize; 5],
    tokens: usize,
    t_shape: Vec<usize>,
    runs: Runs,
}

enum Runs {
    // Boxed: a binding is large beside the unbound inputs' handles.
    Bound(WindowKey, Box<BoundRun>),
    Unbound(Unbound),
}

impl DenoiserWindow<'_> {
    /// One run: `write_latents` fills the latents in place (the window's latent shape),
    /// `timestep` is laid out as [`Denoiser::timestep_shape`] says; `read` gets the velocity.
    pub fn run(&mut self, timestep: &[f32], write_latents: impl FnOnce(&mut [f32]), read: impl FnOnce(&[f32])) -> Result<()> {
        let d = self.denoiser;
        let bound = match &mut self.runs {
            Runs::Bound(_, bound) => bound,
            Runs::Unbound(u) => {
                write_latents(&mut u.latents);
                let x = DenoiserInputs { latents: &u.latents, latent_shape: self.latent_shape, timestep, text_embeds: &u.text_embeds, text_shape: u.text_shape, text_mask: &u.text_mask };
                let mut read = Some(read);
                return d.predict_with(&x, self.tokens, &mut |v| {
                    if let Some(r) = read.take() {
                        r(v)
                    }
                });
            }
        };
        let fail = |e| d.bound_error(e);
        bound.write_f32(&d.latents, &self.latent_shape, write_latents).map_err(fail)?;
        bound.write_f32(&d.timestep, &self.t_shape, |buf| buf.copy_from_slice(timestep)).map_err(fail)?;
        d.session.run_bound("denoiser", bound)?;
        let (shape, v) = bound.output(&d.velocity).ok_or_else(|| fail(ort::Error::new("velocity output is not bound")))?;
        if shape != self.latent_shape {
            return Err(fail(ort::Error::new(format!("velocity shape {shape:?} differs from the latents' {:?}", self.latent_shape))));
        }
        read(v);
        Ok(())
    }
}

impl Drop for DenoiserWindow<'_> {
    fn drop(&mut self) {
        // The binding goes back for the next window of the same shapes.
        if let (Runs::Bound(key, bound), Some(cache)) = (std::mem::replace(&mut self.runs, Runs::Unbound(Unbound::default())), &self.denoiser.bindings) {
            if let Ok(mut kept) = cache.lock() {
                if kept.len() >= KEPT_BINDINGS {
                    kept.remove(0);
                }
                kept.push((key, *bound));
            }
        }
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

/// One graph of a causal-chunk VAE: a chunk in, a chunk out, and the caches the next chunk needs.
struct ChunkGraph {
    session: OnnxSession,
    input: String,
    output: String,
    cache_in: Vec<String>,
    cache_out: Vec<String>,
}

/// Caches handed from one chunk to the next: (shape, data) per cache, in manifest order.
type Caches = Vec<(Vec<usize>, Vec<f32>)>;

impl ChunkGraph {
    /// `field` is e.g. `vae_decoder.first`; the first graph of a clip takes no caches.
    #[allow(clippy::too_many_arguments)]
    fn load(pkg: &ModelPackage, field: &str, g: &GraphSpec, caches: usize, takes_cache: bool, roles: (&str, &str), device: Device, opts: &RuntimeOptions) -> Result<Self> {
        let names = |side_inputs: bool, prefix: &str| -> Result<Vec<String>> {
            (0..caches).map(|i| required(pkg, field, g, side_inputs, &format!("{prefix}{i}")).map(str::to_string)).collect()
        };
        Ok(ChunkGraph {
            input: required(pkg, field, g, true, roles.0)?.to_string(),
            output: required(pkg, field, g, false, roles.1)?.to_string(),
            cache_in: if takes_cache { names(true, "cache_in_")? } else { Vec::new() },
            cache_out: names(false, "cache_out_")?,
            session: pkg.open_graph(field, g, device, opts)?,
        })
    }

    /// Runs one chunk; `caches` goes in (if this graph takes them) and is replaced by the new ones.
    fn run(&self, component: &str, chunk: &[f32], shape: &[usize], caches: &mut Caches) -> Result<Output> {
        let mut inputs = vec![(self.input.as_str(), Input::F32(shape, chunk))];
        for (name, (s, d)) in self.cache_in.iter().zip(caches.iter()) {
            inputs.push((name.as_str(), Input::F32(s, d)));
        }
        let mut wanted = vec![self.output.as_str()];
        wanted.extend(self.cache_out.iter().map(String::as_str));
        let mut out = self.session.run(component, &inputs, &wanted)?;
        let main = out.remove(0);
        *caches = out.into_iter().map(|o| (o.shape, o.data)).collect();
        Ok(main)
    }
}

/// The first and step graphs of a causal-chunk VAE, with their chunk sizes in latent frames.
struct ChunkGraphs {
    first: ChunkGraph,
    step: ChunkGraph,
    first_latent_frames: usize,
    step_latent_frames: usize,
}

impl ChunkGraphs {
    fn load(pkg: &ModelPackage, field: &str, spec: &VaeSpec, roles: (&str, &str), device: Device, opts: &RuntimeOptions) -> Result<Option<Self>> {
        let VaeSpec::CausalChunks { first, step, first_latent_frames, step_latent_frames, caches } = spec else {
            return Ok(None);
        };
        if *first_latent_frames == 0 || *step_latent_frames == 0 {
            return Err(Error::package_file(&pkg.dir, "kino.json", format!("field `{field}`: first_latent_frames and step_latent_frames must be at least 1")));
        }
        Ok(Some(ChunkGraphs {
            first: ChunkGraph::load(pkg, &format!("{field}.first"), first, caches.len(), false, roles, device, opts)?,
            step: ChunkGraph::load(pkg, &format!("{field}.step"), step, caches.len(), true, roles, device, opts)?,
            first_latent_frames: *first_latent_frames,
            step_latent_frames: *step_latent_frames,
        }))
    }

    /// Splits `latent_total` latent frames into chunks: (graph, first latent frame, latent frames).
    fn chunks(&self, latent_total: usize) -> Vec<(&ChunkGraph, usize, usize)> {
        let mut out = Vec::new();
        let mut start = 0;
        while start < latent_total {
            let (g, n) = if start == 0 { (&self.first, self.first_latent_frames.min(latent_total)) } else { (&self.step, self.step_latent_frames.min(latent_total - start)) };
            out.push((g, start, n));
            start += n;
        }
        out
    }
}

// Few decoders exist per process; boxing the bigger variant buys nothing.
#[allow(clippy::large_enum_variant)]
enum DecoderGraphs {
    WholeClip { session: OnnxSession, latents: String, frames: String, timestep: Option<(String, f32)> },
    CausalChunks(ChunkGraphs),
}

/// Receives each decoded chunk `[1, 3, n, H, W]` and its shape.
pub type ChunkSink<'a> = dyn FnMut(&[f32], &[usize]) -> Result<()> + 'a;

/// Latents -> pixel frames in `[-1, 1]`, whole clip or chunk by chunk with explicit caches.
pub struct VaeDecoder {
    graphs: DecoderGraphs,
    /// Timestep-conditioned decoders (LTX-Video 0.9.1+): the share of fresh noise mixed into the
    /// latents before decoding, `z = (1 - s) z + s noise`.
    pub noise_scale: f32,
}

impl VaeDecoder {
    pub fn load(pkg: &ModelPackage, device: Device, opts: &RuntimeOptions) -> Result<Self> {
        let mut noise_scale = 0.0;
        let graphs = match &pkg.manifest.vae_decoder {
            VaeSpec::WholeClip { graph, timestep_conditioned, decode_timestep, decode_noise_scale } => {
                let timestep = if *timestep_conditioned {
                    if !(decode_timestep.is_finite() && (0.0..=1.0).contains(decode_noise_scale)) {
                        return Err(Error::package_file(&pkg.dir, "kino.json", "field `vae_decoder`: decode_timestep must be a number and decode_noise_scale in [0, 1]"));
                    }
                    noise_scale = *decode_noise_scale;
                    Some((required(pkg, "vae_decoder", graph, true, "timestep")?.to_string(), *decode_timestep))
                } else {
                    None
                };
                DecoderGraphs::WholeClip {
                    latents: required(pkg, "vae_decoder", graph, true, "latents")?.to_string(),
                    frames: required(pkg, "vae_decoder", graph, false, "frames")?.to_string(),
                    timestep,
                    session: pkg.open_graph("vae_decoder", graph, device, opts)?,
                }
            }
            spec @ VaeSpec::CausalChunks { .. } => {
                let graphs = ChunkGraphs::load(pkg, "vae_decoder", spec, ("latents", "frames"), device, opts)?;
                DecoderGraphs::CausalChunks(graphs.expect("a causal-chunk spec"))
            }
        };
        Ok(VaeDecoder { graphs, noise_scale })
    }

    pub fn sessions(&self) -> Vec<&OnnxSession> {
        match &self.graphs {
            DecoderGraphs::WholeClip { session, .. } => vec![session],
            DecoderGraphs::CausalChunks(g) => vec![&g.first.session, &g.step.session],
        }
    }

    /// Decodes `[1, C, F, h, w]` latents, handing each decoded chunk `[1, 3, n, H, W]` to `on_chunk`
    /// with its shape. Chunked graphs keep memory flat in the clip length.
    pub fn decode(&self, latents: &[f32], shape: [usize; 5], on_chunk: &mut ChunkSink<'_>) -> Result<()> {
        match &self.graphs {
            DecoderGraphs::WholeClip { session, latents: li, frames, timestep } => {
                let t_shape = [shape[0]];
                let t_value = timestep.as_ref().map(|(_, t)| vec![*t; shape[0]]);
                let mut inputs = vec![(li.as_str(), Input::F32(&shape, latents))];
                if let (Some((name, _)), Some(t)) = (timestep, &t_value) {
                    inputs.push((name.as_str(), Input::F32(&t_shape, t)));
                }
                let out = session.run("VAE decoder", &inputs, &[frames])?;
                on_chunk(&out[0].data, &out[0].shape)
            }
            DecoderGraphs::CausalChunks(graphs) => {
                let mut caches = Caches::new();
                for (graph, start, n) in graphs.chunks(shape[2]) {
                    let chunk = latent_frames(latents, shape, start, n);
                    let chunk_shape = [shape[0], shape[1], n, shape[3], shape[4]];
                    let frames = graph.run("VAE decoder", &chunk, &chunk_shape, &mut caches)?;
                    on_chunk(&frames.data, &frames.shape)?;
                }
                Ok(())
            }
        }
    }
}

// One encoder per pipeline: the size difference between the variants costs nothing, and boxing
// a variant only moves clippy's warning to the other.
#[allow(clippy::large_enum_variant)]
enum EncoderGraphs {
    WholeClip { session: OnnxSession, frames: String, latents: String },
    CausalChunks(ChunkGraphs),
}

/// Pixel frames `[1, 3, F, H, W]` in `[-1, 1]` -> latents `[1, C, f, h, w]`, whole clip or chunk by
/// chunk (a causal chunk of `n` latent frames reads `1 + t(n-1)` pixel frames first, `t n` after).
pub struct VaeEncoder {
    graphs: EncoderGraphs,
    latent: LatentSpec,
}

impl VaeEncoder {
    pub fn load(pkg: &ModelPackage, device: Device, opts: &RuntimeOptions) -> Result<Option<Self>> {
        let Some(spec) = &pkg.manifest.vae_encoder else { return Ok(None) };
        let graphs = match spec {
            VaeSpec::WholeClip { graph, .. } => EncoderGraphs::WholeClip {
                frames: required(pkg, "vae_encoder", graph, true, "frames")?.to_string(),
                latents: required(pkg, "vae_encoder", graph, false, "latents")?.to_string(),
                session: pkg.open_graph("vae_encoder", graph, device, opts)?,
            },
            VaeSpec::CausalChunks { .. } => {
                let graphs = ChunkGraphs::load(pkg, "vae_encoder", spec, ("frames", "latents"), device, opts)?;
                EncoderGraphs::CausalChunks(graphs.expect("a causal-chunk spec"))
            }
        };
        Ok(Some(VaeEncoder { graphs, latent: pkg.manifest.latent.clone() }))
    }

    pub fn sessions(&self) -> Vec<&OnnxSession> {
        match &self.graphs {
            EncoderGraphs::WholeClip { session, .. } => vec![session],
            EncoderGraphs::CausalChunks(g) => vec![&g.first.session, &g.step.session],
        }
    }

    pub fn encode(&self, frames: &[f32], shape: [usize; 5]) -> Result<(Vec<usize>, Vec<f32>)> {
        match &self.graphs {
            EncoderGraphs::WholeClip { session, frames: fi, latents } => {
                let mut out = session.run("VAE encoder", &[(fi.as_str(), Input::F32(&shape, frames))], &[latents])?;
                let o = out.remove(0);
                Ok((o.shape, o.data))
            }
            EncoderGraphs::CausalChunks(graphs) => {
                let t = self.latent.temporal_compression.max(1) as usize;
                let causal = self.latent.causal_first_frame;
                let mut caches = Caches::new();
                let mut parts: Vec<Output> = Vec::new();
                for (graph, start, n) in graphs.chunks(self.latent.latent_frames(shape[2] as u32)) {
                    // The first pixel frame of latent frame `l`.
                    let pixel = |l: usize| if causal { if l == 0 { 0 } else { 1 + t * (l - 1) } } else { t * l };
                    let (p0, p1) = (pixel(start), pixel(start + n).min(shape[2]));
                    let chunk = latent_frames(frames, shape, p0, p1 - p0);
                    let chunk_shape = [shape[0], shape[1], p1 - p0, shape[3], shape[4]];
                    parts.push(graph.run("VAE encoder", &chunk, &chunk_shape, &mut caches)?);
                }
                concat_frames("VAE encoder", &parts)
            }
        }
    }
}

/// Concatenates `[1, C, n_i, h, w]` chunks from `component` along frames.
pub(crate) fn concat_frames(component: &str, parts: &[Output]) -> Result<(Vec<usize>, Vec<f32>)> {
    let Some(first) = parts.first() else {
        return Err(Error::Inference { component: component.into(), file: String::new(), reason: "produced no chunks".into() });
    };
    if first.shape.len() != 5 || parts.iter().any(|p| p.shape.len() != 5 || p.shape[1] != first.shape[1] || p.shape[3..] != first.shape[3..]) {
        let shapes: Vec<&Vec<usize>> = parts.iter().map(|p| &p.shape).collect();
        return Err(Error::Inference { component: component.into(), file: String::new(), reason: format!("chunks of mismatched shapes {shapes:?}") });
    }
    let (c, plane) = (first.shape[1], first.shape[3] * first.shape[4]);
    let total: usize = parts.iter().map(|p| p.shape[2]).sum();
    let mut data = Vec::with_capacity(c * total * plane);
    for ch in 0..c {
        for p in parts {
            let n = p.shape[2];
            data.extend_from_slice(&p.data[ch * n * plane..(ch + 1) * n * plane]);
        }
    }
    Ok((vec![1, c, total, first.shape[3], first.shape[4]], data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concat_frames_joins_along_time_per_channel() {
        let part = |n: usize, base: f32| Output { shape: vec![1, 2, n, 1, 1], data: (0..2 * n).map(|i| base + i as f32).collect() };
        // [c0: 0], [c1: 1] and [c0: 10, 11], [c1: 12, 13]
        let (shape, data) = concat_frames("test", &[part(1, 0.0), part(2, 10.0)]).unwrap();
        assert_eq!(shape, vec![1, 2, 3, 1, 1]);
        assert_eq!(data, vec![0.0, 10.0, 11.0, 1.0, 12.0, 13.0]);
    }

    #[test]
    fn latent_frames_slices_channel_major_layout() {
        // [1, C=2, F=3, 1, 2]
        let lat: Vec<f32> = (0..12).map(|x| x as f32).collect();
        assert_eq!(latent_frames(&lat, [1, 2, 3, 1, 2], 1, 2), vec![2.0, 3.0, 4.0, 5.0, 8.0, 9.0, 10.0, 11.0]);
        assert_eq!(latent_frames(&lat, [1, 2, 3, 1, 2], 0, 1), vec![0.0, 1.0, 6.0, 7.0]);
    }
}
