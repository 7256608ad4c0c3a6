//! Where model packages are found ([`ModelSearch`]): `KINO_MODELS_PATH`, then folders beside
//! the binary that runs kino. Nothing from the build machine is compiled in (a copied binary must not look in
//! its build folder, which may be a world-writable temporary one).
//!
//! The binary is the `kino` executable for the CLI, but a plugin's host (ffmpeg, melt, Resolve)
//! for the plugins: they pass the folder of their own shared library as an extra anchor
//! ([`ModelSearch::anchored_first`]).

use std::path::{Path, PathBuf};

use super::{ModelPackage, DEFAULT_MODEL};
use crate::error::Result;

/// Model folders relative to an anchor (the folder holding a binary), in order: `models` beside
/// it (an unpacked archive); `target/release/kino` in a checkout -> `<repo>/models`; `<prefix>/bin/kino` ->
/// `<prefix>/share/kino/models`; `<prefix>/lib/frei0r-1/kino.so` ->
/// `<prefix>/share/kino/models`; an OpenFX bundle's `Contents/Linux-x86-64/Kino.ofx` ->
/// `Contents/Resources/models`.
pub const ANCHORED: [&str; 6] =
    ["models", "../../models", "../models", "../share/kino/models", "../../share/kino/models", "../Resources/models"];

/// Where model packages are looked for. The front doors fill it ([`ModelSearch::from_env`]); the
/// library reads no environment variables.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModelSearch {
    /// Folders searched first, in order (`KINO_MODELS_PATH`).
    pub paths: Vec<PathBuf>,
    /// The default model's folder, when set (`KINO_MODEL`).
    pub default_model: Option<PathBuf>,
    /// Folders holding a binary (the plugin's shared library, the executable): the
    /// [`ANCHORED`] folders beside each are searched after `paths`, in order.
    pub anchors: Vec<PathBuf>,
}

impl ModelSearch {
    /// `KINO_MODELS_PATH`, `KINO_MODEL`, and the running executable's folder as the anchor.
    pub fn from_env() -> Self {
        ModelSearch {
            // An empty entry (`KINO_MODELS_PATH=`, `a::b`) names no folder.
            paths: std::env::var_os("KINO_MODELS_PATH")
                .map(|p| std::env::split_paths(&p).filter(|d| !d.as_os_str().is_empty()).collect())
                .unwrap_or_default(),
            default_model: std::env::var_os("KINO_MODEL").filter(|v| !v.is_empty()).map(PathBuf::from),
            anchors: std::env::current_exe().ok().and_then(|e| e.parent().map(Path::to_path_buf)).into_iter().collect(),
        }
    }

    /// The same search with `first` anchors ahead of the others (a plugin's own folder).
    pub fn anchored_first(mut self, first: &[PathBuf]) -> Self {
        self.anchors.splice(0..0, first.iter().cloned());
        self
    }

    /// Every folder the search looks in, in order, as named (existing or not): for messages.
    pub fn candidates(&self) -> Vec<PathBuf> {
        let mut dirs = self.paths.clone();
        for anchor in &self.anchors {
            dirs.extend(ANCHORED.iter().map(|up| anchor.join(up)));
        }
        dirs
    }

    /// Folders searched for packages by `kino models` and name lookups, in order, canonical.
    pub fn dirs(&self) -> Vec<PathBuf> {
        // Canonical (no `..` left from the anchors), existing, each once.
        let mut seen: Vec<PathBuf> = Vec::new();
        for c in self.candidates().iter().filter_map(|d| d.canonicalize().ok()) {
            if c.is_dir() && !seen.contains(&c) {
                seen.push(c);
            }
        }
        seen
    }

    /// The default model: `default_model` if set, else `kino-shapes` in the first search dir
    /// that has it.
    pub fn default_model_dir(&self) -> PathBuf {
        match &self.default_model {
            Some(p) => p.clone(),
            None => self.resolve(DEFAULT_MODEL),
        }
    }

    /// A `--model` argument: a folder path, or the name of a package in the search dirs: the
    /// first package in search order whose folder or manifest is called so (`kino models`
    /// lists packages by their manifest's name, which need not be their folder's); in one dir a
    /// folder of that name comes first. Where several packages answer to the name, a warning
    /// says which is used.
    pub fn resolve(&self, arg: &str) -> PathBuf {
        let p = PathBuf::from(arg);
        if p.is_dir() || arg.contains('/') {
            return p;
        }
        let mut named: Vec<PathBuf> = Vec::new();
        for d in self.dirs() {
            let folder = d.join(arg);
            let in_dir = package_folders(std::slice::from_ref(&d));
            let by_folder = in_dir.iter().filter(|f| **f == folder || (**f == d && d.file_name() == Some(arg.as_ref())));
            let by_manifest = in_dir.iter().filter(|f| manifest_name(f).as_deref() == Some(arg));
            for f in by_folder.chain(by_manifest) {
                if !named.contains(f) {
                    named.push(f.clone());
                }
            }
        }
        if let [first, others @ ..] = named.as_slice() {
            if !others.is_empty() {
                // Like a command on PATH: the first in search order, but never chosen silently.
                let others: Vec<String> = others.iter().map(|d| d.display().to_string()).collect();
                log::warn!(
                    "{} packages are named {arg:?}: using {} (first in the search order), not {}; pass a folder to choose",
                    named.len(),
                    first.display(),
                    others.join(", ")
                );
            }
            return first.clone();
        }
        p
    }
}

/// The package folders in `dirs`, in order: each dir itself where it holds a kino.json, else
/// its immediate subfolders that do, sorted.
fn package_folders(dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for d in dirs {
        if d.join("kino.json").is_file() {
            out.push(d.clone());
            continue;
        }
        let Ok(rd) = std::fs::read_dir(d) else { continue };
        let mut subs: Vec<PathBuf> = rd.flatten().map(|e| e.path()).filter(|p| p.join("kino.json").is_file()).collect();
        subs.sort();
        out.extend(subs);
    }
    out
}

/// The `name` in `dir/kino.json`, read without loading the package (a kino.json is small: a
/// larger file is not one, and its name is not looked for).
fn manifest_name(dir: &Path) -> Option<String> {
    let f = std::fs::File::open(dir.join("kino.json")).ok()?;
    let bytes = super::sandbox::read_bounded(f, 1 << 20).ok()?;
    let json: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    json.get("name")?.as_str().map(str::to_string)
}

/// Packages found in `dirs` (each dir itself, or its immediate subfolders, holding a kino.json).
pub fn find_packages(dirs: &[PathBuf]) -> Vec<Result<ModelPackage>> {
    package_folders(dirs).into_iter().map(ModelPackage::load).collect()
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
            ("unpacked", "unpacked/models"),
        ] {
            std::fs::create_dir_all(d.join(lib)).unwrap();
            std::fs::create_dir_all(d.join(models).join("some-model")).unwrap();
            std::fs::write(d.join(models).join("some-model/kino.json"), b"{}").unwrap();
            let search = ModelSearch { anchors: vec![d.join(lib)], ..Default::default() };
            let found = search.dirs();
            let want = d.join(models).canonicalize().unwrap();
            assert!(found.iter().any(|f| f.canonicalize().ok().as_ref() == Some(&want)), "{lib}: {found:?}");
            assert_eq!(search.resolve("some-model").canonicalize().unwrap(), want.join("some-model"));
        }
        // A path given first wins over the anchors; a set default model is taken as it is.
        let first = d.join("first");
        std::fs::create_dir_all(first.join("some-model")).unwrap();
        std::fs::write(first.join("some-model/kino.json"), b"{}").unwrap();
        let search =
            ModelSearch { paths: vec![first.clone()], anchors: vec![d.join("checkout/target/release")], default_model: Some(d.join("x")) };
        let resolved = search.resolve("some-model");
        let default = search.default_model_dir();
        let want = first.canonicalize().unwrap().join("some-model");
        std::fs::remove_dir_all(&d).unwrap();
        assert_eq!(resolved, want);
        assert_eq!(default, d.join("x"));
    }

    /// A package is found by the name `kino models` shows (its manifest's), whatever its folder
    /// is called; in one search path a folder of that name comes first.
    #[test]
    fn a_package_is_found_by_its_manifest_name() {
        let d = std::env::temp_dir().join(format!("kino-search-name-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("renamed")).unwrap();
        std::fs::write(d.join("renamed/kino.json"), br#"{"name": "shapes-copy"}"#).unwrap();
        let search = ModelSearch { paths: vec![d.clone()], ..Default::default() };
        let by_name = search.resolve("shapes-copy");
        let by_folder = search.resolve("renamed");
        std::fs::create_dir_all(d.join("shapes-copy")).unwrap();
        std::fs::write(d.join("shapes-copy/kino.json"), br#"{"name": "other"}"#).unwrap();
        let folder_first = search.resolve("shapes-copy");
        let unknown = search.resolve("nothing-called-so");
        // A search path that is itself a package (as `kino models` lists it) is found by name too.
        let itself = ModelSearch { paths: vec![d.join("renamed")], ..Default::default() }.resolve("shapes-copy");
        // Across search paths the order decides, as `kino models` lists them: a package named
        // so by its manifest in an earlier path wins over a folder of that name in a later one.
        std::fs::create_dir_all(d.join("early/other")).unwrap();
        std::fs::write(d.join("early/other/kino.json"), br#"{"name": "twin"}"#).unwrap();
        std::fs::create_dir_all(d.join("late/twin")).unwrap();
        std::fs::write(d.join("late/twin/kino.json"), br#"{"name": "twin"}"#).unwrap();
        let in_order = ModelSearch { paths: vec![d.join("early"), d.join("late")], ..Default::default() }.resolve("twin");
        let root = d.canonicalize().unwrap();
        std::fs::remove_dir_all(&d).unwrap();
        assert_eq!(by_name, root.join("renamed"));
        assert_eq!(by_folder, root.join("renamed"));
        assert_eq!(folder_first, root.join("shapes-copy"));
        assert_eq!(unknown, PathBuf::from("nothing-called-so"));
        assert_eq!(itself, root.join("renamed"));
        assert_eq!(in_order, root.join("early/other"));
    }
}
