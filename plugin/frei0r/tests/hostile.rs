//! Hostile model packages and hostile clips through the plugin inside Debian's ffmpeg: the host
//! is never taken down (no death by signal, no allocation failure), an error is logged once in
//! kino's words, and a filter never blanks the footage it was given before its seam.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::{ffmpeg, install, repo};
use kino::video::decode_video;

/// A copy of the shipped package with `edit` applied to its kino.json.
fn hostile_package(root: &Path, name: &str, edit: impl Fn(&mut serde_json::Value)) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    for e in std::fs::read_dir(repo().join("models/kino-shapes")).unwrap().flatten() {
        std::fs::copy(e.path(), dir.join(e.file_name())).unwrap();
    }
    let mut m: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("kino.json")).unwrap()).unwrap();
    edit(&mut m);
    std::fs::write(dir.join("kino.json"), serde_json::to_string_pretty(&m).unwrap()).unwrap();
    dir
}

fn survived(out: &Output, what: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.signal().is_none(), "{what}: ffmpeg died by signal {:?}: {stderr}", out.status.signal());
    stderr
}

#[test]
fn hostile_packages_never_take_ffmpeg_down() {
    let plugins = install("hostile-pkg");
    let root = plugins.parent().unwrap().to_path_buf();
    let cases: Vec<(&str, PathBuf, &str)> = vec![
        // Was a 64 GiB allocation inside the host, which catch_unwind cannot catch.
        (
            "max_length",
            hostile_package(&root, "huge-text", |m| m["tokenizer"]["max_length"] = 4294967295u64.into()),
            "tokenizer.max_length",
        ),
        ("escape", hostile_package(&root, "escape", |m| m["denoiser"]["file"] = "../../../../etc/passwd".into()), ".."),
        ("absolute", hostile_package(&root, "absolute", |m| m["tokenizer"]["file"] = "/proc/self/environ".into()), "/proc/self/environ"),
        ("zero batch", hostile_package(&root, "zero-batch", |m| m["denoiser"]["max_batch"] = 0.into()), "max_batch"),
    ];
    for (what, pkg, needle) in cases {
        let out_file = root.join(format!("{}.mkv", what.replace(' ', "-")));
        let params =
            format!("frei0r_src=size=64x64:framerate=8:filter_name=kino:filter_params=a red circle moving left|3|||{}", pkg.display());
        let out = ffmpeg(&plugins).args(["-f", "lavfi", "-i", &params, "-t", "1", "-c:v", "ffv1"]).arg(&out_file).output().unwrap();
        let stderr = survived(&out, what);
        let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("kino frei0r: error:")).collect();
        assert_eq!(errors.len(), 1, "{what}: one kino error line expected: {stderr}");
        assert!(errors[0].contains(needle), "{what}: {needle:?} not in {}", errors[0]);
    }
}

#[test]
fn hostile_clips_through_the_filters_never_take_ffmpeg_down() {
    let plugins = install("hostile-clips");
    let root = plugins.parent().unwrap().to_path_buf();
    let corpus = repo().join("tests/fixtures/hostile");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&corpus).unwrap().flatten().map(|e| e.path()).collect();
    files.sort();
    assert!(files.len() >= 20, "the hostile corpus is missing: {}", corpus.display());
    for f in &files {
        for filter in ["kino_extend", "kino_animate"] {
            let out_file = root.join(format!("{filter}.mkv"));
            let vf =
                format!("scale=64:64,tpad=stop=4:stop_mode=clone,frei0r=filter_name={filter}:filter_params=a red circle moving left|3|1");
            let out =
                ffmpeg(&plugins).arg("-i").arg(f).args(["-t", "4", "-vf", &vf, "-an", "-c:v", "ffv1"]).arg(&out_file).output().unwrap();
            let what = format!("{filter} on {}", f.display());
            let stderr = survived(&out, &what);
            if !out.status.success() {
                // ffmpeg refused the file itself (it cannot decode it); kino never ran.
                assert!(!stderr.contains("kino frei0r: error"), "{what}: {stderr}");
                continue;
            }
            assert!(!stderr.contains("kino frei0r: error"), "{what}: the plugin failed: {stderr}");
            // Clips ffmpeg reads whole come out with the padded length (ffmpeg writes an empty
            // file for inputs it decodes nothing from, and says so itself).
            let name = f.file_name().unwrap().to_string_lossy();
            if ["clip.mp4", "clip.mkv", "odd-33x17.png", "tiny-1x1.png"].contains(&name.as_ref()) {
                let n = decode_video(&out_file).map(|v| v.frames.len()).unwrap_or(0);
                assert!(n >= 5, "{what}: {n} frames");
            }
        }
    }
}
