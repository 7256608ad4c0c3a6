//! The denoiser (the diffusion transformer): noisy latents + timestep + text -> velocity, run
//! window by window with its inputs bound once per window.

use ndarray::{Array2, Array3, Array5, ArrayView2, ArrayView3, ArrayView5, ArrayViewD, ArrayViewMut5, Ix5};

use super::components::{finite, required, role};
use crate::error::{Error, Result};
use crate::model::manifest::{DenoiserSpec, GraphSpec, TimestepShape};
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
    condition: Option<String>,
    image_embeds: Option<String>,
    velocity: String,
}

/// The shapes a binding was made for: (latents, timestep, text, condition and image tokens).
type WindowKey = ([usize; 5], Vec<usize>, [usize; 3], Vec<usize>);

/// A window's given frames as the denoiser's extra inputs (`conditioning.context_channels`), for
/// one sample: the condition `[1, t + C, f, h, w]` and the image tokens `[1, n, D]`. Every sample
/// of a batch (the guided pair) gets the same.
pub struct ChannelInputs<'a> {
    pub condition: ArrayView5<'a, f32>,
    pub image_embeds: Option<ArrayView3<'a, f32>>,
}

impl ChannelInputs<'_> {
    fn shapes(&self) -> Vec<usize> {
        let mut v = self.condition.shape().to_vec();
        v.extend(self.image_embeds.iter().flat_map(|e| e.shape().to_vec()));
        v
    }
}

/// `x` (batch 1) repeated `b` times along the batch axis, in standard layout.
fn repeated<D: ndarray::Dimension + ndarray::RemoveAxis>(x: ndarray::ArrayView<'_, f32, D>, b: usize) -> ndarray::Array<f32, D> {
    let views: Vec<_> = (0..b).map(|_| x.view()).collect();
    ndarray::concatenate(ndarray::Axis(0), &views).unwrap_or_else(|_| x.to_owned())
}

/// At most this many bindings are kept (each holds a window's tensors).
const KEPT_BINDINGS: usize = 4;

/// One denoiser call's inputs: latents `[B, C, F, h, w]`, text `[B, L, D]` and its mask `[B, L]`.
pub struct DenoiserInputs<'a> {
    pub latents: ArrayView5<'a, f32>,
    /// Laid out per the manifest's `timestep_shape` (`[B]`, `[B, F]` or `[B, tokens]`).
    pub timestep: &'a [f32],
    pub text_embeds: ArrayView3<'a, f32>,
    pub text_mask: ArrayView2<'a, i64>,
    /// Time positions (pixel frames) of the latent frames, for `video_coords` models; `None`:
    /// the window's own, from frame 0.
    pub positions: Option<&'a [f32]>,
    /// `conditioning.context_channels` models: the condition `[B, t + C, f, h, w]`.
    pub condition: Option<ArrayView5<'a, f32>>,
    /// Models with `conditioning.image_frames`: the image tokens `[B, n, D]`.
    pub image_embeds: Option<ArrayView3<'a, f32>>,
}

impl Denoiser {
    pub fn load(pkg: &ModelPackage, device: Device, opts: &RuntimeOptions) -> Result<Self> {
        if opts.cuda_graph && opts.unbound_runs {
            return Err(Error::InvalidRequest("CUDA graphs need the denoiser's bound runs: drop --unbound-runs".into()));
        }
        let spec = pkg.manifest.denoiser.clone();
        let g = &spec.graph;
        let c = &pkg.manifest.conditioning;
        let f = "denoiser";
        Ok(Denoiser {
            latents: required(pkg, f, g, true, "latents")?.to_string(),
            timestep: required(pkg, f, g, true, "timestep")?.to_string(),
            text_embeds: required(pkg, f, g, true, "text_embeds")?.to_string(),
            text_mask: role(g, true, "text_mask").map(str::to_string),
            video_coords: paired_role(pkg, g, "video_coords", spec.video_coords.is_some(), "the `video_coords` block")?,
            condition: paired_role(pkg, g, "condition", c.context_channels, "`conditioning.context_channels`")?,
            image_embeds: paired_role(pkg, g, "image_embeds", !c.image_frames.is_empty(), "`conditioning.image_frames`")?,
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
    pub fn window(
        &self,
        latent_shape: [usize; 5],
        tokens: usize,
        text_embeds: ArrayView3<'_, f32>,
        text_mask: ArrayView2<'_, i64>,
        positions: Option<&[f32]>,
        channels: Option<&ChannelInputs<'_>>,
    ) -> Result<DenoiserWindow<'_>> {
        if self.condition.is_some() != channels.is_some()
            || (self.image_embeds.is_some() != channels.is_some_and(|c| c.image_embeds.is_some()))
        {
            return Err(self.bound_error(ort::Error::new("the window's condition and image tokens do not match the graph's inputs")));
        }
        let b = latent_shape[0];
        if let Some(c) = channels {
            let [_, _, f, h, w] = latent_shape;
            let (cb, _, cf, ch, cw) = c.condition.dim();
            if (cb, cf, ch, cw) != (1, f, h, w) || c.image_embeds.is_some_and(|e| e.dim().0 != 1) {
                return Err(self.bound_error(ort::Error::new(format!(
                    "condition of shape {:?} for latents of shape {latent_shape:?}",
                    c.condition.shape()
                ))));
            }
        }
        if let Some(p) = positions.filter(|p| p.len() != latent_shape[2]) {
            return Err(self.bound_error(ort::Error::new(format!("{} positions for {} latent frames", p.len(), latent_shape[2]))));
        }
        let (tb, l, d) = text_embeds.dim();
        if tb != b || text_mask.dim() != (b, l) {
            return Err(self.bound_error(ort::Error::new(format!(
                "text mask of shape {:?} for text of shape {:?}",
                text_mask.shape(),
                text_embeds.shape()
            ))));
        }
        let text_shape = [b, l, d];
        let t_shape = self.timestep_shape(latent_shape, tokens);
        let unbound = |t_shape: Vec<usize>| DenoiserWindow {
            denoiser: self,
            latent_shape,
            tokens,
            t_shape,
            runs: Runs::Unbound(Box::new(Unbound {
                latents: Array5::zeros(latent_shape),
                text_embeds: text_embeds.to_owned(),
                text_mask: text_mask.to_owned(),
                positions: positions.map(<[f32]>::to_vec),
                condition: channels.map(|c| repeated(c.condition, b)),
                image_embeds: channels.and_then(|c| c.image_embeds).map(|e| repeated(e, b)),
            })),
        };
        use std::sync::atomic::Ordering;
        let Some(cache) = self.bindings.as_ref().filter(|_| !self.binding_refused.load(Ordering::Relaxed)) else {
            return Ok(unbound(t_shape));
        };
        let key: WindowKey = (latent_shape, t_shape.clone(), text_shape, channels.map(ChannelInputs::shapes).unwrap_or_default());
        match self.bind_window(cache, &key, text_embeds, text_mask, positions, channels) {
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
    fn bind_window(
        &self,
        cache: &std::sync::Mutex<Vec<(WindowKey, BoundRun)>>,
        key: &WindowKey,
        text_embeds: ArrayView3<'_, f32>,
        text_mask: ArrayView2<'_, i64>,
        positions: Option<&[f32]>,
        channels: Option<&ChannelInputs<'_>>,
    ) -> Result<BoundRun> {
        let fail = |e| self.bound_error(e);
        let (latent_shape, _, text_shape, _) = key;
        let reused = {
            let mut kept = cache.lock().map_err(|_| fail(ort::Error::new("binding cache poisoned by an earlier panic")))?;
            kept.iter().position(|(k, _)| k == key).map(|i| kept.remove(i).1)
        };
        let mut bound = match reused {
            Some(b) => b,
            None => self.session.bind("denoiser")?,
        };
        // The bound tensors have the arrays' shapes: element for element, in standard order.
        bound
            .write_f32(&self.text_embeds, text_shape, |b| b.iter_mut().zip(&text_embeds).for_each(|(to, from)| *to = *from))
            .map_err(fail)?;
        if let Some(m) = &self.text_mask {
            bound
                .write_i64(m, &[text_shape[0], text_shape[1]], |b| b.iter_mut().zip(&text_mask).for_each(|(to, from)| *to = *from))
                .map_err(fail)?;
        }
        let [b, _, f, h, w] = *latent_shape;
        if let (Some(name), Some(vc)) = (&self.video_coords, &self.spec.video_coords) {
            let coords = match positions {
                Some(p) => vc.for_positions(b, p, h, w),
                None => vc.for_shape(b, f, h, w),
            };
            bound.write_f32(name, &[b, 3, f * h * w], |buf| buf.copy_from_slice(&coords)).map_err(fail)?;
        }
        // The condition and image tokens, the same for every sample of the batch.
        let extra = [
            (&self.condition, channels.map(|c| c.condition.into_dyn())),
            (&self.image_embeds, channels.and_then(|c| c.image_embeds).map(|e| e.into_dyn())),
        ];
        for (name, x) in extra {
            if let (Some(name), Some(x)) = (name, x) {
                let mut shape = x.shape().to_vec();
                shape[0] = b;
                let one = x.len();
                bound
                    .write_f32(name, &shape, |buf| {
                        buf.chunks_mut(one).for_each(|s| s.iter_mut().zip(x.iter()).for_each(|(to, from)| *to = *from))
                    })
                    .map_err(fail)?;
            }
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
    pub fn predict_with(&self, x: &DenoiserInputs<'_>, tokens: usize, read: &mut dyn FnMut(ArrayView5<'_, f32>)) -> Result<()> {
        let fail =
            |reason: String| Error::Inference { component: "denoiser".into(), file: self.session.file.display().to_string(), reason };
        let (b, _, f, h, w) = x.latents.dim();
        let t_shape = self.timestep_shape([b, 0, f, h, w], tokens);
        // A view may be shorter than its slice; the timesteps must fill their shape exactly.
        let timestep = ArrayViewD::from_shape(t_shape.as_slice(), x.timestep)
            .ok()
            .filter(|_| x.timestep.len() == t_shape.iter().product::<usize>())
            .ok_or_else(|| fail(format!("{} timestep values for the shape {t_shape:?}", x.timestep.len())))?;
        let mut inputs = vec![
            (self.latents.as_str(), Input::f32(x.latents.view())),
            (self.timestep.as_str(), Input::F32(timestep)),
            (self.text_embeds.as_str(), Input::f32(x.text_embeds.view())),
        ];
        if let Some(m) = &self.text_mask {
            inputs.push((m.as_str(), Input::i64(x.text_mask.view())));
        }
        let coords = match &self.spec.video_coords {
            Some(vc) => Some(
                Array3::from_shape_vec(
                    (b, 3, f * h * w),
                    x.positions.map_or_else(|| vc.for_shape(b, f, h, w), |p| vc.for_positions(b, p, h, w)),
                )
                .map_err(|e| fail(format!("video coordinates: {e}")))?,
            ),
            None => None,
        };
        if let (Some(name), Some(c)) = (&self.video_coords, &coords) {
            inputs.push((name.as_str(), Input::f32(c.view())));
        }
        if let (Some(name), Some(c)) = (&self.condition, &x.condition) {
            inputs.push((name.as_str(), Input::f32(c.view())));
        }
        if let (Some(name), Some(e)) = (&self.image_embeds, &x.image_embeds) {
            inputs.push((name.as_str(), Input::f32(e.view())));
        }
        self.session.run_view("denoiser", &inputs, &[&self.velocity], |out| {
            let v = out[0].view().into_dimensionality::<Ix5>().ok().filter(|v| v.dim() == x.latents.dim());
            let v =
                v.ok_or_else(|| fail(format!("velocity shape {:?} differs from the latents' {:?}", out[0].shape(), x.latents.shape())))?;
            read(finite("denoiser", &self.session.file, v)?);
            Ok(())
        })
    }
}

/// The graph name of an optional denoiser input `r` that comes with a manifest field (`declared`
/// says whether the field asks for it, `field` names it): both or neither.
fn paired_role(pkg: &ModelPackage, g: &GraphSpec, r: &str, declared: bool, field: &str) -> Result<Option<String>> {
    match (role(g, true, r), declared) {
        (Some(name), true) => Ok(Some(name.to_string())),
        (None, false) => Ok(None),
        _ => Err(Error::package_file(
            &pkg.dir,
            "kino.json",
            format!("field `denoiser`: the input role `{r}` and {field} come together (one is missing)"),
        )),
    }
}

/// Inputs of an unbound window, owned so each run can borrow them.
#[derive(Default)]
struct Unbound {
    latents: Array5<f32>,
    text_embeds: Array3<f32>,
    text_mask: Array2<i64>,
    positions: Option<Vec<f32>>,
    condition: Option<Array5<f32>>,
    image_embeds: Option<Array3<f32>>,
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
    Unbound(Box<Unbound>),
}

impl DenoiserWindow<'_> {
    /// One run: `write_latents` fills the latents in place (the window's latent shape),
    /// `timestep` is laid out as [`Denoiser::timestep_shape`] says; `read` gets the velocity.
    pub fn run(
        &mut self,
        timestep: &[f32],
        write_latents: impl FnOnce(ArrayViewMut5<'_, f32>),
        read: impl FnOnce(ArrayView5<'_, f32>),
    ) -> Result<()> {
        let d = self.denoiser;
        let bound = match &mut self.runs {
            Runs::Bound(_, bound) => bound,
            Runs::Unbound(u) => {
                write_latents(u.latents.view_mut());
                let x = DenoiserInputs {
                    latents: u.latents.view(),
                    timestep,
                    text_embeds: u.text_embeds.view(),
                    text_mask: u.text_mask.view(),
                    positions: u.positions.as_deref(),
                    condition: u.condition.as_ref().map(|c| c.view()),
                    image_embeds: u.image_embeds.as_ref().map(|e| e.view()),
                };
                let mut read = Some(read);
                return d.predict_with(&x, self.tokens, &mut |v| {
                    if let Some(r) = read.take() {
                        r(v)
                    }
                });
            }
        };
        let fail = |e| d.bound_error(e);
        if timestep.len() != self.t_shape.iter().product::<usize>() {
            return Err(fail(ort::Error::new(format!("{} timestep values for the shape {:?}", timestep.len(), self.t_shape))));
        }
        // The bound tensor was made with the window's latent shape, so the view always fits.
        let shape = self.latent_shape;
        let mut fits = true;
        bound
            .write_f32(&d.latents, &shape, |buf| match ArrayViewMut5::from_shape(shape, buf) {
                Ok(x) => write_latents(x),
                Err(_) => fits = false,
            })
            .map_err(fail)?;
        if !fits {
            return Err(fail(ort::Error::new(format!("the bound latents do not have the shape {shape:?}"))));
        }
        bound.write_f32(&d.timestep, &self.t_shape, |buf| buf.copy_from_slice(timestep)).map_err(fail)?;
        d.session.run_bound("denoiser", bound)?;
        let v = bound.output(&d.velocity).ok_or_else(|| fail(ort::Error::new("velocity output is not bound")))?;
        let got = v.shape().to_vec();
        let v = v.into_dimensionality::<Ix5>().ok().filter(|v| v.shape() == shape);
        let v = v.ok_or_else(|| fail(ort::Error::new(format!("velocity shape {got:?} differs from the latents' {shape:?}"))))?;
        read(finite("denoiser", &d.session.file, v)?);
        Ok(())
    }
}

impl Drop for DenoiserWindow<'_> {
    fn drop(&mut self) {
        // The binding goes back for the next window of the same shapes.
        if let (Runs::Bound(key, bound), Some(cache)) =
            (std::mem::replace(&mut self.runs, Runs::Unbound(Box::default())), &self.denoiser.bindings)
        {
            if let Ok(mut kept) = cache.lock() {
                if kept.len() >= KEPT_BINDINGS {
                    kept.remove(0);
                }
                kept.push((key, *bound));
            }
        }
    }
}
