//! The VAE: latents -> pixel frames (decoder) and frames -> latents (encoder), as whole-clip
//! graphs or causal chunk graphs with explicit caches.

use ndarray::{Array1, Array5, ArrayD, ArrayView5};

use super::components::{concat_frames, finite, five_d, latent_frames, required};
use crate::error::{Error, Result};
use crate::model::manifest::{GraphSpec, LatentSpec, VaeSpec};
use crate::model::ModelPackage;
use crate::runtime::{Device, Input, OnnxSession, Output, RuntimeOptions};

/// One graph of a causal-chunk VAE: a chunk in, a chunk out, and the caches the next chunk needs.
struct ChunkGraph {
    session: OnnxSession,
    input: String,
    output: String,
    cache_in: Vec<String>,
    cache_out: Vec<String>,
}

/// Caches handed from one chunk to the next, in manifest order.
type Caches = Vec<ArrayD<f32>>;

impl ChunkGraph {
    /// `field` is e.g. `vae_decoder.first`; the first graph of a clip takes no caches.
    #[allow(clippy::too_many_arguments)]
    fn load(
        pkg: &ModelPackage,
        field: &str,
        g: &GraphSpec,
        caches: usize,
        takes_cache: bool,
        roles: (&str, &str),
        device: Device,
        opts: &RuntimeOptions,
    ) -> Result<Self> {
        let names = |side_inputs: bool, prefix: &str| -> Result<Vec<String>> {
            (0..caches).map(|i| required(pkg, field, g, side_inputs, &format!("{prefix}{i}")).map(str::to_string)).collect()
        };
        // Every input the manifest names is one kino feeds: a cache role past the `caches` list
        // (or on the first graph, which starts a clip) would reach the graph unfed.
        let fed = |r: &str| {
            r == roles.0 || (takes_cache && r.strip_prefix("cache_in_").and_then(|i| i.parse::<usize>().ok()).is_some_and(|i| i < caches))
        };
        if let Some(role) = g.inputs.keys().find(|r| !fed(r)) {
            let vae = field.rsplit_once('.').map_or(field, |(v, _)| v);
            let why = if takes_cache {
                format!("`{vae}.caches` lists {caches} cache(s), one name per cache_in_<i> / cache_out_<i> pair")
            } else {
                "the first chunk of a clip takes no caches".to_string()
            };
            return Err(Error::package_file(
                &pkg.dir,
                "kino.json",
                format!("field `{field}.inputs` names the role `{role}`, which kino does not feed: {why}"),
            ));
        }
        Ok(ChunkGraph {
            input: required(pkg, field, g, true, roles.0)?.to_string(),
            output: required(pkg, field, g, false, roles.1)?.to_string(),
            cache_in: if takes_cache { names(true, "cache_in_")? } else { Vec::new() },
            cache_out: names(false, "cache_out_")?,
            session: pkg.open_graph(field, g, device, opts)?,
        })
    }

    /// Runs one chunk; `caches` goes in (if this graph takes them) and is replaced by the new ones.
    fn run(&self, component: &str, chunk: ArrayView5<'_, f32>, caches: &mut Caches) -> Result<Output> {
        let mut inputs = vec![(self.input.as_str(), Input::f32(chunk))];
        for (name, c) in self.cache_in.iter().zip(caches.iter()) {
            inputs.push((name.as_str(), Input::F32(c.view())));
        }
        let mut wanted = vec![self.output.as_str()];
        wanted.extend(self.cache_out.iter().map(String::as_str));
        let mut out = self.session.run(component, &inputs, &wanted)?;
        let main = out.remove(0);
        *caches = out;
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
    fn load(
        pkg: &ModelPackage,
        field: &str,
        spec: &VaeSpec,
        roles: (&str, &str),
        device: Device,
        opts: &RuntimeOptions,
    ) -> Result<Option<Self>> {
        let VaeSpec::CausalChunks { first, step, first_latent_frames, step_latent_frames, caches } = spec else {
            return Ok(None);
        };
        if *first_latent_frames == 0 || *step_latent_frames == 0 {
            return Err(Error::package_file(
                &pkg.dir,
                "kino.json",
                format!("field `{field}`: first_latent_frames and step_latent_frames must be at least 1"),
            ));
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
            let (g, n) = if start == 0 {
                (&self.first, self.first_latent_frames.min(latent_total))
            } else {
                (&self.step, self.step_latent_frames.min(latent_total - start))
            };
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

/// Receives each decoded chunk `[1, 3, n, H, W]`.
pub type ChunkSink<'a> = dyn FnMut(ArrayView5<'_, f32>) -> Result<()> + 'a;

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
                        return Err(Error::package_file(
                            &pkg.dir,
                            "kino.json",
                            "field `vae_decoder`: decode_timestep must be a number and decode_noise_scale in [0, 1]",
                        ));
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
    pub fn decode(&self, latents: ArrayView5<'_, f32>, on_chunk: &mut ChunkSink<'_>) -> Result<()> {
        match &self.graphs {
            DecoderGraphs::WholeClip { session, latents: li, frames, timestep } => {
                let t_value = timestep.as_ref().map(|(_, t)| Array1::from_elem(latents.dim().0, *t));
                let mut inputs = vec![(li.as_str(), Input::f32(latents))];
                if let (Some((name, _)), Some(t)) = (timestep, &t_value) {
                    inputs.push((name.as_str(), Input::f32(t.view())));
                }
                let out = session.run("VAE decoder", &inputs, &[frames])?;
                on_chunk(finite("VAE decoder", &session.file, five_d("VAE decoder", &session.file, out[0].view())?)?)
            }
            DecoderGraphs::CausalChunks(graphs) => {
                let mut caches = Caches::new();
                for (graph, start, n) in graphs.chunks(latents.dim().2) {
                    let chunk = latent_frames(latents, start, n);
                    let frames = graph.run("VAE decoder", chunk.view(), &mut caches)?;
                    let file = &graph.session.file;
                    on_chunk(finite("VAE decoder", file, five_d("VAE decoder", file, frames.view())?)?)?;
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

    /// Pixel frames `[1, 3, F, H, W]` -> latents `[1, C, f, h, w]`.
    pub fn encode(&self, frames: ArrayView5<'_, f32>) -> Result<Array5<f32>> {
        let shape = frames.shape();
        match &self.graphs {
            EncoderGraphs::WholeClip { session, frames: fi, latents } => {
                let out = session.run("VAE encoder", &[(fi.as_str(), Input::f32(frames))], &[latents])?;
                Ok(five_d("VAE encoder", &session.file, out[0].view())?.to_owned())
            }
            EncoderGraphs::CausalChunks(graphs) => {
                let mut caches = Caches::new();
                let mut parts: Vec<Array5<f32>> = Vec::new();
                for (graph, start, n) in graphs.chunks(self.latent.latent_frames(shape[2] as u32)) {
                    let (p0, p1) = (self.latent.pixel_frames(start), self.latent.pixel_frames(start + n).min(shape[2]));
                    let chunk = latent_frames(frames, p0, p1 - p0);
                    let out = graph.run("VAE encoder", chunk.view(), &mut caches)?;
                    parts.push(five_d("VAE encoder", &graph.session.file, out.view())?.to_owned());
                }
                concat_frames("VAE encoder", &parts.iter().map(|p| p.view()).collect::<Vec<_>>())
            }
        }
    }
}
