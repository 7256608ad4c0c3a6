//! `kino animate` end to end through the binary: the clip starts on the user's image itself.

use std::process::Command;

use kino::video::decode_video;
use kino::RgbFrame;

mod common;

use common::*;

/// The step from the still to the first generated frame is no larger than 2.5 times the median
/// step between the model's own frames.
fn assert_seam_is_hidden(f: &[RgbFrame]) {
    let steps: Vec<f64> = f[1..].windows(2).map(|w| w[0].mean_abs_diff(&w[1])).collect();
    let (seam, median) = (f[0].mean_abs_diff(&f[1]), median(steps));
    eprintln!("animate seam {seam:.2}, median step {median:.2}");
    assert!(seam <= 2.5 * median.max(0.5), "seam {seam:.2} against a median step of {median:.2}");
}

#[test]
fn animate_starts_from_the_still() {
    let d = tmpdir("animate");
    // A still from the model's own world: frame 0 of a generated clip.
    let seq = d.join("seq");
    assert_ok(&kino(&["generate", "a magenta triangle standing still", "-o", &format!("{}/", seq.display()), "--seed", "31", "-q"]));
    let still = seq.join("00000.png");
    let before = file_bytes(&still);
    let out = d.join("anim.mkv");
    assert_ok(&kino(&[
        "animate",
        still.to_str().unwrap(),
        "--prompt",
        "a magenta triangle moving right",
        "--seconds",
        "2",
        "--seed",
        "32",
        "-o",
        out.to_str().unwrap(),
        "-q",
    ]));
    assert_eq!(file_bytes(&still), before);
    let f = frames(&out);
    assert_eq!(f.len(), 17);
    let image = kino::video::decode_image(&still).unwrap();
    assert!(f[0] == image, "the first frame is the still itself (lossless output)");
    assert_seam_is_hidden(&f);

    // A still from outside the model's world (another size of circle, another background): the
    // clip still starts exactly on it, and its first step is no larger than the model's own.
    let (foreign, foreign_png) = foreign_still(&d);
    let out = d.join("foreign.mkv");
    assert_ok(&kino(&[
        "animate",
        foreign_png.to_str().unwrap(),
        "--prompt",
        "a red circle moving up",
        "--seconds",
        "2",
        "--seed",
        "33",
        "--threads",
        "2",
        "-o",
        out.to_str().unwrap(),
        "-q",
    ]));
    let f = frames(&out);
    assert!(f[0] == foreign, "the first frame is the still itself");
    assert_seam_is_hidden(&f);

    // An odd-sized JPEG: the output keeps its size (lossless mkv); H.264 mp4 says why it cannot.
    let odd = d.join("odd.jpg");
    assert!(Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&still)
        .args(["-vf", "scale=101:75"])
        .arg(&odd)
        .status()
        .unwrap()
        .success());
    let out = d.join("odd.mkv");
    assert_ok(&kino(&[
        "animate",
        odd.to_str().unwrap(),
        "--prompt",
        "a magenta triangle moving right",
        "--seed",
        "1",
        "-o",
        out.to_str().unwrap(),
        "-q",
    ]));
    let s = ffprobe(&out);
    assert_eq!((s["width"].as_u64(), s["height"].as_u64()), (Some(101), Some(75)));
    let mp4 = d.join("odd.mp4");
    let r = kino(&["animate", odd.to_str().unwrap(), "--prompt", "x", "-o", mp4.to_str().unwrap(), "-q"]);
    assert_clean_failure(&r, &mp4, "even width and height");

    // A portrait still (its object near the top) in a square model: by default the clip starts
    // on the whole still, bit for bit; letterboxed, bars covered its top and bottom (and the
    // object) from the first frame on.
    let portrait = d.join("portrait.png");
    assert!(Command::new("ffmpeg")
        .args(["-v", "error", "-f", "lavfi", "-i", "color=c=0x101015:s=32x64,drawbox=x=8:y=4:w=12:h=14:c=red:t=fill"])
        .args(["-frames:v", "1", "-pix_fmt", "rgb24"])
        .arg(&portrait)
        .status()
        .unwrap()
        .success());
    let still = decode_video(&portrait).unwrap().frames.remove(0);
    let out = d.join("portrait.mkv");
    let args = ["animate", portrait.to_str().unwrap(), "--prompt", "a red square moving down", "-q", "-o", out.to_str().unwrap()];
    assert_ok(&kino(&args));
    assert!(frames(&out)[0] == still, "the first frame is the whole still");
    let boxed = d.join("portrait-boxed.mkv");
    assert_ok(&kino(&[&args[..6], &[boxed.to_str().unwrap(), "--fit", "letterbox"]].concat()));
    assert!(frames(&boxed)[0] != still, "letterboxed, the model's square shows with bars");
}

/// A red circle of radius 8 at (20, 40) on (20, 20, 25): the demo world draws radius 12 on
/// (15, 15, 20). Returns the still and its PNG in `dir`.
fn foreign_still(dir: &std::path::Path) -> (RgbFrame, std::path::PathBuf) {
    let mut data = Vec::with_capacity(64 * 64 * 3);
    for y in 0..64i32 {
        for x in 0..64i32 {
            let inside = (x - 20) * (x - 20) + (y - 40) * (y - 40) <= 64;
            data.extend_from_slice(if inside { &[230, 40, 40] } else { &[20, 20, 25] });
        }
    }
    let still = RgbFrame::new(64, 64, data).unwrap();
    let png = dir.join("foreign.png");
    image::RgbImage::from_raw(64, 64, still.data.clone()).unwrap().save(&png).unwrap();
    (still, png)
}

#[test]
fn animate_keeps_moving_past_one_window() {
    // 33 frames are two windows of the shipped model (it was trained on windows of up to 17
    // frames; one window of 33 lost its motion after frame 17). The still's object moves up in
    // both halves.
    let d = tmpdir("animate-long");
    let (_, png) = foreign_still(&d);
    let out = d.join("up.mkv");
    let args = ["animate", png.to_str().unwrap(), "--prompt", "a red circle moving up", "--frames", "33", "--seed", "33"];
    assert_ok(&kino(&[&args[..], &["-q", "-o", out.to_str().unwrap()]].concat()));
    let f = frames(&out);
    assert_eq!(f.len(), 33);
    let ys: Vec<f64> = f.iter().map(|fr| centre(fr).expect("an object in every frame").1).collect();
    // Wrapped steps summed per half (the world is 64 px around): about -20 px at 1.25 px a frame.
    let moved = |r: std::ops::Range<usize>| -> f64 { r.map(|i| (ys[i + 1] - ys[i] + 32.0).rem_euclid(64.0) - 32.0).sum() };
    let (first, second) = (moved(0..15), moved(16..31));
    eprintln!("moved up {:.1} px in frames 0-15, {:.1} in frames 16-31", -first, -second);
    assert!(first < -8.0 && second < -8.0, "the object moves up in both halves: {first:.1}, {second:.1} px");
}

/// A still with transparent pixels is laid over black, and said; an opaque one with an alpha
/// channel is not said to be transparent.
#[test]
fn a_transparent_still_is_said_to_be_laid_over_black() {
    let d = tmpdir("animate-alpha");
    for (name, alpha, said) in [("see-through.png", 0u8, true), ("opaque-rgba.png", 255, false)] {
        let still = d.join(name);
        image::RgbaImage::from_fn(64, 64, |x, _| image::Rgba([200, 40, 40, if x < 32 { 255 } else { alpha }])).save(&still).unwrap();
        let out = d.join(format!("{name}.mkv"));
        let r = kino(&["animate", still.to_str().unwrap(), "-p", "a red circle", "--steps", "1", "-o", out.to_str().unwrap()]);
        assert_ok(&r);
        let stderr = String::from_utf8_lossy(&r.stderr);
        assert_eq!(stderr.contains("has transparency; kino lays it over black"), said, "{name}: {stderr}");
        // The clip's first frame is the still as shown: black where it is transparent.
        let first = &frames(&out)[0];
        let right = &first.data[3 * 48..3 * 48 + 3];
        assert_eq!(right[0] < 30, said, "{name}: {right:?}");
    }
}

/// A clip given to animate is started from its first frame, and said (extend continues it).
#[test]
fn a_clip_given_to_animate_is_said_to_start_from_its_first_frame() {
    let d = tmpdir("animate-clip");
    let (gif, png) = (d.join("moving.gif"), d.join("one.png"));
    for (out, frames) in [(&gif, "4"), (&png, "1")] {
        let made = Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=64x64:r=8", "-frames:v", frames])
            .arg(out)
            .status()
            .unwrap();
        assert!(made.success());
    }
    for (input, said) in [(&gif, true), (&png, false)] {
        let out = d.join("out.mkv");
        let r = kino(&["animate", input.to_str().unwrap(), "-p", "a red circle", "--steps", "1", "-o", out.to_str().unwrap()]);
        assert_ok(&r);
        let stderr = String::from_utf8_lossy(&r.stderr);
        assert_eq!(stderr.contains("is a clip of several frames: animate starts from its first"), said, "{stderr}");
    }
}
