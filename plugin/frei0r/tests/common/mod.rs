//! Helpers shared by the tests that load the plugin into real hosts.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kino::video::decode_video;
use kino::RgbFrame;

/// target/release (or debug), where cargo put the plugin and the kino binary.
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(Path::parent).unwrap().to_path_buf()
}

/// Installs the plugin under its four names, as `make frei0r` does, into a fresh folder.
pub fn install(tag: &str) -> Scratch {
    // `cargo test` rebuilds the library in deps/ without copying it up; take the newer one.
    let lib = [target_dir().join("libkino_frei0r.so"), target_dir().join("deps/libkino_frei0r.so")]
        .into_iter()
        .filter(|p| p.is_file())
        .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok())
        .expect("libkino_frei0r.so not built: cargo build --release --workspace");
    let dir = tmpdir(tag).sub("frei0r-1");
    for name in ["kino", "kino_extend", "kino_animate", "kino_bridge"] {
        std::fs::copy(&lib, dir.join(format!("{name}.so"))).unwrap();
    }
    // The plugin finds models beside its own file (`<folder>/../models`), not beside the host.
    std::os::unix::fs::symlink(repo().join("models"), dir.parent().unwrap().join("models")).unwrap();
    dir
}

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

#[path = "../../../../tests/common/scratch.rs"]
mod scratch;
pub use scratch::Scratch;

pub fn tmpdir(tag: &str) -> Scratch {
    Scratch::new(&format!("kino-frei0r-{tag}"))
}

pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("host binary installed (scripts/setup.sh)");
    assert!(out.status.success(), "{:?} failed: {}", cmd, String::from_utf8_lossy(&out.stderr));
    out
}

/// Runs `cmd` to its end, or kills it after `limit`: (its output, whether it finished).
fn run_within(cmd: &mut Command, limit: std::time::Duration) -> (Output, bool) {
    use std::io::Read;
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("host binary installed (scripts/setup.sh)");
    // Read both pipes as the host writes, so a chatty host never blocks on a full pipe.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            buf
        })
    };
    let out = drain(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let err = drain(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let start = std::time::Instant::now();
    let (status, finished) = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break (status, true);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            break (child.wait().unwrap(), false);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    (Output { status, stdout: out.join().unwrap(), stderr: err.join().unwrap() }, finished)
}

/// Runs a melt render into `out`. melt can end its avformat consumer thread before the first
/// frame on a loaded machine and then exit 0 having written nothing, or wait forever (its main
/// thread sleeping, no consumer left): such a render is run once more, and a second failure
/// fails with both logs. The project rendering at once on the next run is what was seen.
pub fn melt_render(cmd: &mut Command, out: &Path) -> Output {
    const LIMIT: std::time::Duration = std::time::Duration::from_secs(300);
    let attempt = |cmd: &mut Command| {
        let _ = std::fs::remove_file(out);
        let (o, finished) = run_within(cmd, LIMIT);
        if finished {
            assert!(o.status.success(), "{:?} failed: {}", cmd, String::from_utf8_lossy(&o.stderr));
        }
        let wrote = finished && out.metadata().map(|m| m.len() > 0).unwrap_or(false);
        (o, finished, wrote)
    };
    let (first, finished, wrote) = attempt(cmd);
    if wrote {
        return first;
    }
    let what = if finished { "exited 0 without writing" } else { "had written nothing after 300 s (killed)" };
    eprintln!("melt {what} {}; rendering again. Its log: {}", out.display(), String::from_utf8_lossy(&first.stderr));
    let (second, _, wrote) = attempt(cmd);
    assert!(
        wrote,
        "melt wrote nothing to {} twice: {:?}\nfirst log: {}\nsecond log: {}",
        out.display(),
        cmd,
        String::from_utf8_lossy(&first.stderr),
        String::from_utf8_lossy(&second.stderr)
    );
    second
}

pub fn ffmpeg(plugins: &Path) -> Command {
    let mut c = host("ffmpeg", plugins);
    c.args(["-v", "error", "-y", "-nostdin"]);
    c
}

/// A host with only FREI0R_PATH set: the plugin has to find the model on its own.
pub fn host(program: &str, plugins: &Path) -> Command {
    let mut c = Command::new(program);
    c.env("FREI0R_PATH", plugins).env_remove("KINO_MODELS_PATH").env_remove("KINO_MODEL");
    c
}

/// Runs the `kino` binary beside the tests on the repository's models.
pub fn kino(args: &[&str]) {
    run(Command::new(target_dir().join("kino")).env("KINO_MODELS_PATH", repo().join("models")).args(args).arg("-q"));
}

/// The frames of a video file.
pub fn frames(p: &Path) -> Vec<RgbFrame> {
    decode_video(p).unwrap().frames
}

/// Records `seconds` of a lavfi source graph (`frei0r_src=...`) losslessly into `out`.
pub fn ffmpeg_source(plugins: &Path, graph: &str, seconds: &str, out: &Path) -> Output {
    run(ffmpeg(plugins).args(["-f", "lavfi", "-i", graph, "-t", seconds, "-c:v", "ffv1"]).arg(out))
}

/// `input` through the filter graph `vf`, recorded losslessly into `out`.
pub fn ffmpeg_filter(plugins: &Path, input: &Path, vf: &str, out: &Path) -> Output {
    run(ffmpeg(plugins).arg("-i").arg(input).args(["-vf", vf, "-c:v", "ffv1"]).arg(out))
}

/// The lavfi source graph recorded for `seconds` and `kino <args> -o ...` for comparison, both
/// into `dir`: (the plugin's frames, kino's frames).
pub fn source_and_kino(plugins: &Path, graph: &str, seconds: &str, args: &[&str]) -> (Vec<RgbFrame>, Vec<RgbFrame>) {
    let dir = plugins.parent().unwrap();
    let (out, reference) = (dir.join("src.mkv"), dir.join("ref.mkv"));
    ffmpeg_source(plugins, graph, seconds, &out);
    let mut all = args.to_vec();
    all.extend(["-o", reference.to_str().unwrap()]);
    kino(&all);
    (frames(&out), frames(&reference))
}
