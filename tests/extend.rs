//! `kino extend`, `kino animate` and long (windowed) generation, end to end through the binary
//! with the shipped model, checked by decoding lossless FFV1 files.

use std::path::Path;
use std::process::Command;

use kino::RgbFrame;

mod common;

use common::*;

/// Mean absolute difference across the seam between frames `seam - 1` and `seam`, and the median
/// frame-to-frame difference inside `inside` (the generated part).
fn seam_ratio(f: &[RgbFrame], seam: usize, inside: std::ops::Range<usize>) -> f64 {
    let across = f[seam - 1].mean_abs_diff(&f[seam]);
    let within = median(inside.clone().skip(1).map(|i| f[i - 1].mean_abs_diff(&f[i])).collect());
    across / within.max(1e-9)
}

#[test]
fn extend_forward_keeps_the_clip_and_continues_without_a_seam() {
    let d = tmpdir("extend-fwd");
    let mut ratios = Vec::new();
    let prompts = ["a red square moving right", "a green circle moving down", "a yellow triangle moving left", "a blue circle moving up"];
    for (i, (prompt, seed)) in prompts.iter().flat_map(|p| seeds(11).map(|s| (p, s))).enumerate() {
        let base = d.join(format!("base{i}.mkv"));
        assert_ok(&kino(&["generate", prompt, "-o", base.to_str().unwrap(), "--seed", &seed.to_string(), "-q"]));
        let before = file_bytes(&base);
        let out = d.join(format!("ext{i}.mkv"));
        assert_ok(&kino(&[
            "extend",
            base.to_str().unwrap(),
            "--prompt",
            prompt,
            "--seconds",
            "3",
            "--seed",
            &(seed + 1).to_string(),
            "-o",
            out.to_str().unwrap(),
            "-q",
        ]));
        assert_eq!(file_bytes(&base), before, "the input was modified");
        let (a, b) = (frames(&base), frames(&out));
        assert_eq!(b.len(), a.len() + 24, "3 s at 8 fps appended");
        assert!(a.iter().zip(&b).all(|(x, y)| x == y), "the clip's own frames must pass through bit-exactly");
        ratios.push(seam_ratio(&b, a.len(), a.len()..b.len()));
    }
    // Across the seam vs the median step inside the new footage: at most 1.5x, typically (4
    // prompts x 3 seeds).
    assert_median_at_most("extend forwards, seam over the median step", &ratios, 1.5);
}

#[test]
fn extend_backward_puts_new_footage_before_the_clip() {
    let d = tmpdir("extend-back");
    let prompt = "a cyan square moving up";
    // The clips to extend are made at guidance 4 (as the extension itself is guided): the
    // seams measured are the extension's, whatever the package's guidance from text.
    // `kino extend` 2 s before `base`, with `seed`, into `out`.
    let extend_args = |base: &Path, seed: u64, out: &Path| {
        let (b, o, s) = (base.to_str().unwrap(), out.to_str().unwrap(), seed.to_string());
        ["extend", b, "--prompt", prompt, "--at", "start", "--seconds", "2", "--seed", &s, "-o", o, "-q"].map(String::from)
    };
    let extend_before = |seed: u64| {
        let base = d.join(format!("base{seed}.mkv"));
        let s = seed.to_string();
        assert_ok(&kino(&["generate", prompt, "-o", base.to_str().unwrap(), "--seed", &s, "--guidance", "4", "-q"]));
        let out = d.join(format!("pre{seed}.mkv"));
        assert_ok(&common::kino_command().args(extend_args(&base, seed + 1, &out)).output().unwrap());
        let (a, b) = (frames(&base), frames(&out));
        assert_eq!(b.len(), a.len() + 16);
        assert!(a.iter().zip(&b[16..]).all(|(x, y)| x == y), "the clip's frames must end the output unchanged");
        (base, b)
    };
    // Backwards seams vary most from clip to clip: twelve clips (the ones docs/demo-model.md
    // compares the samplers on).
    let runs = [21, 1021, 2021, 3, 8, 13, 33, 55, 89, 144, 233, 377].map(extend_before);
    let ratios: Vec<f64> = runs.iter().map(|(_, b)| seam_ratio(b, 16, 0..16)).collect();
    assert_median_at_most("extend backwards, seam over the median step", &ratios, 1.5);
    let (base, b) = &runs[0];
    // Frames made backwards wait in a spool; held on disk instead of in memory, they are the same.
    let spooled = d.join("pre-spooled.mkv");
    let r = common::kino_command().args(extend_args(base, 22, &spooled)).env("KINO_SPOOL_MB", "0").output().unwrap();
    assert_ok(&r);
    assert!(frames(&spooled) == *b, "spooling to disk changed the frames");
}

#[test]
fn extend_follows_the_clips_rate_and_size() {
    let d = tmpdir("extend-rate");
    let src = d.join("src.mkv");
    let made = Command::new("ffmpeg")
        .args(["-v", "error", "-f", "lavfi", "-i", "testsrc=size=96x80:rate=24", "-t", "1", "-c:v", "ffv1"])
        .arg(&src)
        .status()
        .expect("ffmpeg is installed (scripts/setup.sh)");
    assert!(made.success());
    let out = d.join("out.mkv");
    assert_ok(&kino(&[
        "extend",
        src.to_str().unwrap(),
        "--prompt",
        "a white circle standing still",
        "--seconds",
        "1",
        "--seed",
        "1",
        "-o",
        out.to_str().unwrap(),
        "-q",
    ]));
    let s = ffprobe(&out);
    assert_eq!((s["width"].as_u64(), s["height"].as_u64()), (Some(96), Some(80)));
    assert_eq!(s["avg_frame_rate"], "24/1");
    let (a, b) = (frames(&src), frames(&out));
    assert_eq!((a.len(), b.len()), (24, 48));
    assert!(a.iter().zip(&b).all(|(x, y)| x == y));
}

/// `input` through an ffmpeg video filter into a lossless file (same pixel format: exact).
fn ffmpeg_vf(input: &Path, vf: &str, output: &Path) {
    let ok = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(input)
        .args(["-vf", vf, "-c:v", "ffv1"])
        .arg(output)
        .status()
        .unwrap()
        .success();
    assert!(ok, "ffmpeg -vf {vf}");
}

/// Columns `x0..x0 + w` of a frame.
fn columns(f: &RgbFrame, x0: u32, w: u32) -> RgbFrame {
    let data = (0..f.height).flat_map(|y| f.data[3 * (y * f.width + x0) as usize..3 * (y * f.width + x0 + w) as usize].to_vec()).collect();
    RgbFrame::new(w, f.height, data).unwrap()
}

/// Rows `y0..y0 + h` of a frame.
fn rows(f: &RgbFrame, y0: u32, h: u32) -> RgbFrame {
    RgbFrame::new(f.width, h, f.data[3 * (y0 * f.width) as usize..3 * ((y0 + h) * f.width) as usize].to_vec()).unwrap()
}

#[test]
fn non_square_clips_are_fitted_never_stretched() {
    let d = tmpdir("extend-fit");
    let prompt = "a red circle moving right";
    let base = d.join("base.mkv");
    assert_ok(&kino(&["generate", prompt, "-o", base.to_str().unwrap(), "--seed", "51", "-q"]));
    let a = frames(&base);
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let extend = |input: &Path, out: &Path, fit: &str| {
        assert_ok(&kino(&["extend", &s(input), "--prompt", prompt, "--seconds", "2", "--seed", "52", "--fit", fit, "-o", &s(out), "-q"]))
    };

    // Letterbox (the default): the square clip pillarboxed into 128x64. The context is read
    // through the inverse window (its middle square: the square clip, exactly), and the new
    // frames are placed back in it at their own size: black bars, and inside them exactly the
    // square run's frames (no resampling happens at the model's height).
    let wide = d.join("wide.mkv");
    ffmpeg_vf(&base, "pad=128:64:32:0:black", &wide);
    let w = frames(&wide);
    assert!(w.iter().zip(&a).all(|(x, y)| columns(x, 32, 64) == *y), "precondition: the padded clip holds the square one");
    let (sq, wd) = (d.join("sq.mkv"), d.join("wide-ext.mkv"));
    extend(&base, &sq, "letterbox");
    extend(&wide, &wd, "letterbox");
    let (fs, fw) = (frames(&sq), frames(&wd));
    assert_eq!((fw.len(), fw[0].width, fw[0].height), (fs.len(), 128, 64));
    assert!(fw[..w.len()] == w[..], "the clip's own frames pass through");
    for (i, (f, g)) in fw.iter().zip(&fs).enumerate().skip(a.len()) {
        assert!(columns(f, 0, 32).data.iter().chain(&columns(f, 96, 32).data).all(|&v| v == 0), "frame {i}: the bars are black");
        assert!(columns(f, 32, 64) == *g, "frame {i}: inside the bars, the square run's frame");
    }

    // Crop: a 64x32 strip (the square clip's middle rows). Its context is the strip
    // letterboxed into the model's square (black above and below), so it continues what the
    // square clip with those rows blacked out continues; the new frames are that run's middle rows.
    let (strip, masked) = (d.join("strip.mkv"), d.join("masked.mkv"));
    ffmpeg_vf(&base, "crop=64:32:0:16", &strip);
    ffmpeg_vf(&base, "crop=64:32:0:16,pad=64:64:0:16:black", &masked);
    let (ms, cr) = (d.join("masked-ext.mkv"), d.join("strip-ext.mkv"));
    extend(&masked, &ms, "letterbox");
    extend(&strip, &cr, "crop");
    let (fm, fc) = (frames(&ms), frames(&cr));
    assert_eq!((fc.len(), fc[0].width, fc[0].height), (fm.len(), 64, 32));
    for (i, (f, g)) in fc.iter().zip(&fm).enumerate().skip(a.len()) {
        assert!(*f == rows(g, 16, 32), "frame {i}: the middle rows of the masked run's frame");
    }

    // Animate a pillarboxed still, letterboxed (animate crops by default): the same bars, and
    // the square still's animation inside.
    let still = d.join("still.png");
    let wide_still = d.join("wide.png");
    assert!(Command::new("ffmpeg").args(["-v", "error", "-i"]).arg(&base).args(["-frames:v", "1"]).arg(&still).status().unwrap().success());
    assert!(Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&still)
        .args(["-vf", "pad=128:64:32:0:black"])
        .arg(&wide_still)
        .status()
        .unwrap()
        .success());
    let (sa, wa) = (d.join("sq-anim.mkv"), d.join("wide-anim.mkv"));
    for (img, out) in [(&still, &sa), (&wide_still, &wa)] {
        assert_ok(&kino(&["animate", &s(img), "--prompt", prompt, "--seed", "53", "--fit", "letterbox", "-o", &s(out), "-q"]));
    }
    let (fsa, fwa) = (frames(&sa), frames(&wa));
    assert_eq!((fwa.len(), fwa[0].width), (fsa.len(), 128));
    for (i, (f, g)) in fwa.iter().zip(&fsa).enumerate() {
        assert!(
            columns(f, 0, 32).data.iter().chain(&columns(f, 96, 32).data).all(|&v| v == 0) && columns(f, 32, 64) == *g,
            "animated frame {i}"
        );
    }
    let r = kino(&["extend", &s(&base), "--prompt", prompt, "--fit", "stretch", "-o", &s(&d.join("x.mkv"))]);
    assert!(!r.status.success() && String::from_utf8_lossy(&r.stderr).contains("letterbox"));
}

#[test]
fn long_generation_is_windowed_and_deterministic() {
    let d = tmpdir("long");
    let (a, b) = (d.join("a.mkv"), d.join("b.mkv"));
    for p in [&a, &b] {
        assert_ok(&kino(&["generate", "an orange circle moving left", "--seconds", "7", "--seed", "5", "-o", p.to_str().unwrap(), "-q"]));
    }
    let (fa, fb) = (frames(&a), frames(&b));
    assert_eq!(fa.len(), 56, "7 s at 8 fps, past one window (33 frames)");
    assert_eq!(fa, fb, "same seed, same frames");
    // No window seam stands out: every step is within 3x the median step.
    let steps: Vec<f64> = fa.windows(2).map(|w| w[0].mean_abs_diff(&w[1])).collect();
    let med = median(steps.clone());
    let worst = steps.iter().cloned().fold(0.0, f64::max);
    eprintln!("long clip: median step {med:.2}, worst {worst:.2}");
    assert!(worst <= 3.0 * med.max(0.5), "a jump of {worst:.2} against a median step of {med:.2}");
    // The later windows continue the job's own frames and are made as windows from text are:
    // stochastic steps, guidance 2 (kino-shapes), the same as asking for both in every window;
    // deterministic steps at guidance 4 there (beside the user's frames) give other frames.
    let run = |name: &str, extra: &[&str]| {
        let out = d.join(name);
        let args = ["generate", "an orange circle moving left", "--seconds", "7", "--seed", "5", "-q", "-o", out.to_str().unwrap()];
        assert_ok(&kino(&[&args[..], extra].concat()));
        frames(&out)
    };
    assert!(run("text.mkv", &["--guidance", "2", "--sampler", "stochastic"]) == fa, "later windows as from text");
    let beside = run("beside.mkv", &["--guidance", "4", "--sampler", "deterministic"]);
    assert!(beside[..8] != fa[..8] && beside[40..] != fa[40..], "another sampler and guidance give other frames");
}

#[test]
fn extensions_are_made_as_from_text_both_ways() {
    // Windows that only continue the clip's frames (extending forwards) or only arrive at them
    // (extending backwards) are made as from text (stochastic, guidance 2 for kino-shapes), not
    // as footage between given frames is (deterministic, guidance 4: bridges, keyframes).
    let d = tmpdir("extend-own");
    let prompt = "a yellow triangle moving right";
    let base = d.join("base.mkv");
    assert_ok(&kino(&["generate", prompt, "--seed", "8", "-q", "-o", base.to_str().unwrap()]));
    let clip = frames(&base);
    let run = |name: &str, at: &str, extra: &[&str]| {
        let out = d.join(name);
        let (b, o) = (base.to_str().unwrap(), out.to_str().unwrap());
        let args = ["extend", b, "--prompt", prompt, "--at", at, "--seconds", "4", "--seed", "9", "-q", "-o", o];
        assert_ok(&kino(&[&args[..], extra].concat()));
        frames(&out)
    };
    let between = ["--sampler", "deterministic", "--guidance", "4"];
    let as_text = ["--sampler", "stochastic", "--guidance", "2"];
    let n = clip.len();
    for (at, name) in [("end", "forwards"), ("start", "backwards")] {
        let plain = run(&format!("{at}.mkv"), at, &[]);
        assert_eq!(plain.len(), n + 32);
        assert!(plain == run(&format!("{at}-text.mkv"), at, &as_text), "{name}: every window made as from text");
        let det = run(&format!("{at}-det.mkv"), at, &between);
        let (kept, new) = if at == "end" { (0..n, n..n + 32) } else { (32..32 + n, 0..32) };
        assert!(plain[kept.clone()] == det[kept], "{name}: the clip's frames kept either way");
        assert!(plain[new.clone()] != det[new], "{name}: not made as between given frames");
    }
}

#[test]
fn replace_context_mode_also_extends() {
    let d = tmpdir("replace");
    let base = d.join("base.mkv");
    assert_ok(&kino(&["generate", "a blue square moving down", "-o", base.to_str().unwrap(), "--seed", "41", "-q"]));
    let out = d.join("out.mkv");
    assert_ok(&kino(&[
        "extend",
        base.to_str().unwrap(),
        "--prompt",
        "a blue square moving down",
        "--context-mode",
        "replace",
        "--frames",
        "12",
        "--seed",
        "1",
        "-o",
        out.to_str().unwrap(),
        "-q",
    ]));
    let (a, b) = (frames(&base), frames(&out));
    assert_eq!(b.len(), a.len() + 12);
    assert!(a.iter().zip(&b).all(|(x, y)| x == y));
    // Different mechanism, different footage.
    let native = d.join("native.mkv");
    assert_ok(&kino(&[
        "extend",
        base.to_str().unwrap(),
        "--prompt",
        "a blue square moving down",
        "--frames",
        "12",
        "--seed",
        "1",
        "-o",
        native.to_str().unwrap(),
        "-q",
    ]));
    assert_ne!(frames(&native), b);
}

#[test]
fn bad_clips_and_stills_fail_cleanly_and_leave_inputs_alone() {
    let d = tmpdir("extend-bad");
    let out = d.join("out.mp4");
    let empty = d.join("empty.mp4");
    std::fs::write(&empty, b"").unwrap();
    assert_clean_failure(&kino(&["extend", empty.to_str().unwrap(), "--prompt", "x", "-o", out.to_str().unwrap()]), &out, "empty.mp4");
    let text = d.join("notes.mp4");
    std::fs::write(&text, b"this is not a video").unwrap();
    assert_clean_failure(&kino(&["extend", text.to_str().unwrap(), "--prompt", "x", "-o", out.to_str().unwrap()]), &out, "notes.mp4");
    assert_eq!(std::fs::read(&text).unwrap(), b"this is not a video");
    let missing = d.join("missing.mkv");
    assert_clean_failure(&kino(&["extend", missing.to_str().unwrap(), "--prompt", "x", "-o", out.to_str().unwrap()]), &out, "no such file");
    assert_clean_failure(&kino(&["animate", text.to_str().unwrap(), "--prompt", "x", "-o", out.to_str().unwrap()]), &out, "notes.mp4");

    let base = d.join("base.mkv");
    assert_ok(&kino(&["generate", "a red circle moving left", "-o", base.to_str().unwrap(), "--seed", "1", "-q"]));
    let before = file_bytes(&base);
    let r = kino(&["extend", base.to_str().unwrap(), "--prompt", "x", "-o", base.to_str().unwrap()]);
    assert!(!r.status.success());
    assert!(String::from_utf8_lossy(&r.stderr).contains("overwrite the input"));
    assert_eq!(file_bytes(&base), before);
    assert_clean_failure(
        &kino(&["extend", base.to_str().unwrap(), "--prompt", "x", "--frames", "0", "-o", out.to_str().unwrap()]),
        &out,
        "at least one frame",
    );
    // Too short to extend backwards, counted at the clip's own rate (12 model frames at 8 fps
    // reach 42 frames at 30 fps); 42 are enough.
    for (n, ok) in [(40, false), (42, true)] {
        let fast = d.join(format!("fast{n}.mkv"));
        let src = format!("testsrc=size=64x64:rate=30:duration={}", n as f64 / 30.0);
        let made = Command::new("ffmpeg").args(["-v", "error", "-y", "-f", "lavfi", "-i", &src, "-c:v", "ffv1"]).arg(&fast).status();
        assert!(made.unwrap().success());
        let r =
            kino(&["extend", fast.to_str().unwrap(), "--at", "start", "--prompt", "x", "--steps", "1", "-q", "-o", out.to_str().unwrap()]);
        if ok {
            assert_ok(&r);
            std::fs::remove_file(&out).unwrap();
        } else {
            assert_clean_failure(&r, &out, "it has 40 frames (1.33s at 30 fps); kino needs at least 42 (1.40s)");
        }
    }
    assert_clean_failure(
        &kino(&["extend", base.to_str().unwrap(), "--prompt", "x", "--seconds=-2", "-o", out.to_str().unwrap()]),
        &out,
        "positive length",
    );
    assert_clean_failure(
        &kino(&["extend", base.to_str().unwrap(), "--prompt", "x", "--size", "50x50", "-o", out.to_str().unwrap()]),
        &out,
        "trained at 64x64 only",
    );
}

/// Deeper footage than kino writes (10-bit H.264, a 16-bit PNG) works, with a warning that names
/// the file and the depth; 8-bit footage gets none.
#[test]
fn deeper_footage_is_read_with_a_warning_about_its_depth() {
    let d = tmpdir("depth");
    let (deep, plain, png) = (d.join("deep.mp4"), d.join("plain.mp4"), d.join("deep.png"));
    for (path, pix, extra) in [(&deep, "yuv420p10le", "libx264"), (&plain, "yuv420p", "libx264")] {
        let src = "testsrc=size=64x64:rate=8:duration=2";
        let ok =
            Command::new("ffmpeg").args(["-v", "error", "-y", "-f", "lavfi", "-i", src, "-c:v", extra, "-pix_fmt", pix]).arg(path).status();
        assert!(ok.unwrap().success());
    }
    let ok = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", "color=red:s=64x64", "-frames:v", "1", "-pix_fmt", "rgb48be"])
        .arg(&png)
        .status();
    assert!(ok.unwrap().success());
    let warning = |args: &[&str]| {
        let o = kino(args);
        assert_ok(&o);
        String::from_utf8_lossy(&o.stderr).lines().filter(|l| l.contains("bits per sample")).map(String::from).collect::<Vec<_>>()
    };
    let out = d.join("out.mkv");
    let o = out.to_str().unwrap();
    let w = warning(&["extend", deep.to_str().unwrap(), "--prompt", "x", "--frames", "8", "--steps", "2", "-q", "-o", o]);
    assert!(w.len() == 1 && w[0].contains("deep.mp4 has 10-bit samples"), "{w:?}");
    let w = warning(&["extend", plain.to_str().unwrap(), "--prompt", "x", "--frames", "8", "--steps", "2", "-q", "-o", o]);
    assert!(w.is_empty(), "{w:?}");
    let w = warning(&["animate", png.to_str().unwrap(), "--prompt", "x", "--steps", "2", "-q", "-o", o]);
    assert!(w.len() == 1 && w[0].contains("deep.png has 16-bit samples"), "{w:?}");
}

/// kino writes video and copies audio: a clip's subtitle or timecode tracks are not in the output,
/// and kino says so rather than dropping them unremarked.
#[test]
fn tracks_kino_does_not_carry_are_named_in_a_warning() {
    let d = tmpdir("tracks");
    let (srt, subbed, plain) = (d.join("s.srt"), d.join("subbed.mkv"), d.join("plain.mkv"));
    std::fs::write(&srt, "1\n00:00:00,000 --> 00:00:01,500\nhello\n").unwrap();
    let src = "testsrc=size=64x64:rate=8:duration=2";
    let ok = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", src, "-f", "lavfi", "-i", "sine=d=2"])
        .arg("-i")
        .arg(&srt)
        .args(["-map", "0", "-map", "1", "-map", "2", "-c:v", "ffv1", "-c:a", "flac", "-c:s", "srt"])
        .arg(&subbed)
        .status();
    assert!(ok.unwrap().success());
    let ok = Command::new("ffmpeg").args(["-v", "error", "-y", "-f", "lavfi", "-i", src, "-c:v", "ffv1"]).arg(&plain).status();
    assert!(ok.unwrap().success());
    let out = d.join("out.mkv");
    let warning = |clip: &Path| {
        let o =
            kino(&["extend", clip.to_str().unwrap(), "--prompt", "x", "--frames", "8", "--steps", "2", "-q", "-o", out.to_str().unwrap()]);
        assert_ok(&o);
        String::from_utf8_lossy(&o.stderr).lines().filter(|l| l.contains("video and audio only")).map(String::from).collect::<Vec<_>>()
    };
    let w = warning(&subbed);
    assert!(w.len() == 1 && w[0].contains("subbed.mkv has 1 subtitle track;"), "{w:?}");
    let probe =
        Command::new("ffprobe").args(["-v", "error", "-show_entries", "stream=codec_type", "-of", "csv=p=0"]).arg(&out).output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&probe.stdout).split_whitespace().collect::<Vec<_>>(),
        ["video", "audio"],
        "the audio is copied, the subtitles are not"
    );
    assert!(warning(&plain).is_empty());
    // A second video track (another angle) stays behind too, and is said.
    let two = d.join("two.mkv");
    let ok = Command::new("ffmpeg")
        .args(["-v", "error", "-y"])
        .arg("-i")
        .arg(&plain)
        .arg("-i")
        .arg(&plain)
        .args(["-map", "0:v", "-map", "1:v", "-c", "copy"])
        .arg(&two)
        .status();
    assert!(ok.unwrap().success());
    let w = warning(&two);
    assert!(w.len() == 1 && w[0].contains("two.mkv has 1 other video track;"), "{w:?}");
    // A cover picture (a Matroska attachment FFmpeg shows as a video stream) is named as one.
    let (cover, covered) = (d.join("cover.jpg"), d.join("covered.mkv"));
    let made = |args: &[&str]| assert!(Command::new("ffmpeg").args(["-v", "error", "-y"]).args(args).status().unwrap().success());
    made(&["-f", "lavfi", "-i", "color=c=red:s=32x32", "-frames:v", "1", cover.to_str().unwrap()]);
    made(&[
        "-i",
        plain.to_str().unwrap(),
        "-c",
        "copy",
        "-attach",
        cover.to_str().unwrap(),
        "-metadata:s:t",
        "mimetype=image/jpeg",
        covered.to_str().unwrap(),
    ]);
    let w = warning(&covered);
    assert!(w.len() == 1 && w[0].contains("covered.mkv has 1 cover picture track;"), "{w:?}");
}
