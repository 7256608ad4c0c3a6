//! Where model packages are found: `KINO_MODELS_PATH`, then folders beside the binary that
//! runs kino. Nothing from the build machine is compiled in (a copied binary must not look in
//! its build folder, which may be a world-writable temporary one).
//!
//! The binary is the `kino` executable for the CLI, but a plugin's host (ffmpeg, melt, Resolve)
//! for the plugins: they pass the folder of their own shared library as an extra anchor
//! ([`search_dirs_with`]).

use std::path::{Path, PathBuf};

use super::{ModelPackage, DEFAULT_MODEL};
use crate::error::Result;

/// Model folders relative to an anchor (the folder holding a binary), in order:
/// `target/release/kino` in a checkout -> `<repo>/models`; `<prefix>/bin/kino` ->
/// `<prefix>/share/kino/models`; `<prefix>/lib/frei0r-1/kino.so` ->
/// `<prefix>/share/kino/models`; an OpenFX bundle's `Contents/Linux-x86-64/Kino.ofx` ->
/// `Contents/Resources/models`.
pub const ANCHORED: [&str; 5] = ["../../models", "../models", "../share/kino/models", "../../share/kino/models", "../Resources/models"];

/// Folders searched for packages by `kino models` and name lookups, in order, canonical.
pub fn search_dirs() -> Vec<PathBuf> {
    search_dirs_with(&[])
}

/// [`search_dirs`] with extra anchor folders (e.g. the folder of a plugin's shared library),
/// searched before the executable's.
pub fn search_dirs_with(anchors: &[PathBuf]) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(p) = std::env::var_os("KINO_MODELS_PATH") {
        dirs.extend(std::env::split_paths(&p));
    }
    let exe = std::env::current_exe().ok().and_then(|e| e.parent().map(Path::to_path_buf));
    for anchor in anchors.iter().chain(exe.as_ref()) {
        dirs.extend(ANCHORED.iter().map(|up| anchor.join(up)));
    }
    // Canonical (no `..` left from the anchors), existing, each once.
    let mut seen: Vec<PathBuf> = Vec::new();
    for c in dirs.iter().filter_map(|d| d.canonicalize().ok()) {
        if c.is_dir() && !seen.contains(&c) {
            seen.push(c);
        }
    }
    seen
}

/// The default model: `KINO_MODEL` if set, else `kino-shapes` in the first search dir that has it.
pub fn default_model_dir() -> PathBuf {
    default_model_dir_with(&[])
}

/// [`default_model_dir`] with extra anchor folders (see [`search_dirs_with`]).
pub fn default_model_dir_with(anchors: &[PathBuf]) -> PathBuf {
    if let Some(p) = std::env::var_os("KINO_MODEL") {
        return PathBuf::from(p);
    }
    resolve_model_with(DEFAULT_MODEL, anchors)
}

/// A `--model` argument: a folder path, or the name of a package in the search dirs.
pub fn resolve_model(arg: &str) -> PathBuf {
    resolve_model_with(arg, &[])
}

/// [`resolve_model`] with extra anchor folders (see [`search_dirs_with`]).
pub fn resolve_model_with(arg: &str, anchors: &[PathBuf]) -> PathBuf {
    let p = PathBuf::from(arg);
    if p.is_dir() || arg.contains('/') {
        return p;
    }
    for d in search_dirs_with(anchors) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_find_checkout_installed_and_bundle_layouts() {
        let d = std::env::temp_dir().join(format!("kino-search-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        for (lib, models) in [
            ("checkout/target/release", "checkout/models"),
            ("prefix/lib/frei0r-1", "prefix/share/kino/models"),
            ("Kino.ofx.bundle/Contents/Linux-x86-64", "Kino.ofx.bundle/Contents/Resources/models"),
        ] {
            std::fs::create_dir_all(d.join(lib)).unwrap();
            std::fs::create_dir_all(d.join(models).join("some-model")).unwrap();
            std::fs::write(d.join(models).join("some-model/kino.json"), b"{}").unwrap();
            let anchor = d.join(lib);
            let found = search_dirs_with(std::slice::from_ref(&anchor));
            let want = d.join(models).canonicalize().unwrap();
            assert!(found.iter().any(|f| f.canonicalize().ok().as_ref() == Some(&want)), "{lib}: {found:?}");
            assert_eq!(resolve_model_with("some-model", &[anchor]).canonicalize().unwrap(), want.join("some-model"));
        }
        std::fs::remove_dir_all(&d).unwrap();
    }
}
