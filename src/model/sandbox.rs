//! A model package is a sandbox: kino reads only regular files inside its folder.
//!
//! Packages come from strangers (downloads, shared drives) and kino runs inside hosts such as
//! ffmpeg, so a file name in kino.json is never trusted: every name is relative, has no `..`,
//! resolves (symlinks followed) inside the package's canonical folder and is a regular file,
//! and all of them are checked before any is opened. Files are read with a size cap through a
//! bounded reader, so a kino.json that is (or points at) /dev/zero is refused, not read forever.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};

/// Largest kino.json kino reads (real ones are a few KiB; Wan's, with its cache names, 17 KiB).
pub const MAX_MANIFEST_BYTES: u64 = 4 << 20;
/// Largest tokenizer.json kino reads (T5's is 2.4 MiB, the largest common ones ~20 MiB).
pub const MAX_TOKENIZER_BYTES: u64 = 64 << 20;

/// The package folder, canonical (symlinks resolved): the root every file must stay inside.
pub fn root(dir: &Path) -> Result<PathBuf> {
    let root = dir.canonicalize().map_err(|e| Error::package(dir, format!("cannot open the folder ({e})")))?;
    if !root.is_dir() {
        return Err(Error::package(dir, "not a folder").with_hint(crate::error::Hint::ChooseModel));
    }
    Ok(root)
}

/// `name`, a file named by the package (in kino.json or inside a graph), checked: relative,
/// no `..`, inside `root` once symlinks are resolved, a regular file. Returns the resolved path.
/// `what` says where the name came from, for the error (e.g. "field `denoiser.file`").
pub fn resolve(dir: &Path, root: &Path, name: &str, what: &str) -> Result<PathBuf> {
    let refuse =
        |why: &str| Error::package_file(dir, shown(name), format!("{what} {why}; a package may only name files inside its own folder"));
    if name.is_empty() {
        return Err(refuse("is empty"));
    }
    if name.contains('\0') {
        return Err(refuse("contains a NUL byte"));
    }
    for c in Path::new(name).components() {
        match c {
            Component::Normal(_) | Component::CurDir => {}
            Component::ParentDir => return Err(refuse("goes up a folder (`..`)")),
            Component::RootDir | Component::Prefix(_) => return Err(refuse("is an absolute path")),
        }
    }
    let joined = root.join(name);
    let resolved = joined.canonicalize().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            Error::package_file(dir, shown(name), format!("missing ({what}); the package is incomplete, re-export or re-download it"))
        }
        _ => Error::package_file(dir, shown(name), format!("cannot open ({e})")),
    })?;
    if !resolved.starts_with(root) {
        return Err(refuse("is a symlink that leaves the package folder"));
    }
    let meta = std::fs::metadata(&resolved).map_err(|e| Error::package_file(dir, shown(name), format!("cannot open ({e})")))?;
    if !meta.is_file() {
        return Err(Error::package_file(dir, shown(name), format!("{what} is not a regular file")));
    }
    Ok(resolved)
}

/// Reads a checked file (from [`resolve`]) of at most `cap` bytes.
pub fn read_capped(dir: &Path, name: &str, path: &Path, cap: u64) -> Result<Vec<u8>> {
    let file = std::fs::File::open(path).map_err(|e| Error::package_file(dir, shown(name), format!("cannot read ({e})")))?;
    read_bounded(file, cap).map_err(|e| Error::package_file(dir, shown(name), e))
}

/// At most `cap` bytes of `r`; more is an error (the reader is never drained past `cap + 1`).
pub fn read_bounded(r: impl Read, cap: u64) -> std::result::Result<Vec<u8>, String> {
    let mut buf = Vec::new();
    r.take(cap + 1).read_to_end(&mut buf).map_err(|e| format!("cannot read ({e})"))?;
    if buf.len() as u64 > cap {
        return Err(format!("larger than {} MiB, the most kino reads from this file", cap >> 20));
    }
    Ok(buf)
}

/// A name as errors show it: quoted and shortened if hostile (control characters, huge).
fn shown(name: &str) -> String {
    let clean: String = name.chars().take(200).map(|c| if c.is_control() { '?' } else { c }).collect();
    if clean == name {
        clean
    } else {
        format!("{clean:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("kino-sandbox-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("pkg/sub")).unwrap();
        d
    }

    #[test]
    fn names_stay_inside_the_package() {
        let d = tmp("names");
        let pkg = d.join("pkg");
        std::fs::write(pkg.join("a.onnx"), b"x").unwrap();
        std::fs::write(pkg.join("sub/b.onnx"), b"x").unwrap();
        std::fs::write(d.join("outside.onnx"), b"x").unwrap();
        std::os::unix::fs::symlink("sub/b.onnx", pkg.join("inside-link.onnx")).unwrap();
        std::os::unix::fs::symlink("../outside.onnx", pkg.join("outside-link.onnx")).unwrap();
        std::os::unix::fs::symlink("/dev/zero", pkg.join("zero.onnx")).unwrap();
        let root = root(&pkg).unwrap();
        for ok in ["a.onnx", "./a.onnx", "sub/b.onnx", "inside-link.onnx"] {
            assert!(resolve(&pkg, &root, ok, "field `f`").is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("../outside.onnx", "goes up a folder"),
            ("sub/../../outside.onnx", "goes up a folder"),
            ("/etc/shadow", "absolute path"),
            ("/proc/self/environ", "absolute path"),
            ("outside-link.onnx", "leaves the package folder"),
            ("zero.onnx", "leaves the package folder"),
            ("sub", "not a regular file"),
            ("", "is empty"),
            ("missing.onnx", "missing"),
        ] {
            let e = resolve(&pkg, &root, bad, "field `f`").unwrap_err().to_string();
            assert!(e.contains(why) && !e.contains('\n'), "{bad}: {e}");
        }
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn reads_are_bounded() {
        assert_eq!(read_bounded(&b"abc"[..], 3).unwrap(), b"abc");
        // An endless reader stops one byte past the cap.
        let e = read_bounded(std::io::repeat(0), 1 << 20).unwrap_err();
        assert!(e.contains("larger than 1 MiB"), "{e}");
    }
}
