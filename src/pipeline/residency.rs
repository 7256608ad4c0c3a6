//! Which components are in memory when: each sits in a [`Slot`] that loads it on first use and
//! can release it, and the [`Residency`] policy says what a job releases (see
//! `docs/performance.md`, "Memory"). Also the memory a job needs under each policy, and prompt
//! embeddings through the on-disk cache, so a cached prompt never loads the text encoder.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use ndarray::Array3;

use super::{GenerateRequest, Pipeline};
use crate::error::{Error, Result};
use crate::model::{Denoiser, ImageEncoder, ModelPackage, TextEncoder, VaeDecoder, VaeEncoder};
use crate::runtime::{loaded_library, EmbeddingCache, OnnxSession, Residency, RuntimeOptions};
use crate::text::embed_cache::{EmbeddingStore, DEFAULT_BUDGET};
use crate::text::TokenBatch;

/// One component, loaded on first use, kept until released.
pub(super) struct Slot<T> {
    name: &'static str,
    cell: Mutex<Option<Arc<T>>>,
    loads: AtomicUsize,
    last_load_ns: AtomicU64,
}

impl<T> Slot<T> {
    fn new(name: &'static str) -> Self {
        Slot { name, cell: Mutex::new(None), loads: AtomicUsize::new(0), last_load_ns: AtomicU64::new(0) }
    }

    fn lock(&self) -> MutexGuard<'_, Option<Arc<T>>> {
        self.cell.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The component, loaded now by `load` if it is not resident. Callers wait for one load.
    fn get(&self, load: impl FnOnce() -> Result<T>) -> Result<Arc<T>> {
        let mut cell = self.lock();
        if let Some(c) = cell.as_ref() {
            return Ok(c.clone());
        }
        let started = Instant::now();
        let c = Arc::new(load()?);
        self.last_load_ns.store(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        self.loads.fetch_add(1, Ordering::Relaxed);
        *cell = Some(c.clone());
        Ok(c)
    }

    /// Drops the slot's hold; the memory goes once no running job holds the component either.
    fn release(&self) {
        self.lock().take();
    }

    /// Counts `seconds` more to the latest load (a streamed text encoder opens its graphs
    /// while it encodes).
    fn add_load_time(&self, seconds: f64) {
        self.last_load_ns.fetch_add((seconds * 1e9) as u64, Ordering::Relaxed);
    }

    fn resident(&self) -> Option<Arc<T>> {
        self.lock().clone()
    }

    fn load_info(&self) -> ComponentLoad {
        ComponentLoad {
            name: self.name,
            loads: self.loads.load(Ordering::Relaxed),
            resident: self.lock().is_some(),
            last_load_s: self.last_load_ns.load(Ordering::Relaxed) as f64 * 1e-9,
        }
    }
}

/// How often a component was loaded, and whether it is in memory now.
#[derive(Clone, Debug, PartialEq)]
pub struct ComponentLoad {
    pub name: &'static str,
    /// Loads since the pipeline was made (a released component loads again when next needed).
    pub loads: usize,
    pub resident: bool,
    /// Seconds the latest load took (0 when never loaded); for a streamed text encoder, with the
    /// time its encode spent opening graphs.
    pub last_load_s: f64,
}

/// A component's ONNX Runtime sessions (for timing).
pub trait ComponentSessions: Send + Sync {
    fn onnx_sessions(&self) -> Vec<&OnnxSession>;
}

macro_rules! component_sessions {
    ($($t:ty),*) => {$(
        impl ComponentSessions for $t {
            fn onnx_sessions(&self) -> Vec<&OnnxSession> {
                <$t>::sessions(self)
            }
        }
    )*};
}
component_sessions!(TextEncoder, Denoiser, VaeDecoder, VaeEncoder, ImageEncoder);

/// A pipeline's components and what decides their residency.
pub(super) struct Components {
    text_encoder: Slot<TextEncoder>,
    denoiser: Slot<Denoiser>,
    decoder: Slot<VaeDecoder>,
    encoder: Slot<VaeEncoder>,
    image_encoder: Slot<ImageEncoder>,
    opts: RuntimeOptions,
    embeddings: Option<EmbeddingStore>,
}

impl Components {
    pub(super) fn new(opts: &RuntimeOptions) -> Self {
        let dir = match &opts.embedding_cache {
            EmbeddingCache::Off => None,
            EmbeddingCache::DefaultDir => opts.cache_root.as_ref().map(|r| r.join("embeds")),
            EmbeddingCache::Dir(d) => Some(d.clone()),
        };
        Components {
            text_encoder: Slot::new("text_encoder"),
            denoiser: Slot::new("denoiser"),
            decoder: Slot::new("vae_decoder"),
            encoder: Slot::new("vae_encoder"),
            image_encoder: Slot::new("image_encoder"),
            opts: opts.clone(),
            embeddings: dir.map(|d| EmbeddingStore::new(d, DEFAULT_BUDGET)),
        }
    }
}

/// What one job releases when it is done with a component (dropped at the job's end, an error's
/// included).
pub(super) struct JobScope<'a> {
    pipe: &'a Pipeline,
    pub(super) residency: Residency,
}

impl JobScope<'_> {
    /// The job's denoising is over (its last window): the denoiser may go before decoding.
    pub(super) fn denoising_done(&self) {
        if self.residency == Residency::LowMemory {
            self.pipe.components.denoiser.release();
        }
    }
}

impl Drop for JobScope<'_> {
    fn drop(&mut self) {
        if self.residency == Residency::LowMemory {
            let c = &self.pipe.components;
            c.text_encoder.release();
            c.denoiser.release();
            c.decoder.release();
            c.encoder.release();
            c.image_encoder.release();
        }
    }
}

impl Pipeline {
    /// Loads what [`Residency::KeepLoaded`] keeps from the start; other policies load on use.
    pub(super) fn preload(&self) -> Result<()> {
        if self.components.opts.residency == Residency::KeepLoaded {
            self.text_encoder(Residency::KeepLoaded)?;
            self.denoiser()?;
            self.decoder()?;
        }
        Ok(())
    }

    fn unbound(&self) -> RuntimeOptions {
        // CUDA graphs are for the denoiser's bound runs; the other components' shapes change.
        RuntimeOptions { cuda_graph: false, ..self.components.opts.clone() }
    }

    /// The text encoder: under [`Residency::LowMemory`] a streaming one (each graph opened, run
    /// and dropped in turn) unless an eager one is resident already.
    pub(super) fn text_encoder(&self, residency: Residency) -> Result<Arc<TextEncoder>> {
        self.components.text_encoder.get(|| match residency {
            Residency::LowMemory => Ok(TextEncoder::streaming(&self.package, self.device, &self.unbound())),
            Residency::KeepLoaded | Residency::Auto => TextEncoder::load(&self.package, self.device, &self.unbound()),
        })
    }

    pub(super) fn denoiser(&self) -> Result<Arc<Denoiser>> {
        self.components.denoiser.get(|| Denoiser::load(&self.package, self.device, &self.components.opts))
    }

    pub(super) fn decoder(&self) -> Result<Arc<VaeDecoder>> {
        self.components.decoder.get(|| VaeDecoder::load(&self.package, self.device, &self.unbound()))
    }

    /// The VAE encoder, loaded on first use (only jobs that continue from given frames need it).
    /// `job` names what needs it in the error for a model without one.
    pub fn vae_encoder(&self, job: &str) -> Result<Arc<VaeEncoder>> {
        self.require_encoder(job)?;
        self.components.encoder.get(|| {
            VaeEncoder::load(&self.package, self.device, &self.unbound())?
                .ok_or_else(|| Error::InvalidRequest(format!("model {} has no VAE encoder", self.package.manifest.name)))
        })
    }

    /// The image encoder (`conditioning.image_frames`), loaded on first use.
    pub(super) fn image_encoder(&self) -> Result<Arc<ImageEncoder>> {
        self.components.image_encoder.get(|| {
            ImageEncoder::load(&self.package, self.device, &self.unbound())?.ok_or_else(|| {
                Error::InvalidRequest(format!("model {} has no image encoder (image_encoder in kino.json)", self.package.manifest.name))
            })
        })
    }

    /// The resident components' ONNX Runtime sessions, by name (for timing).
    pub fn sessions(&self) -> Vec<(&'static str, Arc<dyn ComponentSessions>)> {
        let c = &self.components;
        let all: Vec<(&'static str, Option<Arc<dyn ComponentSessions>>)> = vec![
            (c.text_encoder.name, c.text_encoder.resident().map(|x| x as _)),
            (c.denoiser.name, c.denoiser.resident().map(|x| x as _)),
            (c.decoder.name, c.decoder.resident().map(|x| x as _)),
            (c.encoder.name, c.encoder.resident().map(|x| x as _)),
            (c.image_encoder.name, c.image_encoder.resident().map(|x| x as _)),
        ];
        all.into_iter().filter_map(|(n, s)| s.map(|s| (n, s))).collect()
    }

    /// Each component's loads so far and whether it is resident.
    pub fn loads(&self) -> Vec<ComponentLoad> {
        let c = &self.components;
        let mut all = vec![c.text_encoder.load_info(), c.denoiser.load_info(), c.decoder.load_info(), c.encoder.load_info()];
        if self.package.manifest.image_encoder.is_some() {
            all.push(c.image_encoder.load_info());
        }
        all
    }

    /// The policy a job of `req` runs under (Auto decided from its estimate and the memory the
    /// front door measured). `encodes_frames`: the job continues from given frames.
    pub fn residency_for(&self, req: &GenerateRequest, encodes_frames: bool) -> Residency {
        let o = &self.components.opts;
        if o.residency != Residency::Auto {
            return o.residency;
        }
        o.residency.resolve(req.estimated_memory_as(&self.package, 0, encodes_frames, Residency::KeepLoaded), o.memory_available)
    }

    pub(super) fn job(&self, req: &GenerateRequest, encodes_frames: bool) -> JobScope<'_> {
        JobScope { pipe: self, residency: self.residency_for(req, encodes_frames) }
    }

    /// Text embeddings `[B, L, D]` for `tokens`: from the cache when a sound entry is there (the
    /// text encoder is then never loaded), else encoded and cached.
    pub(super) fn text_embeddings(&self, tokens: &TokenBatch, job: &JobScope<'_>) -> Result<Array3<f32>> {
        let spec = &self.package.manifest.text_encoder;
        let store = self.components.embeddings.as_ref();
        let graphs: Vec<_> = spec.chain().iter().map(|(_, g)| self.package.dir.join(&g.file)).collect();
        let key = store.and_then(|s| s.key(&graphs, self.device, loaded_library().as_deref(), &format!("{spec:?}"), tokens));
        if let (Some(s), Some(k)) = (store, &key) {
            let (batch, len) = tokens.ids.dim();
            if let Some(e) = s.get(k, batch, len, spec.text_dim) {
                log::debug!("prompt embeddings from {}", s.dir().display());
                return Ok(e);
            }
        }
        let encoder = self.text_encoder(job.residency)?;
        let opened = encoder.opening_s();
        let embeds = encoder.encode(tokens)?;
        self.components.text_encoder.add_load_time(encoder.opening_s() - opened);
        drop(encoder);
        if job.residency == Residency::LowMemory {
            self.components.text_encoder.release();
        }
        if let (Some(s), Some(k)) = (store, &key) {
            s.put(k, &embeds);
        }
        Ok(embeds)
    }
}

impl GenerateRequest {
    /// As [`GenerateRequest::estimated_memory`], for a job run under `residency` (Auto counts as
    /// keeping everything): with every component it uses resident, or (low memory) the largest
    /// of the text encoder alone and the rest together. `encodes_frames`: the job continues from
    /// given frames and loads the VAE encoder (so do clips longer than one window). Float16
    /// weights count twice: ONNX Runtime's CPU provider holds them as float32.
    pub fn estimated_memory_as(&self, pkg: &ModelPackage, extra: u64, encodes_frames: bool, residency: Residency) -> u64 {
        let size = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        let mut weights = [0u64; 4]; // text encoder, denoiser, decoder, encoder, as held in memory
        let mut on_disk = 0u64;
        let mut text_graphs = Vec::new(); // each text-encoder graph (with its data)
        for (field, file) in pkg.named_files() {
            let p = pkg.dir.join(&file);
            let data = p.with_file_name(format!("{}.data", p.file_name().map(|n| n.to_string_lossy()).unwrap_or_default()));
            let slot = match field.split('.').next() {
                Some("text_encoder") => 0,
                Some("denoiser") => 1,
                Some("vae_decoder") => 2,
                // The image encoder runs beside the VAE encoder, on the given frames.
                Some("vae_encoder") | Some("image_encoder") => 3,
                _ => continue,
            };
            let bytes = size(&p) + size(&data);
            on_disk += bytes;
            // ONNX Runtime's CPU provider holds float16 weights as float32: twice their bytes.
            let bytes = bytes + crate::runtime::half_precision_bytes(&p).unwrap_or(0);
            weights[slot] += bytes;
            if slot == 0 {
                text_graphs.push(bytes);
            }
        }
        // What `estimated_memory` adds beyond the weights: frames, what the caller holds, slack.
        let overhead = self.estimated_memory(pkg, extra).saturating_sub(on_disk + on_disk / 3);
        let held = |w: u64| w + w / 3;
        let encoder = if encodes_frames || self.frames > pkg.manifest.video.max_frames { weights[3] } else { 0 };
        let rest = weights[1] + weights[2] + encoder;
        let peak = match residency {
            // The text encoder streams: one graph in memory at a time.
            Residency::LowMemory => held(text_graphs.iter().copied().max().unwrap_or(0)).max(held(rest)),
            Residency::KeepLoaded | Residency::Auto => held(weights[0] + rest),
        };
        peak + overhead
    }
}

#[cfg(test)]
#[path = "residency_tests.rs"]
mod tests;
