//! Wan2.1 image-to-video and first-last-frame packages through the `kino` binary (the tiny
//! random-weight fixtures: their frames are noise, so these check what kino does with the
//! user's frames and what it refuses, not how the footage looks).

use std::path::{Path, PathBuf};
use std::process::Command;

use kino::RgbFrame;

mod common;

use common::*;

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models/fixtures").join(name).display().to_string()
}

/// A 32x32 test pattern: a PNG still and a 1 s clip, written by ffmpeg.
fn inputs(d: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let still = d.join("still.png");
    let (a, b) = (d.join("a.mkv"), d.join("b.mkv"));
    for (src, out, extra) in [
        ("testsrc=size=32x32:rate=16", &still, vec!["-frames:v", "1"]),
        ("testsrc=size=32x32:rate=16", &a, vec!["-t", "1", "-c:v", "ffv1"]),
        ("smptebars=size=32x32:rate=16", &b, vec!["-t", "1", "-c:v", "ffv1"]),
    ] {
        let mut args = vec!["-loglevel", "error", "-y", "-f", "lavfi", "-i", src];
        args.extend(extra);
        args.push(out.to_str().unwrap());
        assert!(Command::new("ffmpeg").args(&args).status().unwrap().success(), "ffmpeg {src}");
    }
    (still, a, b)
}

#[test]
fn image_to_video_animates_and_extends_and_refuses_what_needs_no_image() {
    let d = tmpdir("i2v");
    let (still, a, _) = inputs(&d);
    let model = fixture("wan-i2v-tiny");
    let out = d.join("anim.mkv");
    let common = ["--model", &model, "--steps", "2", "--seed", "3", "-q"];
    let run = |args: &[&str]| kino(&[args, &common[..]].concat());
    assert_ok(&run(&["animate", still.to_str().unwrap(), "--prompt", "a test card", "--frames", "9", "-o", out.to_str().unwrap()]));
    let f = frames(&out);
    assert_eq!(f.len(), 9);
    assert!(f[0] == kino::video::decode_image(&still).unwrap(), "the first frame is the image itself");
    // The same request gives the same frames.
    let again = d.join("again.mkv");
    assert_ok(&run(&["animate", still.to_str().unwrap(), "--prompt", "a test card", "--frames", "9", "-o", again.to_str().unwrap()]));
    assert!(frames(&again) == f, "same seed, same frames");

    // Extending forwards: the clip kept, new frames after it.
    let ext = d.join("ext.mkv");
    assert_ok(&run(&["extend", a.to_str().unwrap(), "--prompt", "a test card", "--frames", "8", "-o", ext.to_str().unwrap()]));
    let (clip, extended) = (frames(&a), frames(&ext));
    assert_eq!(extended.len(), clip.len() + 8);
    assert!(extended[..clip.len()] == clip[..], "the clip is kept exactly");

    // What would need a window without its first frame is refused, with the reason, and writes nothing.
    let no = d.join("no.mkv");
    let o = no.to_str().unwrap();
    assert_clean_failure(&run(&["generate", "a test card", "--frames", "9", "-o", o]), &no, "makes video from given frames");
    assert_clean_failure(
        &run(&["extend", a.to_str().unwrap(), "--at", "start", "--prompt", "x", "--frames", "8", "-o", o]),
        &no,
        "needs the first frame of every window given",
    );
    assert_clean_failure(&run(&["remix", a.to_str().unwrap(), "--prompt", "x", "-o", o]), &no, "cannot remix");
}

#[test]
fn models_say_what_image_to_video_packages_make_from() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/fixtures");
    let out = kino_command().env("KINO_MODELS_PATH", &fixtures).arg("models").output().unwrap();
    assert_ok(&out);
    let listed = String::from_utf8_lossy(&out.stdout);
    let line = |name: &str| listed.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("{name} not in {listed}")).to_string();
    assert!(line("wan-i2v-tiny ").contains("fps, from a first frame "), "{listed}");
    assert!(line("wan-flf2v-tiny ").contains("fps, from a first and a last frame "), "{listed}");
    assert!(!line("wan-tiny ").contains("from a"), "{listed}");
}

#[test]
fn first_last_frame_bridges_in_one_window() {
    let d = tmpdir("flf2v");
    let (still, a, b) = inputs(&d);
    let model = fixture("wan-flf2v-tiny");
    let common = ["--model", &model, "--steps", "2", "--seed", "4", "-q"];
    let run = |args: &[&str]| kino(&[args, &common[..]].concat());
    let out = d.join("bridge.mkv");
    assert_ok(&run(&["bridge", a.to_str().unwrap(), b.to_str().unwrap(), "--prompt", "x", "--frames", "4", "-o", out.to_str().unwrap()]));
    let (fa, fb, f) = (frames(&a), frames(&b), frames(&out));
    assert_eq!(f.len(), fa.len() + 4 + fb.len());
    assert!(f[..fa.len()] == fa[..] && f[fa.len() + 4..] == fb[..], "both clips kept exactly");
    let made: Vec<&RgbFrame> = f[fa.len()..fa.len() + 4].iter().collect();
    assert!(made.iter().all(|m| **m != fa[fa.len() - 1] && **m != fb[0]), "the bridge is made, not copied");
    // Without a length: the longest bridge the model makes (7 frames), not the package's
    // default length (a window of 9, which no bridge of it can fill).
    let longest = d.join("longest.mkv");
    let r = run(&["bridge", a.to_str().unwrap(), b.to_str().unwrap(), "--prompt", "x", "-o", longest.to_str().unwrap()]);
    assert_ok(&r);
    assert_eq!(frames(&longest).len(), fa.len() + 7 + fb.len());

    // Keyframes at the first and the last frame: the pipeline's first and last image.
    let b_still = d.join("b.png");
    let e = fb[0].clone();
    image::RgbImage::from_raw(e.width, e.height, e.data.clone()).unwrap().save(&b_still).unwrap();
    let keyed = d.join("keyed.mkv");
    let k0 = format!("0f={}", still.display());
    let k8 = format!("8f={}", b_still.display());
    assert_ok(&run(&["generate", "x", "--keyframe", &k0, "--keyframe", &k8, "--frames", "9", "-o", keyed.to_str().unwrap()]));
    let f = frames(&keyed);
    assert_eq!(f.len(), 9);
    assert!(f[0] == kino::video::decode_image(&still).unwrap() && f[8] == e, "both keyframes kept exactly");

    let no = d.join("no.mkv");
    let o = no.to_str().unwrap();
    // A bridge longer than one window (9 frames: one given at each end) would need windows
    // without their last frame.
    assert_clean_failure(
        &run(&["bridge", a.to_str().unwrap(), b.to_str().unwrap(), "--prompt", "x", "--frames", "16", "-o", o]),
        &no,
        "bridges in one window: at most 7 frames",
    );
    assert_clean_failure(
        &run(&["animate", still.to_str().unwrap(), "--prompt", "x", "--frames", "9", "-o", o]),
        &no,
        "needs the last frame of every window given",
    );
}
