//! The denoiser (the diffusion transformer): noisy latents + timestep + text -> velocity, run
//! window by window with its inputs bound once per window.

use super::components::{required, role};
use crate::error::{Error, Result};
use crate::model::manifest::{DenoiserSpec, TimestepShape};
use crate::model::ModelPackage;
use crate::runtime::{BoundRun, Device, Input, OnnxSession, RuntimeOptions};

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
