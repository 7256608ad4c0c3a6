//! Model packages: the manifest, its validation against the ONNX graphs, and the components.

pub mod components;
pub mod manifest;

use std::path::{Path, PathBuf};

pub use components::{Denoiser, TextEncoder, VaeDecoder, VaeEncoder};
pub use manifest::Manifest;
use manifest::{GraphSpec, VaeSpec, SCHEMA_VERSION};

use crate::error::{Error, Result};
use crate::runtime::{DType, Device, OnnxSession, RuntimeOptions};

/// Name of the shipped default model.
pub const DEFAULT_MODEL: &str = "kino-shapes";

/// A model package folder with a parsed, checked manifest.
#[derive(Clone, Debug)]
pub struct ModelPackage {
    pub dir: PathBuf,
    pub manifest: Manifest,
}

impl ModelPackage {
    /// Reads `kino.json` and checks everything that can be checked without ONNX Runtime:
    /// schema version, files present, sizes and frame counts consistent.
    pub fn load(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        if !dir.is_dir() {
            return Err(Error::package(&dir, "no such folder; pass --model with a model package folder (one with a kino.json), or run `kino models` to list the ones found"));
        }
        let path = dir.join("kino.json");
        let text = std::fs::read_to_string(&path).map_err(|e| Error::package_file(&dir, "kino.json", format!("cannot read: {e}; is this a kino model package?")))?;
        // Check the version before the full parse so an old/new schema gets the right message.
        let raw: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::package_file(&dir, "kino.json", format!("not valid JSON: {e}")))?;
        match raw.get("schema_version").and_then(|v| v.as_u64()) {
            Some(v) if v == SCHEMA_VERSION as u64 => {}
            Some(v) => {
                return Err(Error::package_file(&dir, "kino.json", format!("schema_version {v} is not supported by this kino (it reads version {SCHEMA_VERSION}); re-export the package or update kino")))
            }
            None => return Err(Error::package_file(&dir, "kino.json", "missing field `schema_version`")),
        }
        let manifest: Manifest = serde_json::from_value(raw).map_err(|e| Error::package_file(&dir, "kino.json", e.to_string()))?;
        let pkg = ModelPackage { dir, manifest };
        pkg.check_manifest()?;
        Ok(pkg)
    }

    fn check_manifest(&self) -> Result<()> {
        let m = &self.manifest;
        let bad = |field: &str, msg: String| Error::package_file(&self.dir, "kino.json", format!("field `{field}`: {msg}"));
        let c = m.latent.channels;
        if c == 0 {
            return Err(bad("latent.channels", "must be at least 1".into()));
        }
        if m.latent.mean.len() != c {
            return Err(bad("latent.mean", format!("has {} values but latent.channels is {c}", m.latent.mean.len())));
        }
        if m.latent.std.len() != c {
            return Err(bad("latent.std", format!("has {} values but latent.channels is {c}", m.latent.std.len())));
        }
        if m.latent.std.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
            return Err(bad("latent.std", "every value must be a positive number".into()));
        }
        if m.latent.spatial_compression == 0 || m.latent.temporal_compression == 0 {
            return Err(bad("latent", "compression factors must be at least 1".into()));
        }
        let v = &m.video;
        if v.size_multiple == 0 || v.size_multiple % m.latent.spatial_compression != 0 {
            return Err(bad("video.size_multiple", format!("{} must be a positive multiple of latent.spatial_compression ({})", v.size_multiple, m.latent.spatial_compression)));
        }
        for (field, size) in [("video.default_width", v.default_width), ("video.default_height", v.default_height)] {
            if size % v.size_multiple != 0 || size < v.min_size || size > v.max_size {
                return Err(bad(field, format!("{size} must be a multiple of {} within [{}, {}]", v.size_multiple, v.min_size, v.max_size)));
            }
        }
        if !v.frames_valid(&m.latent, v.default_frames) || v.default_frames > v.max_frames {
            return Err(bad("video.default_frames", format!("{} breaks the causal rule 1 + {}*k or exceeds max_frames", v.default_frames, m.latent.temporal_compression)));
        }
        if !(v.fps.is_finite() && v.fps > 0.0) {
            return Err(bad("video.fps", "must be a positive number".into()));
        }
        m.scheduler.validate().map_err(|e| bad("scheduler", e))?;
        if m.defaults.steps == 0 || !m.defaults.guidance.is_finite() {
            return Err(bad("defaults", "steps must be >= 1 and guidance a number".into()));
        }
        if m.text_encoder.text_dim != m.denoiser.text_dim {
            return Err(bad("denoiser.text_dim", format!("{} differs from text_encoder.text_dim {}", m.denoiser.text_dim, m.text_encoder.text_dim)));
        }
        for file in self.files() {
            if !self.dir.join(&file).is_file() {
                return Err(Error::package_file(&self.dir, &file, "missing (named in kino.json); the package is incomplete, re-export or re-download it"));
            }
        }
        Ok(())
    }

    /// Every file the manifest names.
    pub fn files(&self) -> Vec<String> {
        let m = &self.manifest;
        let mut files = vec![m.tokenizer.file.clone(), m.text_encoder.graph.file.clone(), m.denoiser.graph.file.clone()];
        for vae in std::iter::once(&m.vae_decoder).chain(m.vae_encoder.as_ref()) {
            match vae {
                VaeSpec::WholeClip { graph, .. } => files.push(graph.file.clone()),
                VaeSpec::CausalChunks { first, step, .. } => {
                    files.push(first.file.clone());
                    files.push(step.file.clone());
                }
            }
        }
        files
    }

    /// Opens one graph and checks its inputs and outputs against the manifest.
    pub(crate) fn open_graph(&self, field: &str, spec: &GraphSpec, device: Device, opts: &RuntimeOptions) -> Result<OnnxSession> {
        let path = self.dir.join(&spec.file);
        let session = OnnxSession::open(&path, device, opts).map_err(|e| match e {
            Error::Inference { reason, .. } => Error::package_file(&self.dir, &spec.file, format!("cannot load as an ONNX model ({reason}); the file is corrupt or not ONNX, re-export it")),
            other => other,
        })?;
        for (side, roles, actual) in [("inputs", &spec.inputs, &session.inputs), ("outputs", &spec.outputs, &session.outputs)] {
            for (role, t) in roles {
                let Some(info) = actual.iter().find(|i| i.name == t.name) else {
                    let names: Vec<&str> = actual.iter().map(|i| i.name.as_str()).collect();
                    return Err(Error::package_file(&self.dir, &spec.file, format!("field `{field}.{side}.{role}` names {:?}, but the graph's {side} are {names:?}", t.name)));
                };
                let want = DType::parse(&t.dtype).ok_or_else(|| Error::package_file(&self.dir, "kino.json", format!("field `{field}.{side}.{role}.dtype`: unknown dtype {:?} (use float32, float16 or int64)", t.dtype)))?;
                if info.dtype != want {
                    return Err(Error::package_file(&self.dir, &spec.file, format!("field `{field}.{side}.{role}` says {} but the graph's {:?} is {}", t.dtype, t.name, info.dtype.name())));
                }
            }
            // A graph input the manifest does not know would be left unfed.
            if side == "inputs" {
                if let Some(extra) = actual.iter().find(|i| !roles.values().any(|t| t.name == i.name)) {
                    return Err(Error::package_file(&self.dir, &spec.file, format!("graph input {:?} is not named in `{field}.inputs`", extra.name)));
                }
            }
        }
        Ok(session)
    }
}

/// Folders searched for packages by `kino models` and name lookups, in order.
pub fn search_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(p) = std::env::var_os("KINO_MODELS_PATH") {
        dirs.extend(std::env::split_paths(&p));
    }
    if let Ok(exe) = std::env::current_exe() {
        // target/{debug,release}/kino -> <repo>/models; <prefix>/bin/kino -> <prefix>/share/kino/models
        for up in ["../../models", "../models", "../share/kino/models"] {
            if let Some(parent) = exe.parent() {
                dirs.push(parent.join(up));
            }
        }
    }
    dirs.push(PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/models")));
    let mut seen = Vec::new();
    dirs.retain(|d| match d.canonicalize() {
        Ok(c) if !seen.contains(&c) => {
            seen.push(c);
            true
        }
        _ => false,
    });
    dirs
}

/// The default model: `KINO_MODEL` if set, else `kino-shapes` in the first search dir that has it.
pub fn default_model_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("KINO_MODEL") {
        return PathBuf::from(p);
    }
    resolve_model(DEFAULT_MODEL)
}

/// A `--model` argument: a folder path, or the name of a package in the search dirs.
pub fn resolve_model(arg: &str) -> PathBuf {
    let p = PathBuf::from(arg);
    if p.is_dir() || arg.contains('/') {
        return p;
    }
    for d in search_dirs() {
        let candidate = d.join(arg);
        if candidate.join("kino.json").is_file() {
            return candidate;
        }
    }
    p
}

/// Packages found in `dirs` (each dir itself, or its immediate subfolders, holding a kino.json).
pub fn find_packages(dirs: &[PathBuf]) -> Vec<Result<ModelPackage>> {
    let mut out = Vec::new();
    for d in dirs {
        if d.join("kino.json").is_file() {
            out.push(ModelPackage::load(d));
            continue;
        }
        let Ok(rd) = std::fs::read_dir(d) else { continue };
        let mut subs: Vec<PathBuf> = rd.flatten().map(|e| e.path()).filter(|p| p.join("kino.json").is_file()).collect();
        subs.sort();
        out.extend(subs.into_iter().map(ModelPackage::load));
    }
    out
}
