//! Helpers shared by the OpenFX test binaries: the bundle laid out as `make ofx` installs it,
//! the `kino` binary for reference frames, and conversions between host frames and kino's.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard, OnceLock};

use crate::host::{self, Frame, Instance, RenderOpts, Source, Value};
use kino::RgbFrame;

pub const GENERATE: &str = "org.kino.generate";
pub const EXTEND: &str = "org.kino.extend";
pub const ANIMATE: &str = "org.kino.animate";
pub const BRIDGE: &str = "org.kino.bridge";
pub const REMIX: &str = "org.kino.remix";
pub const GENERATOR: &str = "OfxImageEffectContextGenerator";
pub const FILTER: &str = "OfxImageEffectContextFilter";
pub const GENERAL: &str = "OfxImageEffectContextGeneral";
pub const TRANSITION: &str = "OfxImageEffectContextTransition";

/// target/release (or debug), where cargo put the plugin and the kino binary.
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(Path::parent).unwrap().to_path_buf()
}

#[path = "../../../../tests/common/scratch.rs"]
mod scratch;
pub use scratch::Scratch;

pub fn tmpdir(tag: &str) -> Scratch {
    Scratch::new(&format!("kino-ofx-{tag}"))
}

/// The bundle, laid out as `make ofx` installs it, in a folder for OFX_PLUGIN_PATH; once per
/// process (hosts load a binary once), so its folders outlive every test (and the process).
pub fn plugin_path() -> &'static str {
    static P: OnceLock<(Scratch, Scratch, String)> = OnceLock::new();
    &P.get_or_init(|| {
        // `cargo test` rebuilds the library in deps/ without copying it up; take the newer one.
        let lib = [target_dir().join("libkino_ofx.so"), target_dir().join("deps/libkino_ofx.so")]
            .into_iter()
            .filter(|p| p.is_file())
            .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok())
            .expect("libkino_ofx.so not built: cargo build --release -p kino-ofx");
        // A static is never dropped: remove the folders of earlier runs whose process is gone.
        for e in std::fs::read_dir(std::env::temp_dir()).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let pid = name.strip_prefix("kino-ofx-plugins-").map(|r| r.trim_start_matches("empty-"));
            if pid.is_some_and(|p| p.parse::<u32>().is_ok() && !Path::new("/proc").join(p).exists()) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
        let root = tmpdir("plugins");
        let dir = root.join("Kino.ofx.bundle/Contents").join(host::arch_dir());
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(&lib, dir.join("Kino.ofx")).unwrap();
        // The shipped model inside the bundle, as `make ofx` installs it.
        let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/kino-shapes");
        let resources = root.join("Kino.ofx.bundle/Contents/Resources/models/kino-shapes");
        std::fs::create_dir_all(&resources).unwrap();
        for f in std::fs::read_dir(&models).unwrap().flatten() {
            std::fs::copy(f.path(), resources.join(f.file_name())).unwrap();
        }
        // Hosts skip bundles whose name starts with '@' (ofxPackaging.rst): a disabled copy.
        let disabled = root.join("@Disabled.ofx.bundle/Contents").join(host::arch_dir());
        std::fs::create_dir_all(&disabled).unwrap();
        std::fs::copy(&lib, disabled.join("@Disabled.ofx")).unwrap();
        // Another folder on the path, empty, as OFX_PLUGIN_PATH often has.
        let empty = tmpdir("plugins-empty");
        let list = std::env::join_paths([&*empty, &*root]).unwrap().to_string_lossy().into_owned();
        (empty, root, list)
    })
    .2
}

/// One test at a time: they share the loaded plugin and its host.
pub fn turn() -> MutexGuard<'static, ()> {
    static M: Mutex<()> = Mutex::new(());
    M.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn kino(args: &[&str]) {
    let bin = target_dir().join("kino");
    assert!(bin.is_file(), "{} not built: cargo build --release --workspace", bin.display());
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models");
    let out = Command::new(&bin).env("KINO_MODELS_PATH", models).args(args).arg("-q").output().unwrap();
    assert!(out.status.success(), "kino {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// Runs `kino <args> -o dir/` and returns the PNG frames it wrote there.
pub fn kino_frames(dir: &Path, args: &[&str]) -> Vec<RgbFrame> {
    let out = format!("{}/", dir.display());
    let mut all = args.to_vec();
    all.extend(["-o", out.as_str()]);
    kino(&all);
    png_frames(dir)
}

/// PNG frames of a folder written by `kino ... -o dir/`, in order.
pub fn png_frames(dir: &Path) -> Vec<RgbFrame> {
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(dir).unwrap().flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "png")).collect();
    files.sort();
    files.iter().map(|p| kino::video::decode_image(p).unwrap()).collect()
}

/// Writes `frames` as a lossless FFV1 clip at 8 fps (what `kino` reads back bit for bit).
pub fn write_clip(path: &Path, frames: &[RgbFrame]) {
    let dir = path.with_extension("frames");
    std::fs::create_dir_all(&dir).unwrap();
    for (i, f) in frames.iter().enumerate() {
        image::RgbImage::from_raw(f.width, f.height, f.data.clone()).unwrap().save(dir.join(format!("{i:05}.png"))).unwrap();
    }
    let ok = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-framerate", "8", "-i"])
        .arg(dir.join("%05d.png"))
        .args(["-c:v", "ffv1", "-pix_fmt", "bgr0"])
        .arg(path)
        .status()
        .unwrap();
    assert!(ok.success(), "ffmpeg wrote {}", path.display());
}

pub fn as_rgb(f: &Frame) -> RgbFrame {
    RgbFrame { width: f.width, height: f.height, data: f.rgb() }
}

pub fn source_of(frames: &[RgbFrame]) -> Source {
    Source {
        width: frames[0].width,
        height: frames[0].height,
        first: 0.0,
        frames: frames.iter().map(|f| f.data.chunks_exact(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect()).collect(),
    }
}

pub fn set_common(inst: &Instance, prompt: &str, seed: i32, steps: i32) {
    inst.set("prompt", Value::Str(prompt.into()));
    inst.set("seed", Value::Int(seed));
    inst.set("steps", Value::Int(steps));
}

/// What Status says once Generate is pressed.
pub fn status_after_generate(inst: &Instance) -> String {
    inst.press("generate");
    match inst.param("status") {
        Value::Str(s) => s,
        other => panic!("status {other:?}"),
    }
}

pub fn render_all(inst: &Instance, times: impl IntoIterator<Item = i32>, dir: Option<&Path>) -> Vec<Frame> {
    times
        .into_iter()
        .map(|t| {
            let f = inst.render(t as f64, RenderOpts::default()).unwrap_or_else(|s| panic!("render at {t}: status {s}"));
            if let Some(d) = dir {
                f.save_png(&d.join(format!("{:05}.png", t + 1000)));
            }
            f
        })
        .collect()
}
