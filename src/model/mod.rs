//! Model packages: the manifest, its validation against the ONNX graphs, and the components.

pub mod components;
mod denoiser;
mod image_encoder;
pub mod manifest;
pub mod sandbox;
mod search;
mod text_chain;
mod text_encoder;
mod vae;
pub mod validate;

pub use search::{find_packages, ModelSearch, ANCHORED};

use std::path::{Path, PathBuf};

pub use denoiser::{ChannelInputs, Denoiser, DenoiserInputs, DenoiserWindow};
pub use image_encoder::{join_images, ImageEncoder};
pub use manifest::{ContextAt, KeyframeLatent, Manifest};
use manifest::{GraphSpec, Padding, TimestepShape, VaeSpec, SCHEMA_VERSION};
pub use text_encoder::TextEncoder;
pub use vae::ChunkSink;
pub use vae::{VaeDecoder, VaeEncoder};

use crate::error::{Error, Result};
use crate::runtime::{external_data_files, DType, Device, OnnxSession, RuntimeOptions, ShapeProfile};

/// Name of the shipped default model.
pub const DEFAULT_MODEL: &str = "kino-shapes";

/// A model package folder with a parsed, checked manifest.
#[derive(Clone, Debug)]
pub struct ModelPackage {
    pub dir: PathBuf,
    pub manifest: Manifest,
}

impl ModelPackage {
    /// Reads `kino.json` and checks everything that can be checked without ONNX Runtime: schema
    /// version, every number within its range (docs/model-package.md), every file the manifest or
    /// a graph names present, inside the package folder and a regular file.
    pub fn load(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        if !dir.is_dir() {
            let what = if dir.exists() { "is not a folder" } else { "no such folder" };
            return Err(Error::package(&dir, what).with_hint(crate::error::Hint::ChooseModel));
        }
        let root = sandbox::root(&dir)?;
        let path = sandbox::resolve(&dir, &root, "kino.json", "kino.json").map_err(|e| match e {
            Error::PackageFile { dir, file, message } if message.starts_with("missing") => {
                Error::PackageFile { dir, file, message: "missing; is this a kino model package?".into() }
            }
            other => other,
        })?;
        let bytes = sandbox::read_capped(&dir, "kino.json", &path, sandbox::MAX_MANIFEST_BYTES)?;
        let text = String::from_utf8(bytes).map_err(|e| Error::package_file(&dir, "kino.json", format!("not UTF-8 text ({e})")))?;
        // A byte-order mark (editors on Windows write one) is not JSON, and says nothing.
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        // Check the version before the full parse so an old/new schema gets the right message.
        let raw: serde_json::Value =
            serde_json::from_str(text).map_err(|e| Error::package_file(&dir, "kino.json", one_line(&format!("not valid JSON: {e}"))))?;
        match raw.get("schema_version").and_then(|v| v.as_u64()) {
            Some(v) if v == SCHEMA_VERSION as u64 => {}
            Some(v) => {
                return Err(Error::package_file(&dir, "kino.json", format!("schema_version {v} is not supported by this kino (it reads version {SCHEMA_VERSION}); re-export the package or update kino")))
            }
            None => return Err(Error::package_file(&dir, "kino.json", "missing field `schema_version`")),
        }
        // The field's path in the message (`field `video.fps`: invalid type ...`), as the checks
        // after parsing name theirs.
        let manifest: Manifest = serde_path_to_error::deserialize(raw).map_err(|e| {
            let at = e.path().to_string();
            let what = one_line(&e.into_inner().to_string());
            Error::package_file(&dir, "kino.json", if at == "." { what } else { format!("field `{at}`: {what}") })
        })?;
        let pkg = ModelPackage { dir, manifest };
        validate::check(&pkg.manifest).map_err(|msg| Error::package_file(&pkg.dir, "kino.json", one_line(&msg)))?;
        pkg.check_files(&root)?;
        Ok(pkg)
    }

    /// Every file the manifest names, and every external data file its graphs name, checked
    /// against the sandbox rules before any is opened (see [`sandbox`]).
    fn check_files(&self, root: &Path) -> Result<()> {
        let named = self.named_files();
        let mut graphs = Vec::new();
        for (field, file) in &named {
            let path = sandbox::resolve(&self.dir, root, file, &format!("field `{field}`"))?;
            // An empty protobuf parses as an empty graph: an empty file (a copy that failed, a
            // full disk) is said here, not when the first session opens.
            if std::fs::metadata(&path).is_ok_and(|m| m.is_file() && m.len() == 0) {
                return Err(Error::package_file(
                    &self.dir,
                    file.as_str(),
                    "is empty (0 bytes); the copy is incomplete or the file is corrupt, re-export it",
                ));
            }
            if field.ends_with(".file") && !field.starts_with("tokenizer") {
                graphs.push((file, path));
            }
        }
        for (file, path) in graphs {
            let data = external_data_files(&path).map_err(|e| {
                Error::package_file(
                    &self.dir,
                    file.as_str(),
                    format!("not an ONNX graph ({}); the file is corrupt or not ONNX, re-export it", one_line(&e)),
                )
            })?;
            // ONNX Runtime reads external data relative to the graph's folder as named.
            let base = Path::new(file.as_str()).parent().unwrap_or(Path::new(""));
            for name in data {
                let rel = base.join(&name);
                let rel = rel.to_string_lossy();
                if Path::new(&name).is_absolute() {
                    return Err(Error::package_file(
                        &self.dir,
                        file.as_str(),
                        format!(
                            "names external data at the absolute path {:?}; a package may only name files inside its own folder",
                            one_line(&name)
                        ),
                    ));
                }
                sandbox::resolve(&self.dir, root, &rel, &format!("the external data of {file}"))?;
            }
        }
        Ok(())
    }

    /// Every file the manifest names, with the field that names it.
    pub fn named_files(&self) -> Vec<(String, String)> {
        let m = &self.manifest;
        let mut files = vec![
            ("tokenizer.file".to_string(), m.tokenizer.file.clone()),
            ("text_encoder.file".to_string(), m.text_encoder.graph.file.clone()),
            ("denoiser.file".to_string(), m.denoiser.graph.file.clone()),
        ];
        for (i, stage) in m.text_encoder.stages.iter().enumerate() {
            files.push((format!("text_encoder.stages[{i}].file"), stage.file.clone()));
        }
        if let Some(e) = &m.image_encoder {
            files.push(("image_encoder.file".to_string(), e.graph.file.clone()));
        }
        for (field, vae) in std::iter::once(("vae_decoder", &m.vae_decoder)).chain(m.vae_encoder.as_ref().map(|e| ("vae_encoder", e))) {
            match vae {
                VaeSpec::WholeClip { graph, .. } => files.push((format!("{field}.file"), graph.file.clone())),
                VaeSpec::CausalChunks { first, step, .. } => {
                    files.push((format!("{field}.first.file"), first.file.clone()));
                    files.push((format!("{field}.step.file"), step.file.clone()));
                }
            }
        }
        files
    }

    /// Every file the manifest names.
    pub fn files(&self) -> Vec<String> {
        self.named_files().into_iter().map(|(_, f)| f).collect()
    }

    /// Opens one graph and checks its inputs and outputs against the manifest.
    pub(crate) fn open_graph(&self, field: &str, spec: &GraphSpec, device: Device, opts: &RuntimeOptions) -> Result<OnnxSession> {
        let path = self.dir.join(&spec.file);
        let profile = if matches!(device, Device::TensorRt(_)) { self.shape_profile(field, spec) } else { None };
        let session = OnnxSession::open(&path, device, opts, profile.as_ref()).map_err(|e| match e {
            Error::Inference { reason, .. } => Error::package_file(
                &self.dir,
                &spec.file,
                format!("cannot load as an ONNX model ({reason}); the file is corrupt or not ONNX, re-export it"),
            ),
            other => other,
        })?;
        for (side, roles, actual) in [("inputs", &spec.inputs, &session.inputs), ("outputs", &spec.outputs, &session.outputs)] {
            for (role, t) in roles {
                let Some(info) = actual.iter().find(|i| i.name == t.name) else {
                    let names: Vec<&str> = actual.iter().map(|i| i.name.as_str()).collect();
                    return Err(Error::package_file(
                        &self.dir,
                        &spec.file,
                        format!("field `{field}.{side}.{role}` names {:?}, but the graph's {side} are {names:?}", t.name),
                    ));
                };
                let want = DType::parse(&t.dtype).ok_or_else(|| {
                    Error::package_file(
                        &self.dir,
                        "kino.json",
                        format!("field `{field}.{side}.{role}.dtype`: unknown dtype {:?} (use float32, float16 or int64)", t.dtype),
                    )
                })?;
                if info.dtype != want {
                    return Err(Error::package_file(
                        &self.dir,
                        &spec.file,
                        format!("field `{field}.{side}.{role}` says {} but the graph's {:?} is {}", t.dtype, t.name, info.dtype.name()),
                    ));
                }
                if side == "inputs" {
                    self.check_fixed_size(field, &spec.file, role, info)?;
                }
            }
            // A graph input the manifest does not know would be left unfed.
            if side == "inputs" {
                if let Some(extra) = actual.iter().find(|i| !roles.values().any(|t| t.name == i.name)) {
                    return Err(Error::package_file(
                        &self.dir,
                        &spec.file,
                        format!("graph input {:?} is not named in `{field}.inputs`", extra.name),
                    ));
                }
            }
        }
        Ok(session)
    }
}

impl ModelPackage {
    /// An input's sizes that the manifest states too (latent channels, the text embedding's
    /// width), where the graph fixes them: a graph from another model is refused at load rather
    /// than failing after the denoising with ONNX Runtime's words.
    fn check_fixed_size(&self, field: &str, file: &str, role: &str, info: &crate::runtime::TensorInfo) -> Result<()> {
        let m = &self.manifest;
        let stated: &[(&str, usize, usize, &str)] = match field {
            "denoiser" => {
                &[("latents", 1, m.latent.channels, "latent.channels"), ("text_embeds", 2, m.denoiser.text_dim, "denoiser.text_dim")]
            }
            f if f.starts_with("vae_decoder") => &[("latents", 1, m.latent.channels, "latent.channels")],
            _ => &[],
        };
        for &(r, axis, want, source) in stated {
            if r != role {
                continue;
            }
            if let Some(got) = info.dims.get(axis).copied().flatten().filter(|&got| got != want) {
                return Err(Error::package_file(
                    &self.dir,
                    file,
                    format!("the graph's {:?} ({field}'s `{role}`) has {got} at axis {axis}, but `{source}` says {want}: the graph is from another model, or the field is wrong", info.name),
                ));
            }
        }
        Ok(())
    }

    /// The TensorRT shape profile of a graph, from the manifest's size and frame ranges: smallest
    /// and largest sizes and frame counts, the defaults as the typical shape, batch 1 to the
    /// denoiser's `max_batch` (2 at most: guidance). `None` for graphs whose inputs kino cannot
    /// bound from the manifest (causal-chunk caches).
    pub fn shape_profile(&self, field: &str, spec: &GraphSpec) -> Option<ShapeProfile> {
        let m = &self.manifest;
        let (v, l) = (&m.video, &m.latent);
        let s = l.spatial_compression as usize;
        let px = [v.min_size as usize, v.default_height as usize, v.max_size as usize];
        let pw = [v.min_size as usize, v.default_width as usize, v.max_size as usize];
        let lh = px.map(|x| x / s);
        let lw = pw.map(|x| x / s);
        let frames_px = [l.nearest_valid_frames(1.0) as usize, v.default_frames as usize, v.max_frames as usize];
        let lf = frames_px.map(|f| l.latent_frames(f as u32));
        let guided = m.defaults.guidance > 1.0 || m.defaults.guidance_given_frames.is_some_and(|g| g > 1.0);
        let b_max = m.denoiser.max_batch.clamp(1, 2);
        let batch = [1, if guided { b_max } else { 1 }, b_max];
        let text_len = match m.tokenizer.padding {
            Padding::MaxLength => [m.tokenizer.max_length; 3],
            Padding::Longest => [1, m.tokenizer.max_length, m.tokenizer.max_length],
        };
        let mut p = ShapeProfile::default();
        let name = |role: &str| spec.inputs.get(role).map(|t| t.name.clone());
        // One input's shapes from a function of the profile point (0 = min, 1 = opt, 2 = max).
        let mut add = |role: &str, dims: &dyn Fn(usize) -> Vec<usize>| {
            if let Some(n) = name(role) {
                p.push(&n, &dims(0), &dims(1), &dims(2));
            }
        };
        match field {
            "text_encoder" => {
                // The prompt and the negative prompt in one batch.
                let b = [1, if guided { 2 } else { 1 }, 2];
                add("input_ids", &|i| vec![b[i], text_len[i]]);
                add("attention_mask", &|i| vec![b[i], text_len[i]]);
            }
            "denoiser" => {
                let c = l.channels;
                let d = m.denoiser.text_dim;
                let tokens = |i: usize| lf[i] * lh[i] * lw[i];
                add("latents", &|i| vec![batch[i], c, lf[i], lh[i], lw[i]]);
                add("timestep", &|i| match m.denoiser.timestep_shape {
                    TimestepShape::PerSample => vec![batch[i]],
                    TimestepShape::PerFrame => vec![batch[i], lf[i]],
                    TimestepShape::PerToken => vec![batch[i], tokens(i)],
                });
                add("text_embeds", &|i| vec![batch[i], text_len[i], d]);
                add("text_mask", &|i| vec![batch[i], text_len[i]]);
                add("video_coords", &|i| vec![batch[i], 3, tokens(i)]);
                let t = l.temporal_compression as usize;
                add("condition", &|i| vec![batch[i], t + c, lf[i], lh[i], lw[i]]);
                if let Some(e) = &m.image_encoder {
                    let n = m.conditioning.image_frames.len().max(1);
                    add("image_embeds", &|i| vec![batch[i], n * e.tokens, e.dim]);
                }
            }
            "image_encoder" => {
                // Each image's centre square, one image at a time.
                add("image", &|i| {
                    let side = px[i].min(pw[i]);
                    vec![1, 3, side, side]
                });
            }
            "vae_decoder" if matches!(m.vae_decoder, VaeSpec::WholeClip { .. }) => {
                add("latents", &|i| vec![1, l.channels, lf[i], lh[i], lw[i]]);
                add("timestep", &|_| vec![1]);
            }
            "vae_encoder" if matches!(m.vae_encoder, Some(VaeSpec::WholeClip { .. })) => {
                add("frames", &|i| vec![1, 3, frames_px[i], px[i], pw[i]]);
            }
            _ => return None,
        }
        (!p.min.is_empty()).then_some(p)
    }
}

/// `s` on one line: a newline from a hostile manifest (echoed by serde in "unknown variant")
/// would otherwise split an error message.
pub(crate) fn one_line(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

#[cfg(test)]
mod fuzz_tests;
#[cfg(test)]
pub(crate) mod package_tests;

#[cfg(test)]
mod tests {
    use super::*;

    fn package(name: &str) -> ModelPackage {
        ModelPackage::load(Path::new(env!("CARGO_MANIFEST_DIR")).join(name)).unwrap()
    }

    #[test]
    fn tensorrt_profiles_span_the_manifest_ranges() {
        let pkg = package("models/kino-shapes");
        let m = &pkg.manifest;
        let p = pkg.shape_profile("denoiser", &m.denoiser.graph).unwrap();
        // 64 px only at 4x compression, 1..17 frames (1..5 latent frames), default 64x64x17 with
        // guidance (batch 2), per-frame timesteps, prompts padded to the longest (1..16 tokens).
        assert_eq!(p.min, "latents:1x4x1x16x16,timestep:1x1,text_embeds:1x1x64,text_mask:1x1");
        assert_eq!(p.opt, "latents:2x4x5x16x16,timestep:2x5,text_embeds:2x16x64,text_mask:2x16");
        assert_eq!(p.max, "latents:2x4x5x16x16,timestep:2x5,text_embeds:2x16x64,text_mask:2x16");
        let te = pkg.shape_profile("text_encoder", &m.text_encoder.graph).unwrap();
        assert_eq!(te.max, "input_ids:2x16,attention_mask:2x16");
        // Causal-chunk decoders carry caches whose shapes the manifest does not state.
        let VaeSpec::CausalChunks { first, .. } = &m.vae_decoder else { panic!() };
        assert!(pkg.shape_profile("vae_decoder", first).is_none());
        let Some(VaeSpec::WholeClip { graph, .. }) = &m.vae_encoder else { panic!() };
        assert_eq!(pkg.shape_profile("vae_encoder", graph).unwrap().max, "frames:1x3x17x64x64");
    }

    #[test]
    fn tensorrt_profiles_cover_per_token_timesteps_and_positions() {
        let pkg = package("models/fixtures/ltx-tiny");
        let m = &pkg.manifest;
        let p = pkg.shape_profile("denoiser", &m.denoiser.graph).unwrap();
        let tokens_max = m.latent.latent_frames(m.video.max_frames) * (m.video.max_size / m.latent.spatial_compression).pow(2) as usize;
        assert!(p.max.contains(&format!("video_coords:2x3x{tokens_max}")), "{}", p.max);
        // Padded to max_length: the text length is fixed.
        let l = m.tokenizer.max_length;
        for shapes in [&p.min, &p.opt, &p.max] {
            assert!(shapes.contains("text_mask:") && shapes.contains(&format!("x{l},video_coords")), "{shapes}");
        }
        let VaeSpec::WholeClip { graph, .. } = &m.vae_decoder else { panic!() };
        assert!(pkg.shape_profile("vae_decoder", graph).unwrap().opt.ends_with("timestep:1"));
    }
}
