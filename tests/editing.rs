//! The editing toolkit end to end through the binary, on the shipped demo model, in lossless
//! output: `kino bridge` (the given clips kept bit for bit, both seams measured), `generate --loop`,
//! `kino remix`, storyboards (`--storyboard`, `--prompt-at`).

use std::path::Path;
use std::process::Command;

use kino::RgbFrame;

mod common;

use common::*;

/// Mean absolute step between consecutive frames.
fn steps(f: &[RgbFrame]) -> Vec<f64> {
    f.windows(2).map(|w| w[0].mean_abs_diff(&w[1])).collect()
}

/// Frames `range` of `input` into a lossless file (ffmpeg's select filter: exact copies).
fn cut(input: &Path, first: usize, end: usize, output: &Path) {
    let vf = format!("select=between(n\\,{first}\\,{}),setpts=N/FRAME_RATE/TB", end - 1);
    let ok = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(input)
        .args(["-vf", &vf, "-c:v", "ffv1"])
        .arg(output)
        .status()
        .expect("ffmpeg is installed (scripts/setup.sh)")
        .success();
    assert!(ok, "ffmpeg cut {first}..{end}");
}

/// A and B cut from one generated clip with a 12-frame gap between them (so a bridge has a
/// motion to follow), as lossless files.
fn two_clips(d: &Path) -> (std::path::PathBuf, std::path::PathBuf, Vec<RgbFrame>) {
    two_clips_of_seed(d, 41)
}

/// `two_clips` from the clip `seed` draws, in files of their own.
fn two_clips_of_seed(d: &Path, seed: u64) -> (std::path::PathBuf, std::path::PathBuf, Vec<RgbFrame>) {
    let whole = d.join(format!("whole{seed}.mkv"));
    assert_ok(&kino(&[
        "generate",
        "a red circle moving right",
        "--frames",
        "45",
        "--seed",
        &seed.to_string(),
        "-o",
        whole.to_str().unwrap(),
        "-q",
    ]));
    let (a, b) = (d.join(format!("a{seed}.mkv")), d.join(format!("b{seed}.mkv")));
    cut(&whole, 0, 17, &a);
    cut(&whole, 29, 45, &b);
    (a, b, frames(&whole))
}

/// The bridge's seams into A's end and B's start over the median step inside the bridge, for
/// 12 bridged frames and `frames`: A, the bridge, B.
fn bridge_seams(f: &[RgbFrame], bridged: usize) -> (f64, f64) {
    let s = steps(f);
    let inside = median(s[17..16 + bridged].to_vec());
    (s[16] / inside, s[16 + bridged] / inside)
}

#[test]
fn bridge_keeps_both_clips_and_hides_both_seams() {
    let d = tmpdir("bridge");
    let (a, b, _) = two_clips(&d);
    let (before_a, before_b) = (file_bytes(&a), file_bytes(&b));
    let out = d.join("ab.mkv");
    let args = |out: &Path, only: bool| {
        let mut v: Vec<String> = ["bridge", a.to_str().unwrap(), b.to_str().unwrap(), "--prompt", "a red circle moving right"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        v.extend(["--frames", "12", "--seed", "42", "--threads", "2", "-q", "-o"].iter().map(|s| s.to_string()));
        v.push(out.to_str().unwrap().to_string());
        if only {
            v.push("--only".into());
        }
        v
    };
    let run = |v: Vec<String>| kino(&v.iter().map(String::as_str).collect::<Vec<_>>());
    assert_ok(&run(args(&out, false)));
    assert_eq!((file_bytes(&a), file_bytes(&b)), (before_a, before_b), "the inputs are not modified");
    let (fa, fb, f) = (frames(&a), frames(&b), frames(&out));
    assert_eq!(f.len(), 17 + 12 + 16);
    assert!(f[..17] == fa[..], "clip A is kept bit for bit");
    assert!(f[29..] == fb[..], "clip B is kept bit for bit");
    // Both seams at most 1.5x the bridge's median step, typically: over clips of three seeds.
    let (mut seams_a, mut seams_b) = (Vec::new(), Vec::new());
    for seed in seeds(41) {
        let (sa, sb) = if seed == 41 {
            bridge_seams(&f, 12)
        } else {
            let (a, b, _) = two_clips_of_seed(&d, seed);
            let out = d.join(format!("ab{seed}.mkv"));
            let mut v = args(&out, false);
            (v[1], v[2]) = (a.to_str().unwrap().into(), b.to_str().unwrap().into());
            v[8] = (seed + 1).to_string();
            assert_ok(&run(v));
            bridge_seams(&frames(&out), 12)
        };
        seams_a.push(sa);
        seams_b.push(sb);
    }
    assert_median_at_most("bridge, seam out of A over the median step", &seams_a, 1.5);
    assert_median_at_most("bridge, seam into B over the median step", &seams_b, 1.5);

    // --only writes the bridge alone: the same frames.
    let only = d.join("only.mkv");
    assert_ok(&run(args(&only, true)));
    let g = frames(&only);
    assert!(g[..] == f[17..29], "--only gives the bridge's frames");

    // H.264 output: A's and B's frames are the clips' own, up to the codec's loss: as close to
    // them as the clip encoded alone with the same settings (x264 CRF 18, yuv420p), and far from
    // what regenerating them would give.
    let mp4 = d.join("ab.mp4");
    assert_ok(&run(args(&mp4, false)));
    let m = frames(&mp4);
    let alone = d.join("a-alone.mp4");
    let ok = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(&a)
        .args(["-c:v", "libx264", "-crf", "18", "-preset", "medium", "-pix_fmt", "yuv420p"])
        .arg(&alone)
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let psnr = |x: &RgbFrame, y: &RgbFrame| {
        let mse = x.data.iter().zip(&y.data).map(|(&p, &q)| (p as f64 - q as f64).powi(2)).sum::<f64>() / x.data.len() as f64;
        10.0 * (255.0f64.powi(2) / mse.max(1e-9)).log10()
    };
    let mean = |v: Vec<f64>| v.iter().sum::<f64>() / v.len() as f64;
    let kept_a = mean((0..17).map(|i| psnr(&m[i], &fa[i])).collect());
    let kept_b = mean((0..16).map(|i| psnr(&m[29 + i], &fb[i])).collect());
    let codec = mean(frames(&alone).iter().zip(&fa).map(|(x, y)| psnr(x, y)).collect());
    eprintln!("H.264 output: A {kept_a:.1} dB, B {kept_b:.1} dB; clip A encoded alone {codec:.1} dB");
    assert!(kept_a >= codec - 3.0 && kept_b >= codec - 3.0, "kept frames lose about what the codec does");

    // H.264 in, H.264 out (frames already 4:2:0): A's and B's frames are encoded near-losslessly
    // (x264 zones at a constant quantiser), every one >= 45 dB against the input's own frames,
    // in the codec's samples (Y'CbCr 4:2:0, as FFmpeg's psnr filter measures). Read back to RGB
    // as well, they come out 1-3 dB lower, the more so the sharper the clip: the colour matrix
    // stretches a sample's rounding (V into R by 1.4x) and clips out-of-gamut ringing.
    let to_mp4 = |src: &Path, dst: &Path| {
        let ok = Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-i"])
            .arg(src)
            .args(["-c:v", "libx264", "-crf", "18", "-pix_fmt", "yuv420p"])
            .arg(dst)
            .status()
            .unwrap()
            .success();
        assert!(ok);
    };
    let (a4, b4, ab4) = (d.join("a.mp4"), d.join("b.mp4"), d.join("ab4.mp4"));
    to_mp4(&a, &a4);
    to_mp4(&b, &b4);
    let mut v = args(&ab4, false);
    v[1] = a4.to_str().unwrap().into();
    v[2] = b4.to_str().unwrap().into();
    assert_ok(&run(v));
    let (fa4, fb4, o) = (frames(&a4), frames(&b4), frames(&ab4));
    assert_eq!(o.len(), fa4.len() + 12 + fb4.len());
    let a_db: Vec<f64> = (0..fa4.len()).map(|i| psnr(&o[i], &fa4[i])).collect();
    let b_db: Vec<f64> = (0..fb4.len()).map(|i| psnr(&o[o.len() - fb4.len() + i], &fb4[i])).collect();
    let least = |v: &[f64]| v.iter().cloned().fold(f64::INFINITY, f64::min);
    eprintln!(
        "H.264 in and out, RGB: A {:.1} dB (least {:.1}), B {:.1} dB (least {:.1})",
        mean(a_db.clone()),
        least(&a_db),
        mean(b_db.clone()),
        least(&b_db)
    );
    let size = (fa4[0].width as usize, fa4[0].height as usize);
    let (ya, yb, yo) = (yuv_frames(&a4, fa4.len(), size), yuv_frames(&b4, fb4.len(), size), yuv_frames(&ab4, o.len(), size));
    let a_db: Vec<f64> = ya.iter().enumerate().map(|(i, f)| plane_psnr(&yo[i], f)).collect();
    let b_db: Vec<f64> = yb.iter().enumerate().map(|(i, f)| plane_psnr(&yo[o.len() - fb4.len() + i], f)).collect();
    eprintln!("H.264 in and out, Y'CbCr: A least {:.1} dB, B least {:.1} dB", least(&a_db), least(&b_db));
    assert!(least(&a_db) >= 45.0 && least(&b_db) >= 45.0, "kept frames below 45 dB: {a_db:.1?} {b_db:.1?}");

    // A longer bridge is filled forwards first, then arrives at B; both clips still kept.
    let long = d.join("long.mkv");
    let mut v = args(&long, false);
    v[6] = "30".into();
    assert_ok(&run(v));
    let h = frames(&long);
    assert_eq!(h.len(), 17 + 30 + 16);
    assert!(h[..17] == fa[..] && h[47..] == fb[..]);
    let s = steps(&h);
    let inside = median(s[17..46].to_vec());
    eprintln!("30-frame bridge seams: A {:.2}, B {:.2}", s[16] / inside, s[46] / inside);
    // The A seam of a long bridge is an extend's seam (the gap is filled forwards first).
    assert!(s[16] / inside <= 2.0 && s[46] / inside <= 1.5);
}

#[test]
fn bridge_refuses_clips_it_cannot_join() {
    let d = tmpdir("bridge-bad");
    let a = d.join("a.mkv");
    assert_ok(&kino(&["generate", "a red circle moving right", "--seed", "1", "-o", a.to_str().unwrap(), "-q"]));
    let out = d.join("out.mkv");
    let bridge = |b: &Path, extra: &[&str]| {
        let mut v = vec!["bridge", a.to_str().unwrap(), b.to_str().unwrap(), "--prompt", "a red circle", "-q", "-o", out.to_str().unwrap()];
        v.extend(extra);
        kino(&v)
    };
    // Another frame rate.
    let fast = d.join("fast.mkv");
    assert!(Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(&a)
        .args(["-r", "25", "-c:v", "ffv1"])
        .arg(&fast)
        .status()
        .unwrap()
        .success());
    assert_clean_failure(&bridge(&fast, &[]), &out, "frame rate");
    // No such clip, and an unreadable one.
    assert_clean_failure(&bridge(&d.join("missing.mkv"), &[]), &out, "missing.mkv");
    let junk = d.join("junk.mkv");
    std::fs::write(&junk, b"not a video").unwrap();
    assert_clean_failure(&bridge(&junk, &[]), &out, "junk.mkv");
    assert_clean_failure(&bridge(&a, &["--frames", "0"]), &out, "--frames");
}

/// `kino generate --loop` of `prompt` with `seed` into `out`, on two threads; `extra` flags after.
fn make_loop(prompt: &str, seed: u64, out: &Path, extra: &[&str]) -> std::process::Output {
    let seed = seed.to_string();
    let mut args = vec!["generate", prompt, "--loop", "--seed", &seed, "--threads", "2", "-q", "-o", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    kino(&args)
}

/// A loop's wrap: the step from its last frame to its first over its median step.
fn wrap_over_median_step(f: &[RgbFrame]) -> f64 {
    f[f.len() - 1].mean_abs_diff(&f[0]) / median(steps(f))
}

#[test]
fn loop_leads_back_to_its_first_frame() {
    let d = tmpdir("loop");
    // The wrap of one clip is a sample (a square moving up is the hardest: it has to get back
    // where it began): three seeds of two prompts, judged on the median.
    let mut ratios = Vec::new();
    for (prompt, seed) in [5, 6, 7].into_iter().flat_map(|s| [("a green square moving up", s), ("a red circle moving left", s)]) {
        let out = d.join(format!("loop-{seed}-{}.mkv", ratios.len()));
        assert_ok(&make_loop(prompt, seed, &out, &[]));
        let f = frames(&out);
        assert_eq!(f.len(), 17);
        ratios.push(wrap_over_median_step(&f));
    }
    assert_median_at_most("loop: last-to-first step over the median step", &ratios, 1.5);
    let (out, again) = (d.join("loop-5-0.mkv"), d.join("again.mkv"));
    assert_ok(&make_loop("a green square moving up", 5, &again, &[]));
    assert!(frames(&again) == frames(&out), "the same seed gives the same loop");
    // Lengths whose body before the bridge back is no count the model makes in one window
    // (40 - 8 = 32, 36 - 8 = 28): the body is made a little longer and cut.
    for n in ["36", "40"] {
        let odd = d.join(format!("loop{n}.mkv"));
        let o = kino(&["generate", "a green square moving up", "--loop", "--frames", n, "--steps", "2", "-q", "-o", odd.to_str().unwrap()]);
        assert_ok(&o);
        assert_eq!(frames(&odd).len().to_string(), n);
    }
    // Too short to loop: a clear error, no output.
    let short = d.join("short.mkv");
    let o = kino(&["generate", "a green square", "--loop", "--frames", "5", "-q", "-o", short.to_str().unwrap()]);
    assert_clean_failure(&o, &short, "loop");
}

/// Pixels more than 60 levels from the frame's median colour in any channel: the object's area
/// on the demo world's plain background (a second object or a smear adds to it).
fn bright_pixels(f: &RgbFrame) -> usize {
    let bg = median_colour(f);
    f.data.chunks_exact(3).filter(|p| (0..3).any(|c| (p[c] as i32 - bg[c] as i32).abs() > 60)).count()
}

#[test]
fn a_loop_once_around_the_world_keeps_one_object_in_every_frame() {
    // 51 frames at 1.25 px a frame take an object once around the 64 px world: a loop of that
    // length can keep its motion and arrive where it began. Its body is several windows made as
    // from text; guided as footage into given frames is (4 instead of 2), this one's third window
    // grew a second object and melted.
    let d = tmpdir("loop51");
    let mut ratios = Vec::new();
    let loops = [
        ("a white square moving right", 2),
        ("a cyan square moving up", 13),
        ("a red circle moving left", 1),
        ("a yellow triangle moving down", 3),
    ];
    for (prompt, seed) in loops {
        let out = d.join(format!("loop-{seed}.mkv"));
        assert_ok(&make_loop(prompt, seed, &out, &["--frames", "51"]));
        let f = frames(&out);
        assert_eq!(f.len(), 51);
        let areas: Vec<usize> = f.iter().map(bright_pixels).collect();
        let typical = median(areas.iter().map(|&a| a as f64).collect());
        for (i, &a) in areas.iter().enumerate() {
            let r = a as f64 / typical;
            assert!(
                (0.6..=1.5).contains(&r),
                "{prompt}, seed {seed}: frame {i} shows {a} bright pixels against {typical} in most frames: {areas:?}"
            );
        }
        ratios.push(wrap_over_median_step(&f));
    }
    assert_median_at_most("51-frame loop: last-to-first step over the median step", &ratios, 1.5);
}

fn wrapped_distance(a: (f64, f64), b: (f64, f64), size: f64) -> f64 {
    let d = |p: f64, q: f64| {
        let x = (p - q).rem_euclid(size);
        x.min(size - x)
    };
    d(a.0, b.0).hypot(d(a.1, b.1))
}

/// The mean colour of the pixels far from the background.
fn object_colour(f: &RgbFrame) -> [f64; 3] {
    let bg = median_colour(f);
    let mut sum = [0.0; 3];
    let mut n = 0.0f64;
    for p in f.data.chunks(3) {
        if (0..3).any(|c| (p[c] as i32 - bg[c] as i32).abs() > 60) {
            (0..3).for_each(|c| sum[c] += p[c] as f64);
            n += 1.0;
        }
    }
    sum.map(|s| s / n.max(1.0))
}

#[test]
fn remix_keeps_layout_at_low_strength_and_follows_the_prompt_at_high() {
    let d = tmpdir("remix");
    let clip = d.join("clip.mkv");
    assert_ok(&kino(&["generate", "a red circle moving right", "--frames", "33", "--seed", "7", "-o", clip.to_str().unwrap(), "-q"]));
    let before = file_bytes(&clip);
    let src = frames(&clip);
    let remix = |strength: &str, prompt: &str, out: &Path| {
        kino(&[
            "remix",
            clip.to_str().unwrap(),
            "--prompt",
            prompt,
            "--strength",
            strength,
            "--seed",
            "8",
            "--threads",
            "2",
            "-q",
            "-o",
            out.to_str().unwrap(),
        ])
    };
    // Strength 0 is the clip itself.
    let zero = d.join("zero.mkv");
    assert_ok(&remix("0", "a blue circle moving right", &zero));
    assert!(frames(&zero) == src, "strength 0 gives the clip back");
    // ... whatever its rate and shape: not the model's 8 fps square view of it.
    let wide = d.join("wide24.mkv");
    let ok = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=96x54:rate=24:duration=1", "-c:v", "ffv1"])
        .arg(&wide)
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let wide_zero = d.join("wide-zero.mkv");
    let o =
        kino(&["remix", wide.to_str().unwrap(), "--prompt", "a blue circle", "--strength", "0", "-q", "-o", wide_zero.to_str().unwrap()]);
    assert_ok(&o);
    assert!(frames(&wide_zero) == frames(&wide), "strength 0 gives a 24 fps 96x54 clip back frame for frame");
    // Remixed, the whole picture stays in view (crop by default): no black bars over its sides.
    let wide_low = d.join("wide-low.mkv");
    let o =
        kino(&["remix", wide.to_str().unwrap(), "--prompt", "a blue circle", "--strength", "0.3", "-q", "-o", wide_low.to_str().unwrap()]);
    assert_ok(&o);
    let f = frames(&wide_low);
    let black_columns = (0..f[0].width as usize)
        .filter(|&x| (0..f[0].height as usize).all(|y| f[0].data[3 * (y * f[0].width as usize + x)..][..3] == [0, 0, 0]))
        .count();
    assert_eq!((f.len(), black_columns), (24, 0), "a 96x54 clip remixed whole");
    // Low strength, another colour: the object stays where it was.
    let low = d.join("low.mkv");
    assert_ok(&remix("0.3", "a blue circle moving right", &low));
    let f = frames(&low);
    assert_eq!(f.len(), src.len());
    let moved: Vec<f64> = f.iter().zip(&src).filter_map(|(a, b)| Some(wrapped_distance(centre(a)?, centre(b)?, 64.0))).collect();
    let worst = moved.iter().cloned().fold(0.0, f64::max);
    eprintln!("remix 0.3: centroid moved {worst:.2} px at most ({} frames): {moved:.1?}", moved.len());
    let mean = moved.iter().sum::<f64>() / moved.len() as f64;
    // Within 4 px in every frame (each window redraws its own stretch of the clip).
    assert!(moved.len() == src.len() && mean <= 2.5 && worst <= 4.0, "centroids moved {mean:.2} px on average, {worst:.2} at most");
    // High strength: the new prompt's colour (blue: its blue channel leads).
    let high = d.join("high.mkv");
    assert_ok(&remix("0.9", "a blue triangle moving right", &high));
    let blue = frames(&high)
        .iter()
        .filter(|fr| {
            let c = object_colour(fr);
            c[2] > c[0] + 60.0 && c[2] > c[1] + 40.0
        })
        .count();
    eprintln!("remix 0.9: {blue} of {} frames blue", src.len());
    assert!(blue as f64 >= 0.9 * src.len() as f64);
    // Strength 1 redraws from the seed's noise alone, as `kino generate` does from that seed
    // (the clip's latents must not stand in for the noise, which made every seed's remix one
    // blank clip): the first window's frames are generate's.
    let full = d.join("full.mkv");
    assert_ok(&remix("1", "a blue triangle moving right", &full));
    let generated = d.join("generated.mkv");
    let g = ["generate", "a blue triangle moving right", "--frames", "33", "--seed", "8", "--threads", "2", "-q", "-o"];
    assert_ok(&kino(&[&g[..], &[generated.to_str().unwrap()]].concat()));
    assert!(frames(&full)[..8] == frames(&generated)[..8], "strength 1 is generate's noise");
    assert_eq!(file_bytes(&clip), before, "the input is not modified");
    // Strength outside 0..1: a clear error naming the flag, no output.
    let bad = d.join("bad.mkv");
    assert_clean_failure(&remix("1.5", "a blue circle", &bad), &bad, "--strength");
    assert_clean_failure(&remix("-0.1", "a blue circle", &bad), &bad, "--strength");
}

/// Net motion of the object over `f`: the sum of its centre's wrapped frame-to-frame steps.
fn motion(f: &[RgbFrame]) -> (f64, f64) {
    let c: Vec<(f64, f64)> = f.iter().filter_map(centre).collect();
    let wrap = |d: f64| (d + 32.0).rem_euclid(64.0) - 32.0;
    c.windows(2).fold((0.0, 0.0), |(x, y), w| (x + wrap(w[1].0 - w[0].0), y + wrap(w[1].1 - w[0].1)))
}

#[test]
fn storyboard_spans_follow_their_prompts() {
    let d = tmpdir("storyboard");
    let board = d.join("board.txt");
    std::fs::write(&board, "# one object, two motions\n0s a red circle moving left\n\n4s a red circle moving up\n").unwrap();
    // Each span follows its prompt's colour in every clip, and its direction in at least 80% of
    // clips (the floor; one clip's motion after a change of prompt is a sample): 4 of 5 seeds.
    let mut followed = [0, 0];
    for seed in [3, 1003, 2003, 3003, 4003] {
        let out = d.join(format!("story{seed}.mkv"));
        let s = seed.to_string();
        let args = ["generate", "--storyboard", board.to_str().unwrap(), "--seconds", "8", "--seed", &s, "--threads", "2", "-q", "-o"];
        assert_ok(&kino(&[&args[..], &[out.to_str().unwrap()]].concat()));
        let f = frames(&out);
        assert_eq!(f.len(), 64);
        for (k, (span, want)) in [(0..32, (-1.0, 0.0)), (32..64, (0.0, -1.0))].into_iter().enumerate() {
            let (dx, dy) = motion(&f[span.clone()]);
            let red = f[span.clone()].iter().filter(|fr| {
                let c = object_colour(fr);
                c[0] > c[1] + 60.0 && c[0] > c[2] + 60.0
            });
            eprintln!("storyboard, seed {seed}, span {span:?}: motion ({dx:.1}, {dy:.1}) px, {} red frames", red.clone().count());
            assert!(red.count() as f64 >= 0.9 * span.len() as f64, "span {span:?} keeps the prompt's colour");
            // The prompt's direction leads: at least 10 px along it, more than across it.
            let (along, across) = (dx * want.0 + dy * want.1, (dx * want.1 - dy * want.0).abs());
            followed[k] += usize::from(along >= 10.0 && along > across);
        }
    }
    eprintln!("storyboard: clips whose span follows its prompt's direction, of 5: {followed:?}");
    assert!(followed.iter().all(|&n| n >= 4), "spans following their prompt's direction, of 5 clips: {followed:?}");
    let out = d.join("story3.mkv");
    let f = frames(&out);
    // --prompt-at gives the same clip as the storyboard file.
    let same = d.join("same.mkv");
    assert_ok(&kino(&[
        "generate",
        "a red circle moving left",
        "--prompt-at",
        "32f=a red circle moving up",
        "--seconds",
        "8",
        "--seed",
        "3",
        "--threads",
        "2",
        "-q",
        "-o",
        same.to_str().unwrap(),
    ]));
    assert!(frames(&same) == f, "--prompt-at and --storyboard give the same frames");

    // Bad storyboards: the line at fault is named, nothing is written.
    let bad = d.join("bad.mkv");
    let run = |text: &str| {
        std::fs::write(&board, text).unwrap();
        kino(&["generate", "--storyboard", board.to_str().unwrap(), "--seconds", "8", "-q", "-o", bad.to_str().unwrap()])
    };
    assert_clean_failure(&run("0s a red circle\n4s a blue circle\n2s a green circle\n"), &bad, "line 3");
    assert_clean_failure(&run("0s a red circle\nlater a blue circle\n"), &bad, "line 2");
    assert_clean_failure(
        &run("0s a red circle\n\n9s a blue circle\n"),
        &bad,
        "storyboard line 3: its time (frame 72) is past the clip's end",
    );
    // Not a storyboard at all: a device that never ends, a file far too large. Refused after a
    // bounded read.
    let o = kino(&["generate", "--storyboard", "/dev/zero", "--seconds", "8", "-q", "-o", bad.to_str().unwrap()]);
    assert_clean_failure(&o, &bad, "larger than");
    assert_clean_failure(&run(&"0s a red circle\n".repeat(100_000)), &bad, "larger than");
    let o = kino(&["generate", "a red circle", "--prompt-at", "1s", "-q", "-o", bad.to_str().unwrap()]);
    assert_clean_failure(&o, &bad, "--prompt-at");
    let o = kino(&["generate", "a red circle", "--prompt-at", "1s=a blue circle", "--frames", "17", "-q", "-o", bad.to_str().unwrap()]);
    assert_clean_failure(&o, &bad, "storyboard");
    // An empty prompt at a time is allowed (the model draws what it likes there), and said.
    let empty = d.join("empty-shot.mkv");
    let o =
        kino(&["generate", "a red circle", "--prompt-at", "1s=", "--frames", "25", "--steps", "2", "-q", "-o", empty.to_str().unwrap()]);
    assert_ok(&o);
    assert!(String::from_utf8_lossy(&o.stderr).contains("the prompt of --prompt-at \"1s=\" is empty"), "{o:?}");
    let o = kino(&[
        "generate",
        "--prompt",
        "a red circle",
        "--prompt-at",
        "9s=a blue circle",
        "--seconds",
        "8",
        "-q",
        "-o",
        bad.to_str().unwrap(),
    ]);
    assert_clean_failure(&o, &bad, "--prompt-at \"9s=a blue circle\": its time (frame 72) is past the clip's end");
}

#[test]
fn a_storyboard_cut_changes_the_look_at_once() {
    let d = tmpdir("storyboard-cut");
    let board = d.join("board.txt");
    std::fs::write(&board, "0s a red circle moving left\n3s [cut] a blue square moving up\n").unwrap();
    let out = d.join("cut.mkv");
    let run = |out: &Path| {
        kino(&[
            "generate",
            "--storyboard",
            board.to_str().unwrap(),
            "--seconds",
            "6",
            "--seed",
            "5",
            "--threads",
            "2",
            "-q",
            "-o",
            out.to_str().unwrap(),
        ])
    };
    assert_ok(&run(&out));
    let f = frames(&out);
    assert_eq!(f.len(), 48);
    let is = |fr: &RgbFrame, main: usize| {
        let c = object_colour(fr);
        (0..3).filter(|&k| k != main).all(|k| c[main] > c[k] + 60.0)
    };
    let red = f[..24].iter().filter(|fr| is(fr, 0)).count();
    let blue = f[24..].iter().filter(|fr| is(fr, 2)).count();
    eprintln!("storyboard cut: {red}/24 red before the cut, {blue}/24 blue after it");
    assert!(red >= 22 && blue >= 22, "each shot follows its own prompt's colour ({red}, {blue})");
    // The second shot is the clip its prompt makes alone (seed + 1; one window of 25 frames, the
    // count the model makes nearest above 24), for as long as it lasts.
    let alone = d.join("alone");
    assert_ok(&kino(&[
        "generate",
        "a blue square moving up",
        "--frames",
        "25",
        "--seed",
        "6",
        "-q",
        "-o",
        &format!("{}/", alone.display()),
    ]));
    let mut files: Vec<_> =
        std::fs::read_dir(&alone).unwrap().flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "png")).collect();
    files.sort();
    let shot: Vec<RgbFrame> = files.iter().map(|p| kino::video::decode_image(p).unwrap()).collect();
    assert!(f[24..] == shot[..24], "after the cut: kino generate of the shot's prompt, seed + 1");
    let again = d.join("again.mkv");
    assert_ok(&run(&again));
    assert!(frames(&again) == f, "same seed, same frames");
}

#[test]
fn keyframes_are_shown_at_their_times() {
    let d = tmpdir("keyframes");
    // Two frames of one generated clip, 24 frames apart: the keyframes of a clip between them.
    let seq = d.join("seq");
    assert_ok(&kino(&[
        "generate",
        "a red circle moving right",
        "--frames",
        "33",
        "--seed",
        "61",
        "-q",
        "-o",
        &format!("{}/", seq.display()),
    ]));
    let (k0, k24) = (seq.join("00004.png"), seq.join("00028.png"));
    let out = d.join("keys.mkv");
    let run = |extra: &[&str], out: &Path| {
        let mut v = vec![
            "generate",
            "a red circle moving right",
            "--frames",
            "41",
            "--seed",
            "62",
            "--threads",
            "2",
            "-q",
            "-o",
            out.to_str().unwrap(),
        ];
        v.extend(extra);
        kino(&v)
    };
    let key = |t: &str, p: &Path| format!("{t}={}", p.display());
    let (a, b) = (key("1s", &k0), key("32f", &k24));
    assert_ok(&run(&["--keyframe", &a, "--keyframe", &b], &out));
    let f = frames(&out);
    assert_eq!(f.len(), 41);
    let image = |p: &Path| kino::video::decode_image(p).unwrap();
    assert!(f[8] == image(&k0), "keyframe 1 is frame 8 (1 s at 8 fps), exactly");
    assert!(f[32] == image(&k24), "keyframe 2 is frame 32, exactly");
    let s = steps(&f);
    let med = median(s.clone());
    let worst = [7, 8, 31, 32].map(|i| s[i] / med);
    eprintln!("keyframes: steps into and out of each keyframe over the median step: {worst:.2?}");
    assert!(worst.iter().all(|r| *r <= 2.5), "seams at the keyframes {worst:.2?}");
    let again = d.join("again.mkv");
    assert_ok(&run(&["--keyframe", &a, "--keyframe", &b], &again));
    assert!(frames(&again) == f, "same seed, same frames");

    // Bad keyframes: a clear error naming the flag or keyframe, no output.
    let bad = d.join("bad.mkv");
    let o = run(&["--keyframe", &b, "--keyframe", &a], &bad);
    assert_clean_failure(&o, &bad, &format!("--keyframe {a:?} (frame 8) comes before --keyframe {b:?} (frame 32)"));
    let o = run(&["--keyframe", &a, "--keyframe", &key("8f", &k24)], &bad);
    assert_clean_failure(&o, &bad, "are both at frame 8");
    assert_clean_failure(&run(&["--keyframe", &key("9s", &k0)], &bad), &bad, "past the clip");
    // A video where an image belongs: refused, not cut to its first frame.
    assert_clean_failure(&run(&["--keyframe", &key("1s", &again)], &bad), &bad, "is a video; a keyframe is one image");
    let junk = d.join("junk.png");
    std::fs::write(&junk, b"not an image").unwrap();
    assert_clean_failure(&run(&["--keyframe", &key("1s", &junk)], &bad), &bad, "--keyframe");
    assert_clean_failure(&run(&["--keyframe", "1s"], &bad), &bad, "--keyframe");
}

#[test]
fn animate_follows_keyframes_after_its_still() {
    let d = tmpdir("animate-keys");
    let seq = d.join("seq");
    assert_ok(&kino(&[
        "generate",
        "a cyan square moving left",
        "--frames",
        "33",
        "--seed",
        "71",
        "-q",
        "-o",
        &format!("{}/", seq.display()),
    ]));
    let (still, later) = (seq.join("00000.png"), seq.join("00024.png"));
    let out = d.join("anim.mkv");
    let key = format!("3s={}", later.display());
    let args = ["animate", still.to_str().unwrap(), "--prompt", "a cyan square moving left", "--keyframe", &key, "--frames", "33"];
    let mut v: Vec<&str> = args.to_vec();
    v.extend(["--seed", "72", "--threads", "2", "-q", "-o", out.to_str().unwrap()]);
    assert_ok(&kino(&v));
    let f = frames(&out);
    assert_eq!(f.len(), 33);
    let image = |p: &Path| kino::video::decode_image(p).unwrap();
    assert!(f[0] == image(&still) && f[24] == image(&later), "the still at frame 0, the keyframe at 3 s");
    // A keyframe at the still's own time is refused.
    let bad = d.join("bad.mkv");
    let key0 = format!("0={}", later.display());
    let o =
        kino(&["animate", still.to_str().unwrap(), "--prompt", "a cyan square", "--keyframe", &key0, "-q", "-o", bad.to_str().unwrap()]);
    assert_clean_failure(&o, &bad, "frame 0 of an animation is the image itself");
}

#[test]
fn extend_follows_keyframes_in_the_new_footage() {
    let d = tmpdir("extend-keys");
    let prompt = "a green circle moving left";
    // A 41-frame clip (made window by window) from `seed`; its first 17 frames are the clip to
    // extend, its frame 28 the keyframe. Returns the steps at the clip's end and into and out of
    // the keyframe over the median step, and the same before a clip (`--at start`).
    let extend_to_keyframes = |seed: u64| {
        let path = |name: &str| d.join(format!("{name}{seed}.{}", if name.starts_with("key") { "png" } else { "mkv" }));
        let whole = path("whole");
        let (ws, es) = (seed.to_string(), (seed + 1).to_string());
        assert_ok(&kino(&["generate", prompt, "--frames", "41", "--seed", &ws, "-q", "-o", whole.to_str().unwrap()]));
        let all = frames(&whole);
        let (clip, key, out) = (path("clip"), path("key"), path("out"));
        cut(&whole, 0, 17, &clip);
        image::RgbImage::from_raw(64, 64, all[28].data.clone()).unwrap().save(&key).unwrap();
        let k = format!("3s={}", key.display());
        let c = clip.to_str().unwrap();
        assert_ok(&kino(&[
            "extend",
            c,
            "--prompt",
            prompt,
            "--frames",
            "24",
            "--seed",
            &es,
            "--keyframe",
            &k,
            "-q",
            "-o",
            out.to_str().unwrap(),
        ]));
        let f = frames(&out);
        assert_eq!(f.len(), 17 + 24);
        assert!(f[..17] == all[..17], "the clip's frames are kept");
        assert!(f[24] == kino::video::decode_image(&key).unwrap(), "the keyframe is output frame 24 (3 s at 8 fps), exactly");
        let s = steps(&f);
        let med = median(s.clone());
        let after = [16, 23, 24].map(|i| s[i] / med);
        // Before a clip (--at start) the new footage is the output's first 24 frames: with the
        // last 17 frames of the whole clip prepended by 24, a keyframe at 1 s is frame 8, exactly,
        // and the last stretch bridges into the clip, kept bit for bit.
        let (tail, key_early, pre) = (path("tail"), path("key-early"), path("pre"));
        cut(&whole, 24, 41, &tail);
        image::RgbImage::from_raw(64, 64, all[8].data.clone()).unwrap().save(&key_early).unwrap();
        let k = format!("1s={}", key_early.display());
        let t = tail.to_str().unwrap();
        let args = ["extend", t, "--at", "start", "--keyframe", &k, "--prompt", prompt, "--frames", "24", "--seed", &es, "-q", "-o"];
        assert_ok(&kino(&[&args[..], &[pre.to_str().unwrap()]].concat()));
        let f = frames(&pre);
        assert_eq!(f.len(), 24 + 17);
        assert!(f[24..] == all[24..], "the clip's frames are kept, after the new footage");
        assert!(f[8] == kino::video::decode_image(&key_early).unwrap(), "the keyframe is output frame 8, exactly");
        let s = steps(&f);
        let med = median(s.clone());
        let before = [7, 8, 23].map(|i| s[i] / med);
        (clip, key, after, before)
    };
    // Every seam at most 2.5x the median step, typically: over clips of three seeds.
    let (mut after, mut before) = (Vec::new(), Vec::new());
    let mut first = None;
    for seed in seeds(71) {
        let (clip, key, a, b) = extend_to_keyframes(seed);
        after.extend(a);
        before.extend(b);
        first.get_or_insert((clip, key));
    }
    assert_median_at_most("extend --keyframe: steps at the clip's end and into and out of the keyframe over the median", &after, 2.5);
    assert_median_at_most("extend --at start --keyframe: into and out of the keyframe, and into the clip, over the median", &before, 2.5);

    // Keyframes inside the clip, past the output's end, or with --at start: an error naming the flag.
    let (clip, key) = first.unwrap();
    let bad = d.join("bad.mkv");
    let run = |extra: &[&str]| {
        let c = clip.to_str().unwrap();
        let v = ["extend", c, "--prompt", prompt, "--frames", "24", "--seed", "72", "-q", "-o", bad.to_str().unwrap()];
        kino(&[&v[..], extra].concat())
    };
    assert_clean_failure(&run(&["--keyframe", &format!("1s={}", key.display())]), &bad, "inside the clip");
    assert_clean_failure(&run(&["--keyframe", &format!("9s={}", key.display())]), &bad, "past the output's end");
    assert_clean_failure(&run(&["--keyframe", &format!("3s={}", key.display()), "--at", "start"]), &bad, "inside the clip");
    let (k3, k4) = (format!("3s={}", key.display()), format!("4s={}", key.display()));
    assert_clean_failure(&run(&["--keyframe", &k4, "--keyframe", &k3]), &bad, "list keyframes in time order");
    // At 24 fps two keyframes a frame apart show one frame of the model's 8 fps footage.
    let fast = d.join("fast.mkv");
    ffmpeg(&["-f", "lavfi", "-i", "testsrc=size=64x64:rate=24:duration=2", "-c:v", "ffv1", fast.to_str().unwrap()]);
    let (k50, k51) = (format!("50f={}", key.display()), format!("51f={}", key.display()));
    let args = ["extend", fast.to_str().unwrap(), "--prompt", prompt, "--frames", "24", "--keyframe", &k50, "--keyframe", &k51];
    let o = kino(&[&args[..], &["-q", "-o", bad.to_str().unwrap()]].concat());
    assert_clean_failure(&o, &bad, "fall on the same frame of the new footage, which the model makes at 8 fps");
}

/// `ffmpeg` with these arguments succeeds.
fn ffmpeg(args: &[&str]) {
    let ok = Command::new("ffmpeg").args(["-v", "error", "-y"]).args(args).status().unwrap().success();
    assert!(ok, "ffmpeg {args:?}");
}

/// A clip's audio as mono f32 samples at 8 kHz from time 0, gaps filled with silence.
fn audio_samples(path: &Path) -> Vec<f32> {
    decoded_audio(path, &["-af", "aresample=async=1:first_pts=0"])
}

/// A clip's audio as mono f32 samples at 8 kHz, decoded sample after sample as editors and
/// `ffmpeg -i clip out.wav` read it: a jump in the timestamps would be closed, not kept.
fn audio_samples_in_a_row(path: &Path) -> Vec<f32> {
    decoded_audio(path, &[])
}

fn decoded_audio(path: &Path, filter: &[&str]) -> Vec<f32> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .arg("-vn")
        .args(filter)
        .args(["-ac", "1", "-ar", "8000", "-f", "f32le", "-"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    out.stdout.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

/// What ffprobe prints for a file with these arguments, as CSV without section names.
fn probe_csv(path: &Path, args: &[&str]) -> String {
    let probe = Command::new("ffprobe").args(["-v", "error"]).args(args).args(["-of", "csv=p=0"]).arg(path).output().unwrap();
    String::from_utf8_lossy(&probe.stdout).trim().to_string()
}

/// A file's audio streams as ffprobe lists them, a line each: `codec,channels`.
fn audio_streams(path: &Path) -> String {
    probe_csv(path, &["-select_streams", "a", "-show_entries", "stream=codec_name,channels"])
}

/// (RMS, frequency from zero crossings) of 8 kHz samples between `from` and `to` seconds.
fn tone(s: &[f32], from: f64, to: f64) -> (f64, f64) {
    let part = &s[(from * 8000.0) as usize..((to * 8000.0) as usize).min(s.len())];
    let rms = (part.iter().map(|x| (*x as f64).powi(2)).sum::<f64>() / part.len() as f64).sqrt();
    let crossings = part.windows(2).filter(|w| (w[0] < 0.0) != (w[1] < 0.0)).count();
    (rms, crossings as f64 / 2.0 / (to - from))
}

/// A bridge's output carries A's audio up to the bridge and B's from where B starts (the
/// bridge is silent, in the stream's own codec), in Matroska (PCM, Opus, MP3, AC-3, FLAC), in
/// MP4 (AAC, Opus, ALAC) and in WebM (VP9 and Opus, written as WebM); the clips' own files are untouched.
#[test]
fn bridge_carries_both_clips_audio() {
    let d = tmpdir("bridge-audio");
    let (a, b, _) = two_clips(&d);
    // (container, FFmpeg's encoder and its sample format, the codec's name)
    for (ext, encoder, sample_format, codec) in [
        ("mkv", "pcm_s16le", "s16", "pcm_s16le"),
        ("mp4", "aac", "fltp", "aac"),
        ("mkv", "libopus", "flt", "opus"),
        ("mp4", "libopus", "flt", "opus"),
        ("mkv", "libmp3lame", "fltp", "mp3"),
        ("mkv", "ac3", "fltp", "ac3"),
        ("mkv", "flac", "s32", "flac"),
        ("mp4", "alac", "s16p", "alac"),
        ("webm", "libopus", "flt", "opus"),
    ] {
        let vcodec = match ext {
            "mkv" => "ffv1",
            "webm" => "libvpx-vp9",
            _ => "libx264",
        };
        let (a_snd, b_snd) = (d.join(format!("a-{codec}-{ext}.{ext}")), d.join(format!("b-{codec}-{ext}.{ext}")));
        for (clip, hz, out) in [(&a, 440, &a_snd), (&b, 880, &b_snd)] {
            let sine = format!("sine=frequency={hz}:sample_rate=48000");
            ffmpeg(&[
                "-i",
                clip.to_str().unwrap(),
                "-f",
                "lavfi",
                "-i",
                &sine,
                "-shortest",
                "-c:v",
                vcodec,
                "-ac",
                "2",
                "-c:a",
                encoder,
                "-sample_fmt",
                sample_format,
                out.to_str().unwrap(),
            ]);
        }
        let before = file_bytes(&a_snd);
        let bridge = |out: &Path, only: bool| {
            let (a, b, o) = (a_snd.to_str().unwrap(), b_snd.to_str().unwrap(), out.to_str().unwrap());
            let mut args =
                vec!["bridge", a, b, "--prompt", "a red circle moving right", "--frames", "12", "--seed", "42", "--threads", "2"];
            if only {
                args.push("--only");
            }
            args.extend(["-q", "-o", o]);
            assert_ok(&kino(&args));
        };
        let out = d.join(format!("ab-{codec}-{ext}.{ext}"));
        bridge(&out, false);
        assert_eq!(file_bytes(&a_snd), before);
        let audio = audio_streams(&out);
        assert_eq!(audio.lines().count(), 1, "{codec} in {ext}: one audio stream, not {audio:?}");
        // At 8 fps: A is frames 0-16 (0 to 2.125 s), the bridge 2.125 to 3.625 s, B 3.625 to 5.625 s.
        let s = audio_samples(&out);
        let (a_rms, a_hz) = tone(&s, 0.2, 1.9);
        let (gap_rms, _) = tone(&s, 2.35, 3.4);
        let (b_rms, b_hz) = tone(&s, 3.85, 5.4);
        eprintln!("{codec} in {ext}: A {a_hz:.0} Hz (rms {a_rms:.3}), bridge rms {gap_rms:.4}, B {b_hz:.0} Hz (rms {b_rms:.3})");
        assert!((a_hz - 440.0).abs() < 15.0 && a_rms > 0.05, "{codec} in {ext}: A's tone");
        assert!(gap_rms < 0.005, "{codec} in {ext}: the bridge is silent");
        assert!((b_hz - 880.0).abs() < 15.0 && b_rms > 0.05, "{codec} in {ext}: B's tone where B starts");
        // The bridge's silence is real (silent packets in the stream's codec), not a jump in
        // the timestamps: read sample after sample, B's sound still starts with B.
        let s = audio_samples_in_a_row(&out);
        let (gap_rms, _) = tone(&s, 2.35, 3.4);
        let (b_rms, b_hz) = tone(&s, 3.85, 5.4);
        eprintln!("{codec} in {ext}, in a row: bridge rms {gap_rms:.4}, B {b_hz:.0} Hz (rms {b_rms:.3}), {:.3} s", s.len() as f64 / 8000.0);
        assert!(gap_rms < 0.005, "{codec} in {ext}: the bridge is silent, read in a row");
        assert!((b_hz - 880.0).abs() < 15.0 && b_rms > 0.05, "{codec} in {ext}: B's tone where B starts, read in a row");
        // B's sound starts with B's first frame: to the sample where the silence is (PCM, and
        // FLAC and ALAC, whose last silent frame is shorter), else within half the codec's frame
        // and its encoder's start-up (measured: 2 ms AAC, 3 ms AC-3, 10 ms Opus, 21 ms MP3).
        let exact = matches!(codec, "pcm_s16le" | "flac" | "alac");
        let within = if exact { 0.002 } else { 0.03 };
        let from = (2.6 * 8000.0) as usize;
        let onset = (from + s[from..].iter().position(|x| x.abs() > 0.05).unwrap_or(s.len())) as f64 / 8000.0;
        eprintln!("{codec} in {ext}, in a row: B's sound starts at {onset:.4} s (its first frame at 3.625 s)");
        assert!((onset - 3.625).abs() < within, "{codec} in {ext}: B's sound starts at {onset:.4} s, not with B's first frame (3.625 s)");
        assert!((s.len() as f64 / 8000.0 - 5.625).abs() < 0.1, "{codec} in {ext}: the sound lasts as long as the video");

        // The bridge alone carries A's audio stream too, silent over its 1.5 s.
        let only = d.join(format!("only-{codec}-{ext}.{ext}"));
        bridge(&only, true);
        assert_eq!(audio_streams(&only), format!("{codec},2"), "{codec} in {ext}: --only has A's audio stream");
        let s = audio_samples_in_a_row(&only);
        let (rms, _) = tone(&s, 0.0, 1.5);
        eprintln!("{codec} in {ext}, --only: rms {rms:.4}, {:.3} s", s.len() as f64 / 8000.0);
        assert!(rms < 0.005, "{codec} in {ext}: the bridge alone is silent");
        let within = if exact { 0.002 } else { 0.1 };
        assert!((s.len() as f64 / 8000.0 - 1.5).abs() < within, "{codec} in {ext}: its silence lasts as long as the bridge");
    }
}

/// A clip whose timestamps start late (cut from a longer recording, a camera's MPEG-TS): its
/// audio stays with its video in the output, which starts at 0.
#[test]
fn audio_stays_with_a_clip_that_starts_late() {
    let d = tmpdir("late-start");
    let (a, _, _) = two_clips(&d);
    let with_audio = d.join("a-snd.mp4");
    let sine = "sine=frequency=440:sample_rate=48000";
    ffmpeg(&[
        "-i",
        a.to_str().unwrap(),
        "-f",
        "lavfi",
        "-i",
        sine,
        "-shortest",
        "-c:v",
        "libx264",
        "-c:a",
        "aac",
        with_audio.to_str().unwrap(),
    ]);
    let late = d.join("late.mp4");
    ffmpeg(&["-i", with_audio.to_str().unwrap(), "-c", "copy", "-output_ts_offset", "10", late.to_str().unwrap()]);
    let out = d.join("extended.mp4");
    let o = kino(&[
        "extend",
        late.to_str().unwrap(),
        "--prompt",
        "a red circle moving right",
        "--seconds",
        "1",
        "-q",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_ok(&o);
    // The clip is 0 to 2.125 s of the output, the new second after it silent: read sample after
    // sample, the audio lasts as long as the video (3.125 s), not the recording's 10 s.
    let s = audio_samples_in_a_row(&out);
    let (rms, hz) = tone(&s, 0.1, 2.0);
    let (after, _) = tone(&s, 2.2, 3.1);
    let seconds = s.len() as f64 / 8000.0;
    eprintln!("late clip extended: {hz:.0} Hz (rms {rms:.3}) under the clip, rms {after:.4} after it, {seconds} s of audio");
    assert!((hz - 440.0).abs() < 15.0 && rms > 0.05, "the clip's tone under the clip's frames");
    assert!(after < 0.005, "the new footage is silent");
    assert!((seconds - 3.125).abs() < 0.05, "the audio ends with the video, not the recording: {seconds} s");
    // Extended backwards, the new second before the clip is real silence: read sample after
    // sample (as editors read it), the clip's sound still starts with the clip.
    let before = d.join("before.mp4");
    assert_ok(&kino(&[
        "extend",
        late.to_str().unwrap(),
        "--at",
        "start",
        "--prompt",
        "x",
        "--seconds",
        "1",
        "-q",
        "-o",
        before.to_str().unwrap(),
    ]));
    let s = audio_samples_in_a_row(&before);
    let (silent, _) = tone(&s, 0.1, 0.9);
    let (rms, hz) = tone(&s, 1.1, 3.0);
    eprintln!("late clip extended backwards, in a row: rms {silent:.4} before the clip, {hz:.0} Hz (rms {rms:.3}) under it");
    assert!(silent < 0.005, "the new footage is silent");
    assert!((hz - 440.0).abs() < 15.0 && rms > 0.05, "the clip's tone under the clip's frames");
    // Into a folder of PNG frames, which hold no sound: written, and the user is told.
    let folder = d.join("frames/");
    let o = kino(&["extend", late.to_str().unwrap(), "--prompt", "x", "--seconds", "1", "-o", folder.to_str().unwrap()]);
    assert_ok(&o);
    assert!(String::from_utf8_lossy(&o.stderr).contains("audio is left out"), "{}", String::from_utf8_lossy(&o.stderr));
    let pngs = std::fs::read_dir(&folder).unwrap().flatten().filter(|e| e.path().extension().is_some_and(|x| x == "png")).count();
    assert_eq!(pngs, frames(&out).len(), "the clip's frames and the new second's");
    // A clip without sound loses none: nothing is said.
    let folder = d.join("silent-frames/");
    let o = kino(&["extend", a.to_str().unwrap(), "--prompt", "x", "--seconds", "1", "-o", folder.to_str().unwrap()]);
    assert_ok(&o);
    assert!(!String::from_utf8_lossy(&o.stderr).contains("audio is left out"), "{}", String::from_utf8_lossy(&o.stderr));
}

/// The sizes of a file's audio packets, in order, as ffprobe reads them.
fn audio_packet_sizes(path: &Path) -> Vec<usize> {
    let csv = probe_csv(path, &["-select_streams", "a", "-show_entries", "packet=size"]);
    // Opus packets' side data print as extra (empty) fields and lines.
    csv.lines().map(|l| l.trim_end_matches(',')).filter(|l| !l.is_empty()).map(|l| l.parse().unwrap()).collect()
}

/// The clip's audio packets open `out`'s, in order and size; after them, silence padding
/// (packets of one size) up to the video's end. Returns how many packets were added.
fn assert_clip_audio_then_silence(what: &str, clip: &Path, out: &Path) -> usize {
    let (kept, got) = (audio_packet_sizes(clip), audio_packet_sizes(out));
    assert!(got.len() >= kept.len() && got[..kept.len()] == kept[..], "{what}: every audio packet of the clip is kept, in order");
    let added = &got[kept.len()..];
    assert!(added.windows(2).all(|w| w[0] == w[1]), "{what}: the added packets are one silent frame repeated: {added:?}");
    added.len()
}

/// A file's audio packet count and each stream's start time (video first), as ffprobe reads them.
fn audio_packets_and_starts(path: &Path) -> (usize, Vec<f64>) {
    let packets = probe_csv(path, &["-select_streams", "a", "-count_packets", "-show_entries", "stream=nb_read_packets"]);
    let starts = probe_csv(path, &["-show_entries", "stream=start_time"]);
    (packets.parse().unwrap(), starts.lines().map(|l| l.trim_end_matches(',').parse().unwrap()).collect())
}

/// MPEG-TS carries AAC with an ADTS header on every packet (no configuration in the stream):
/// extended forwards or backwards into MP4 and Matroska, and bridged, its sound is kept and the
/// new footage is real silence in the same form (a camera's clip, or `ffmpeg -f mpegts`).
#[test]
fn mpeg_ts_aac_is_extended_and_bridged_with_silence() {
    let d = tmpdir("ts-aac");
    let (a, _, _) = two_clips(&d);
    let ts = d.join("clip.ts");
    let (c, t) = (a.to_str().unwrap(), ts.to_str().unwrap());
    ffmpeg(&[
        "-i",
        c,
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000",
        "-shortest",
        "-c:v",
        "libx264",
        "-c:a",
        "aac",
        "-f",
        "mpegts",
        t,
    ]);
    let before = file_bytes(&ts);
    for (what, args, clip_at) in [
        ("extend into mp4", vec!["extend", t, "--frames", "16"], 0.0),
        ("extend into mkv", vec!["extend", t, "--frames", "16"], 0.0),
        ("extend --at start into mp4", vec!["extend", t, "--frames", "16", "--at", "start"], 2.0),
        ("bridge into mp4", vec!["bridge", t, t, "--frames", "16"], 0.0),
    ] {
        let out = d.join(format!("{}.{}", what.replace(' ', "-"), if what.contains("mkv") { "mkv" } else { "mp4" }));
        let mut args = args.clone();
        let o = out.to_str().unwrap().to_string();
        args.extend(["--prompt", "a red circle moving right", "--seed", "5", "-q", "-o", &o]);
        assert_ok(&kino(&args));
        let s = audio_samples_in_a_row(&out);
        let (clip_rms, clip_hz) = tone(&s, clip_at + 0.2, clip_at + 1.8);
        let new_at = if clip_at > 0.0 { 0.2 } else { 2.4 };
        let (new_rms, _) = tone(&s, new_at, new_at + 1.4);
        eprintln!("{what}: clip {clip_hz:.0} Hz (rms {clip_rms:.3}), new footage rms {new_rms:.4}, {:.3} s", s.len() as f64 / 8000.0);
        assert!((clip_hz - 440.0).abs() < 15.0 && clip_rms > 0.05, "{what}: the clip's tone under its frames");
        assert!(new_rms < 0.005, "{what}: the new footage is silent");
    }
    assert_eq!(file_bytes(&ts), before, "the clip is untouched");
}

/// Matroska gives AAC packets no duration, and FFmpeg's AAC stream starts a frame (21 ms) before
/// the video: that first packet is kept on append and remix (it plays under the first frame and
/// primes the decoder), with the audio's lead over the video as in the clip.
#[test]
fn matroska_aac_keeps_its_first_packet() {
    let d = tmpdir("mkv-aac");
    let (a, _, _) = two_clips(&d);
    let clip = d.join("a-aac.mkv");
    let sine = "sine=frequency=440:sample_rate=48000";
    let a = a.to_str().unwrap();
    ffmpeg(&["-i", a, "-f", "lavfi", "-i", sine, "-shortest", "-c:v", "ffv1", "-c:a", "aac", clip.to_str().unwrap()]);
    let (packets, starts) = audio_packets_and_starts(&clip);
    assert!(starts[0] > starts[1], "the clip's audio starts before its video: {starts:?}");
    for (what, args) in [
        ("extend", vec!["extend", "--prompt", "x", "--seconds", "1"]),
        ("remix", vec!["remix", "--prompt", "a blue circle moving left", "--strength", "0.3"]),
    ] {
        let out = d.join(format!("{what}.mkv"));
        let mut args = args.clone();
        args.insert(1, clip.to_str().unwrap());
        args.extend(["--seed", "1", "-q", "-o", out.to_str().unwrap()]);
        assert_ok(&kino(&args));
        let (got, got_starts) = audio_packets_and_starts(&out);
        eprintln!("{what}: {got} audio packets of {packets}, starts {got_starts:?} (clip {starts:?})");
        let added = assert_clip_audio_then_silence(what, &clip, &out);
        // A second of AAC at 48 kHz is 47 frames of 1024 samples; remix keeps the clip's length.
        let expected = if what == "extend" { 46..=48 } else { 0..=0 };
        assert!(expected.contains(&added), "{what}: {added} silent packets after the clip's");
        let lead = |s: &[f64]| s[0] - s[1];
        assert!((lead(&got_starts) - lead(&starts)).abs() < 0.002, "{what}: the audio leads the video as in the clip");
    }
}

/// Opus in Matroska: FFmpeg's muxer moves the video a pre-skip (6.5 ms) later on each copy (as
/// `ffmpeg -c copy` does), so a clip extended again and again leads with more and more sound;
/// every packet of it stays, pass after pass.
#[test]
fn matroska_opus_keeps_every_packet_pass_after_pass() {
    let d = tmpdir("mkv-opus");
    let (a, _, _) = two_clips(&d);
    let clip = d.join("pass0.mkv");
    let sine = "sine=frequency=440:sample_rate=48000";
    ffmpeg(&["-i", a.to_str().unwrap(), "-f", "lavfi", "-i", sine, "-shortest", "-c:v", "ffv1", "-c:a", "libopus", clip.to_str().unwrap()]);
    let (packets, _) = audio_packets_and_starts(&clip);
    let mut input = clip;
    for pass in 1..=3 {
        let out = d.join(format!("pass{pass}.mkv"));
        let args = ["extend", input.to_str().unwrap(), "--prompt", "x", "--frames", "8", "--seed", "1", "-q", "-o", out.to_str().unwrap()];
        assert_ok(&kino(&args));
        let (got, starts) = audio_packets_and_starts(&out);
        eprintln!("pass {pass}: {got} audio packets (the first clip had {packets}), starts {starts:?}");
        // 8 frames at 8 fps: a second of silence, 50 Opus frames of 20 ms.
        let added = assert_clip_audio_then_silence(&format!("pass {pass}"), &input, &out);
        assert!((49..=51).contains(&added), "pass {pass}: {added} silent packets after the clip's");
        input = out;
    }
}

/// A clip's audio tracks keep their language, title and flags (default, comment) through
/// extend and bridge, in Matroska and MP4.
#[test]
fn audio_tracks_keep_their_language_title_and_flags() {
    let d = tmpdir("tracks");
    let (a, b, _) = two_clips(&d);
    let tracks = |path: &Path| {
        probe_csv(path, &["-select_streams", "a", "-show_entries", "stream_tags=language,title:stream_disposition=default,comment"])
    };
    for (ext, vcodec) in [("mkv", "ffv1"), ("mp4", "libx264")] {
        let with_tracks = |clip: &Path, name: &str| {
            let out = d.join(format!("{name}.{ext}"));
            let (c, o) = (clip.to_str().unwrap(), out.to_str().unwrap());
            let tone = "sine=frequency=440:sample_rate=48000";
            #[rustfmt::skip]
            ffmpeg(&["-i", c, "-f", "lavfi", "-i", tone, "-f", "lavfi", "-i", tone, "-map", "0:v", "-map", "1:a", "-map", "2:a", "-shortest",
                "-c:v", vcodec, "-c:a", "aac",
                "-metadata:s:a:0", "language=eng", "-metadata:s:a:0", "title=Dialogue",
                "-metadata:s:a:1", "language=fra", "-metadata:s:a:1", "title=Commentaire",
                "-disposition:a:0", "default", "-disposition:a:1", "comment", o]);
            out
        };
        let (a_t, b_t) = (with_tracks(&a, "a-tracks"), with_tracks(&b, "b-tracks"));
        let want = tracks(&a_t);
        // (MP4 keeps no track titles.)
        assert!(want.contains("1,0,eng") && want.contains("0,1,fra"), "{ext}: the clip's tracks as made: {want}");
        let extended = d.join(format!("extended.{ext}"));
        assert_ok(&kino(&["extend", a_t.to_str().unwrap(), "--prompt", "x", "--frames", "8", "-q", "-o", extended.to_str().unwrap()]));
        let bridged = d.join(format!("bridged.{ext}"));
        let (ap, bp) = (a_t.to_str().unwrap(), b_t.to_str().unwrap());
        assert_ok(&kino(&["bridge", ap, bp, "--prompt", "x", "--frames", "8", "-q", "-o", bridged.to_str().unwrap()]));
        for out in [&extended, &bridged] {
            let got = tracks(out);
            eprintln!("{ext}: {} tracks {got:?} (clip {want:?})", out.display());
            assert_eq!(got, want, "{}: the tracks keep their language, title and flags", out.display());
        }
    }
}

/// AAC from MPEG-TS carries a header on every packet (ADTS) that AAC from MP4 or Matroska does
/// not: a bridge between the two copies each clip's sound into one stream either way.
#[test]
fn bridge_copies_aac_between_mpeg_ts_and_mp4() {
    let d = tmpdir("bridge-ts");
    let (a, b, _) = two_clips(&d);
    let with = |clip: &Path, name: &str, hz: u32| {
        let out = d.join(name);
        let sine = format!("sine=frequency={hz}:sample_rate=48000");
        let (c, o) = (clip.to_str().unwrap(), out.to_str().unwrap());
        ffmpeg(&["-i", c, "-f", "lavfi", "-i", &sine, "-shortest", "-c:v", "libx264", "-ac", "2", "-c:a", "aac", o]);
        out
    };
    let (a_ts, a_mp4, b_ts, b_mp4) = (with(&a, "a.ts", 440), with(&a, "a.mp4", 440), with(&b, "b.ts", 880), with(&b, "b.mp4", 880));
    for (x, y, ext) in [(&a_ts, &b_mp4, "mp4"), (&a_ts, &b_mp4, "mkv"), (&a_mp4, &b_ts, "mp4"), (&a_mp4, &b_ts, "mkv")] {
        let what = format!("{} then {} into .{ext}", x.display(), y.display());
        let out = d.join(format!("{}-{}.{ext}", x.extension().unwrap().to_str().unwrap(), y.extension().unwrap().to_str().unwrap()));
        let run =
            kino(&["bridge", x.to_str().unwrap(), y.to_str().unwrap(), "--prompt", "x", "--frames", "12", "-o", out.to_str().unwrap()]);
        assert_ok(&run);
        assert!(!String::from_utf8_lossy(&run.stderr).contains("re-encoded"), "{what}: copied as it is");
        assert_eq!(audio_streams(&out), "aac,2", "{what}");
        let s = audio_samples_in_a_row(&out);
        let ((a_rms, a_hz), (b_rms, b_hz)) = (tone(&s, 0.2, 1.9), tone(&s, 3.85, 5.4));
        eprintln!("{what}: A {a_hz:.0} Hz (rms {a_rms:.3}), B {b_hz:.0} Hz (rms {b_rms:.3})");
        assert!((a_hz - 440.0).abs() < 15.0 && a_rms > 0.05, "{what}: A's tone");
        assert!((b_hz - 880.0).abs() < 15.0 && b_rms > 0.05, "{what}: B's tone");
    }
}

/// A container that cannot hold the clip's sound gets it re-encoded, with a warning naming
/// the container that keeps it as it is: AAC in WebM as Opus, PCM and FLAC (FFmpeg 5's MP4
/// holds FLAC only experimentally) in MP4 as AAC. The sound stays at its time, silent after the
/// clip, and the clip's own file is untouched.
#[test]
fn sound_a_container_cannot_hold_is_re_encoded() {
    let d = tmpdir("re-encoded");
    let (a, _, _) = two_clips(&d);
    for (source, codec, ext, becomes, way_out) in [
        ("aac.mp4", "aac", "webm", "opus", "write .mkv or .mp4 to keep it as it is"),
        ("pcm.mkv", "pcm_s16le", "mp4", "aac", "write .mov or .mkv to keep it as it is"),
        ("flac.mkv", "flac", "mp4", "aac", "write .mkv to keep it as it is"),
    ] {
        let with = d.join(source);
        let (c, w) = (a.to_str().unwrap(), with.to_str().unwrap());
        let vcodec = if source.ends_with("mp4") { "libx264" } else { "copy" };
        ffmpeg(&["-i", c, "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-shortest", "-c:v", vcodec, "-c:a", codec, w]);
        let before = file_bytes(&with);
        let out = d.join(format!("{codec}-out.{ext}"));
        let run = kino(&["extend", w, "--prompt", "x", "--frames", "8", "-o", out.to_str().unwrap()]);
        assert_ok(&run);
        let stderr = String::from_utf8_lossy(&run.stderr);
        eprintln!("{codec} into .{ext}: {stderr}");
        assert!(stderr.contains(&format!("is re-encoded as {becomes}")) && stderr.contains(way_out), "{codec} into .{ext}: {stderr}");
        assert_eq!(file_bytes(&with), before);
        assert_eq!(audio_streams(&out), format!("{becomes},1"), "{codec} into .{ext}");
        // The clip is 17 frames at 8 fps (2.125 s), then 8 new ones (1 s).
        let s = audio_samples_in_a_row(&out);
        let (rms, hz) = tone(&s, 0.1, 2.0);
        let (after, _) = tone(&s, 2.3, 3.0);
        eprintln!("{codec} into .{ext}: {hz:.0} Hz (rms {rms:.3}), then rms {after:.4}, {:.3} s", s.len() as f64 / 8000.0);
        assert!((hz - 440.0).abs() < 15.0 && rms > 0.05, "{codec} into .{ext}: the clip's tone");
        assert!(after < 0.005, "{codec} into .{ext}: the new footage is silent");
        let onset = s.iter().position(|x| x.abs() > 0.05).unwrap_or(s.len()) as f64 / 8000.0;
        assert!(onset < 0.03, "{codec} into .{ext}: the sound starts with the clip, not at {onset:.3} s");
        assert!((s.len() as f64 / 8000.0 - 3.125).abs() < 0.1, "{codec} into .{ext}: the sound lasts as long as the video");
    }
}

/// Sound that starts well before a clip's first picture is left out up to the picture (the
/// output starts there, in sync), and the user is told how much.
#[test]
fn sound_before_the_first_picture_is_cut_with_a_warning() {
    let d = tmpdir("early-sound");
    let (a, _, _) = two_clips(&d);
    let early = d.join("early.mkv");
    let (c, e) = (a.to_str().unwrap(), early.to_str().unwrap());
    // The picture starts 1 s into the sound: a 1 s tone, then 1 s of another.
    let sine =
        "sine=frequency=440:sample_rate=48000:duration=1[x];sine=frequency=880:sample_rate=48000:duration=2.2[y];[x][y]concat=v=0:a=1";
    ffmpeg(&["-itsoffset", "1", "-i", c, "-f", "lavfi", "-i", sine, "-c:v", "copy", "-c:a", "aac", e]);
    let out = d.join("out.mkv");
    let run = kino(&["extend", e, "--prompt", "x", "--frames", "8", "-o", out.to_str().unwrap()]);
    assert_ok(&run);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("early.mkv: its sound starts 1.0") && stderr.contains("before its first picture"), "{stderr}");
    let s = audio_samples_in_a_row(&out);
    let (rms, hz) = tone(&s, 0.05, 2.0);
    eprintln!("after the cut: {hz:.0} Hz (rms {rms:.3}), {:.3} s", s.len() as f64 / 8000.0);
    assert!((hz - 880.0).abs() < 15.0 && rms > 0.05, "the sound under the pictures, not the 440 Hz before them");
    // Where other footage comes first (new footage before the clip, a bridge before B), that
    // sound is left out too: the footage before it stays silent.
    let before = d.join("before.mkv");
    let run = kino(&["extend", e, "--at", "start", "--prompt", "x", "--frames", "8", "-o", before.to_str().unwrap()]);
    assert_ok(&run);
    assert!(String::from_utf8_lossy(&run.stderr).contains("before its first picture"));
    let s = audio_samples_in_a_row(&before);
    let ((gap, _), (rms, hz)) = (tone(&s, 0.0, 0.95), tone(&s, 1.05, 3.0));
    eprintln!("before the clip: rms {gap:.4}; then {hz:.0} Hz (rms {rms:.3})");
    assert!(gap < 0.005 && (hz - 880.0).abs() < 15.0 && rms > 0.05, "silence before the clip, then the sound under its pictures");
    let bridged = d.join("bridged.mkv");
    let run = kino(&["bridge", c, e, "--prompt", "x", "--frames", "12", "-o", bridged.to_str().unwrap()]);
    assert_ok(&run);
    assert!(String::from_utf8_lossy(&run.stderr).contains("early.mkv: its sound starts 1.0"));
    let s = audio_samples(&bridged);
    let ((gap, _), (rms, hz)) = (tone(&s, 2.2, 3.55), tone(&s, 3.7, 5.5));
    eprintln!("bridge: rms {gap:.4}; then {hz:.0} Hz (rms {rms:.3})");
    assert!(gap < 0.005 && (hz - 880.0).abs() < 15.0 && rms > 0.05, "a silent bridge, then B's sound under its pictures");
}

/// The silence before a clip extended backwards covers the samples its decoder drops at the
/// stream's start (Opus's pre-skip in Matroska and WebM): the clip's sound stays under its
/// pictures (it played 20 ms early: a 20 ms Opus frame of silence too few).
#[test]
fn opus_sound_keeps_its_place_after_silence_put_before_it() {
    let d = tmpdir("opus-lead");
    let click = "aevalsrc='if(between(t,0.5,0.505),0.9,0)':s=48000:d=2";
    let peak =
        |s: &[f32]| s.iter().enumerate().fold((0, 0.0f32), |b, (i, &v)| if v.abs() > b.1 { (i, v.abs()) } else { b }).0 as f64 / 8000.0;
    for (name, video) in [("clip.mkv", "ffv1"), ("clip.webm", "libvpx-vp9")] {
        let clip = d.join(name);
        let c = clip.to_str().unwrap();
        ffmpeg(&["-f", "lavfi", "-i", "testsrc2=s=64x64:r=8:d=2", "-f", "lavfi", "-i", click, "-c:v", video, "-c:a", "libopus", c]);
        let heard = peak(&audio_samples_in_a_row(&clip));
        for ext in ["mkv", "mp4"] {
            let out = d.join(format!("{name}-before.{ext}"));
            assert_ok(&kino(&["extend", c, "--at", "start", "-p", "x", "--frames", "8", "--steps", "1", "-o", out.to_str().unwrap()]));
            let at = peak(&audio_samples_in_a_row(&out));
            // 8 frames at 8 fps put before it; within half an Opus frame (silence is whole frames).
            assert!((at - (heard + 1.0)).abs() <= 0.010, "{name} into .{ext}: the click at {at:.4} s, {heard:.4} s in the clip");
        }
    }
}

/// Sound that runs on past a clip's last picture is left out there, with a warning: new
/// footage after it stays silent, and no output's sound outlasts its pictures.
#[test]
fn sound_past_the_last_picture_is_cut_with_a_warning() {
    let d = tmpdir("late-sound");
    let (a, b, _) = two_clips(&d);
    let long = d.join("long.mkv");
    let (c, l) = (a.to_str().unwrap(), long.to_str().unwrap());
    // 17 frames at 8 fps (2.125 s) with 5 s of sound.
    ffmpeg(&["-i", c, "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=5", "-c:v", "copy", "-c:a", "aac", l]);
    for (what, args, silent, seconds) in [
        ("extend", vec!["extend", l, "--frames", "8"], Some((2.3, 3.0)), 3.125),
        ("extend --at start", vec!["extend", l, "--at", "start", "--frames", "8"], None, 3.125),
        ("remix", vec!["remix", l, "--strength", "0.3"], None, 2.125),
        ("bridge", vec!["bridge", b.to_str().unwrap(), l, "--frames", "12"], None, 5.625),
    ] {
        let out = d.join(format!("{}.mkv", what.replace(' ', "")));
        let mut args = args.clone();
        args.extend(["--prompt", "x", "-o", out.to_str().unwrap()]);
        let run = kino(&args);
        assert_ok(&run);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(stderr.contains("long.mkv: its sound runs on 2.8") && stderr.contains("past its last picture"), "{what}: {stderr}");
        let s = audio_samples(&out);
        eprintln!("{what}: {:.3} s of sound, {seconds} s of pictures", s.len() as f64 / 8000.0);
        // Within a packet that starts up to 50 ms after the last picture.
        assert!(s.len() as f64 / 8000.0 < seconds + 0.08, "{what}: the sound ends with the pictures");
        if let Some((from, to)) = silent {
            assert!(tone(&s, from, to).0 < 0.005, "{what}: the new footage is silent");
        }
    }
}

/// A bridge's B whose sound differs from A's (rate, channels or codec) is re-encoded into A's
/// stream, with a warning, and plays from where B starts; one in a codec kino cannot encode
/// into (A in Vorbis) is left out with a warning, and the bridge is still written.
#[test]
fn bridge_re_encodes_a_second_clip_whose_sound_differs() {
    let d = tmpdir("bridge-re-encoded");
    let (a, b, _) = two_clips(&d);
    let with = |clip: &Path, name: &str, hz: u32, rate: u32, channels: &str, codec: &str| {
        let out = d.join(name);
        let sine = format!("sine=frequency={hz}:sample_rate={rate}");
        let (c, o) = (clip.to_str().unwrap(), out.to_str().unwrap());
        ffmpeg(&["-i", c, "-f", "lavfi", "-i", &sine, "-shortest", "-c:v", "copy", "-ac", channels, "-c:a", codec, o]);
        out
    };
    let a_aac = with(&a, "a-aac.mkv", 440, 48000, "1", "aac");
    let a_vorbis = with(&a, "a-vorbis.mkv", 440, 48000, "2", "libvorbis");
    for (a_snd, b_snd, ext, codec) in [
        (&a_aac, with(&b, "b-aac-44k.mkv", 880, 44100, "2", "aac"), "mp4", "aac,1"),
        (&a_aac, with(&b, "b-opus.mkv", 880, 48000, "2", "libopus"), "mkv", "aac,1"),
        (&a_aac, with(&b, "b-pcm-22k.mkv", 880, 22050, "1", "pcm_s16le"), "webm", "opus,1"),
        (&a_vorbis, with(&b, "b-flac.mkv", 880, 48000, "2", "flac"), "mkv", "vorbis,2"),
        // FLAC's encoder rewrites its stream header at the end: not the output stream's.
        (&with(&a, "a-flac.mkv", 440, 44100, "2", "flac"), with(&b, "b-aac-48k.mkv", 880, 48000, "2", "aac"), "mkv", "flac,2"),
    ] {
        let out =
            d.join(format!("{}-{}.{ext}", a_snd.file_stem().unwrap().to_str().unwrap(), b_snd.file_stem().unwrap().to_str().unwrap()));
        let (x, y, o) = (a_snd.to_str().unwrap(), b_snd.to_str().unwrap(), out.to_str().unwrap());
        let run = kino(&["bridge", x, y, "--prompt", "a red circle moving right", "--frames", "12", "--seed", "42", "-o", o]);
        assert_ok(&run);
        let stderr = String::from_utf8_lossy(&run.stderr);
        let what = format!("{} then {} into .{ext}", a_snd.display(), b_snd.display());
        eprintln!("{what}: {stderr}");
        assert_eq!(audio_streams(&out), codec, "{what}: one stream, A's coding");
        if codec.starts_with("vorbis") {
            // No silence in Vorbis either: the sound is A's alone.
            assert!(stderr.contains("which kino cannot encode: it is not copied"), "{what}: {stderr}");
            let s = audio_samples(&out);
            assert!((s.len() as f64 / 8000.0 - 2.125).abs() < 0.05, "{what}: A's sound alone, {} s", s.len() as f64 / 8000.0);
            continue;
        }
        // A is 0 to 2.125 s, the bridge 2.125 to 3.625 s, B 3.625 to 5.625 s.
        let s = audio_samples_in_a_row(&out);
        let (a_rms, a_hz) = tone(&s, 0.2, 1.9);
        let (gap_rms, _) = tone(&s, 2.35, 3.4);
        let (b_rms, b_hz) = tone(&s, 3.85, 5.4);
        eprintln!("{what}: A {a_hz:.0} Hz (rms {a_rms:.3}), bridge rms {gap_rms:.4}, B {b_hz:.0} Hz (rms {b_rms:.3})");
        assert!((a_hz - 440.0).abs() < 15.0 && a_rms > 0.05, "{what}: A's tone");
        assert!(gap_rms < 0.005, "{what}: the bridge is silent");
        let b_name = b_snd.display().to_string();
        assert!(stderr.lines().any(|l| l.contains(&b_name) && l.contains("is re-encoded as")), "{what}: {stderr}");
        assert!((b_hz - 880.0).abs() < 15.0 && b_rms > 0.05, "{what}: B's tone, at its own pitch");
        let from = (2.6 * 8000.0) as usize;
        let onset = (from + s[from..].iter().position(|x| x.abs() > 0.05).unwrap_or(s.len())) as f64 / 8000.0;
        eprintln!("{what}: B's sound starts at {onset:.4} s (its first frame at 3.625 s)");
        assert!((onset - 3.625).abs() < 0.03, "{what}: B's sound starts at {onset:.4} s, not with B's first frame");
        assert!((s.len() as f64 / 8000.0 - 5.625).abs() < 0.1, "{what}: the sound lasts as long as the video");
    }
}

/// A still image has no frame rate of its own: extended, remixed or bridged, it is shown at the
/// model's, and a still after the gap is held for the frames a bridge reads there.
#[test]
fn stills_take_the_model_rate_and_bridge_to_each_other() {
    let d = tmpdir("stills");
    let seq = d.join("seq");
    assert_ok(&kino(&["generate", "a red circle moving right", "--seed", "3", "-q", "-o", &format!("{}/", seq.display())]));
    let (first, last) = (seq.join("00000.png"), seq.join("00016.png"));
    let rate = |p: &Path| ffprobe(p)["avg_frame_rate"].as_str().unwrap_or_default().to_string();
    let ext = d.join("ext.mkv");
    assert_ok(&kino(&[
        "extend",
        first.to_str().unwrap(),
        "--prompt",
        "a red circle moving right",
        "--seconds",
        "1",
        "-q",
        "-o",
        ext.to_str().unwrap(),
    ]));
    assert_eq!((rate(&ext).as_str(), frames(&ext).len()), ("8/1", 1 + 8), "a still extended by 1 s at 8 fps");
    let rmx = d.join("rmx.mkv");
    assert_ok(&kino(&[
        "remix",
        first.to_str().unwrap(),
        "--prompt",
        "a blue circle",
        "--strength",
        "0.5",
        "-q",
        "-o",
        rmx.to_str().unwrap(),
    ]));
    assert_eq!((rate(&rmx).as_str(), frames(&rmx).len()), ("8/1", 1));
    let br = d.join("br.mkv");
    let o = kino(&[
        "bridge",
        first.to_str().unwrap(),
        last.to_str().unwrap(),
        "--prompt",
        "a red circle moving right",
        "--frames",
        "8",
        "-q",
        "-o",
        br.to_str().unwrap(),
    ]);
    assert_ok(&o);
    let f = frames(&br);
    assert_eq!((rate(&br).as_str(), f.len()), ("8/1", 1 + 8 + 1));
    let image = |p: &Path| kino::video::decode_image(p).unwrap();
    assert!(f[0] == image(&first) && f[9] == image(&last), "both stills kept exactly");
}

/// A clip stored sideways with a display rotation (a phone's portrait video) is read as players
/// show it: upright, as FFmpeg's own tools turn it, and written upright.
#[test]
fn rotated_clips_are_read_upright() {
    let d = tmpdir("rotated");
    let src = d.join("src.mov");
    ffmpeg(&["-f", "lavfi", "-i", "testsrc=size=96x48:rate=8:duration=1", "-c:v", "png", src.to_str().unwrap()]);
    for degrees in ["90", "180", "270"] {
        let turned = d.join(format!("rot{degrees}.mov"));
        let rotate = format!("rotate={degrees}");
        ffmpeg(&["-i", src.to_str().unwrap(), "-c", "copy", "-metadata:s:v:0", &rotate, turned.to_str().unwrap()]);
        // (FFmpeg 5.1, as scripts/setup.sh installs, writes `rotate` as a display matrix.)
        let probe = Command::new("ffprobe")
            .args(["-v", "error", "-show_entries", "stream_side_data=rotation", "-of", "csv=p=0"])
            .arg(&turned)
            .output()
            .unwrap();
        assert!(!String::from_utf8_lossy(&probe.stdout).trim().is_empty(), "rotate={degrees}: the test clip has no display matrix");
        // FFmpeg turns it on decoding (autorotate): the frames a player shows.
        let shown = d.join(format!("shown{degrees}.mkv"));
        ffmpeg(&["-i", turned.to_str().unwrap(), "-c:v", "ffv1", "-pix_fmt", "bgr0", shown.to_str().unwrap()]);
        let out = d.join(format!("out{degrees}.mkv"));
        let o = kino(&["remix", turned.to_str().unwrap(), "--prompt", "x", "--strength", "0", "-q", "-o", out.to_str().unwrap()]);
        assert_ok(&o);
        let (want, got) = (frames(&shown), frames(&out));
        assert_eq!(got[0].width, if degrees == "180" { 96 } else { 48 }, "rotate={degrees}");
        assert!(got == want, "rotate={degrees}: kino's frames are the upright ones");
    }
}

/// A JPEG `data` with an EXIF orientation (a TIFF header and one IFD0 entry in an APP1 segment
/// after SOI), as cameras and phones store a photo taken sideways.
fn with_exif_orientation(jpeg: &[u8], orientation: u16, little_endian: bool) -> Vec<u8> {
    let u16b = |v: u16| if little_endian { v.to_le_bytes() } else { v.to_be_bytes() };
    let u32b = |v: u32| if little_endian { v.to_le_bytes() } else { v.to_be_bytes() };
    let mut body = b"Exif\0\0".to_vec();
    body.extend_from_slice(if little_endian { b"II" } else { b"MM" });
    body.extend(u16b(42).into_iter().chain(u32b(8)));
    // One entry: tag 0x0112 (Orientation), type 3 (SHORT), count 1, the value left-justified.
    body.extend(u16b(1).into_iter().chain(u16b(0x0112)).chain(u16b(3)).chain(u32b(1)).chain(u16b(orientation)).chain([0, 0]));
    body.extend(u32b(0));
    let mut out = jpeg[..2].to_vec();
    out.extend([0xFF, 0xE1]);
    out.extend(((body.len() + 2) as u16).to_be_bytes());
    out.extend(body);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// A photo stored sideways with an EXIF orientation (all eight) is read as photo viewers show
/// it: the stored picture turned and flipped as EXIF defines, the same as FFmpeg's own
/// transpose and flip filters on it.
#[test]
fn photos_are_read_by_their_exif_orientation() {
    let d = tmpdir("exif");
    let plain = d.join("plain.jpg");
    ffmpeg(&["-f", "lavfi", "-i", "testsrc=size=64x40:rate=1", "-frames:v", "1", plain.to_str().unwrap()]);
    let stored = kino::video::decode_image(&plain).unwrap();
    let jpeg = std::fs::read(&plain).unwrap();
    // How each orientation is shown, in FFmpeg's filters (EXIF 2.32, tag 0x0112).
    let filters =
        ["null", "hflip", "hflip,vflip", "vflip", "transpose=cclock_flip", "transpose=clock", "transpose=clock_flip", "transpose=cclock"];
    let mut shown = Vec::new();
    for (i, filter) in filters.iter().enumerate() {
        let mut child = Command::new("ffmpeg")
            .args(["-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "64x40", "-i", "-", "-vf", filter])
            .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(&stored.data).unwrap();
        let want = child.wait_with_output().unwrap();
        assert!(want.status.success() && want.stdout.len() == stored.data.len(), "{filter}");
        let photo = d.join(format!("o{}.jpg", i + 1));
        std::fs::write(&photo, with_exif_orientation(&jpeg, i as u16 + 1, i % 2 == 0)).unwrap();
        let got = kino::video::decode_image(&photo).unwrap();
        let sideways = i >= 4;
        assert_eq!((got.width, got.height), if sideways { (40, 64) } else { (64, 40) }, "orientation {}", i + 1);
        assert!(got.data == want.stdout, "orientation {}: read as {filter} shows it", i + 1);
        shown.push(got);
    }
    for i in 0..8 {
        for j in 0..i {
            assert!(shown[i] != shown[j], "orientations {} and {} read alike: the test cannot tell them apart", i + 1, j + 1);
        }
    }
    // A PNG's eXIf chunk (before its image data) says the same.
    let png = d.join("plain.png");
    ffmpeg(&["-f", "lavfi", "-i", "testsrc=size=64x40:rate=1", "-frames:v", "1", png.to_str().unwrap()]);
    let bytes = std::fs::read(&png).unwrap();
    let exif = &with_exif_orientation(&jpeg, 6, true)[2 + 4 + 6..2 + 4 + 6 + 26];
    let mut chunk = b"eXIf".to_vec();
    chunk.extend_from_slice(exif);
    let crc = {
        // CRC-32 (PNG's, over type and data).
        let mut c = 0xFFFF_FFFFu32;
        for &b in &chunk {
            c ^= u32::from(b);
            for _ in 0..8 {
                c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
            }
        }
        !c
    };
    let mut tagged = bytes[..33].to_vec();
    tagged.extend((exif.len() as u32).to_be_bytes().into_iter().chain(chunk).chain(crc.to_be_bytes()));
    tagged.extend_from_slice(&bytes[33..]);
    let png6 = d.join("o6.png");
    std::fs::write(&png6, tagged).unwrap();
    let (upright, turned) = (kino::video::decode_image(&png).unwrap(), kino::video::decode_image(&png6).unwrap());
    assert_eq!((turned.width, turned.height), (40, 64), "a PNG's EXIF orientation 6 is read sideways");
    assert!(turned == kino::video::Orientation::Clockwise.apply(upright));
    // Through the binary: a photo given back as it is shown.
    let out = d.join("o6.mkv");
    assert_ok(&kino(&["remix", d.join("o6.jpg").to_str().unwrap(), "--prompt", "x", "--strength", "0", "-q", "-o", out.to_str().unwrap()]));
    assert!(frames(&out) == vec![shown[5].clone()], "remix --strength 0 gives the photo back upright");
}

/// The pixel shape ffprobe reads for a file's video stream (`4:3`), `N/A` when it has none.
fn stream_pixel_aspect(path: &Path) -> String {
    let probe = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries", "stream=sample_aspect_ratio", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&probe.stdout).trim().to_string()
}

/// Anamorphic footage (pixels stored wider than square: HDV, DV, broadcast) keeps its shape: the
/// output declares the clip's pixels, the clip's frames are kept, and the new footage is drawn
/// for pixels of that shape (a square stays square as shown).
#[test]
fn anamorphic_clips_keep_their_pixel_shape() {
    let d = tmpdir("anamorphic");
    // 96x72 stored, 4:3 pixels: shown 128x72 (16:9).
    let clip = d.join("clip.mkv");
    ffmpeg(&["-f", "lavfi", "-i", "testsrc=size=96x72:rate=8:duration=1", "-vf", "setsar=4/3", "-c:v", "ffv1", clip.to_str().unwrap()]);
    assert_eq!(stream_pixel_aspect(&clip), "4:3");
    let out = d.join("out.mkv");
    let o = kino(&[
        "extend",
        clip.to_str().unwrap(),
        "--prompt",
        "a white square standing still",
        "--frames",
        "8",
        "--fit",
        "letterbox",
        "-q",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_ok(&o);
    assert_eq!(stream_pixel_aspect(&out), "4:3", "the output is shown as the clip was");
    let (given, got) = (frames(&clip), frames(&out));
    assert_eq!(got.len(), 16);
    assert!(got[..8] == given[..], "the clip's frames kept");
    // The model's square frame shown 72x72 is 54 stored columns wide (72 with square pixels).
    let lit =
        |f: &RgbFrame| (0..96).filter(|&x| (0..72).any(|y| f.data[3 * (y * 96 + x)..3 * (y * 96 + x) + 3].iter().any(|&c| c > 0))).count();
    assert!(got[8..].iter().all(|f| lit(f) == 54), "new frames span {:?} columns", got[8..].iter().map(lit).collect::<Vec<_>>());
    // In MP4 too (`pasp` and the H.264 stream's own).
    let mp4 = d.join("remix.mp4");
    assert_ok(&kino(&["remix", clip.to_str().unwrap(), "--prompt", "x", "--strength", "0", "-q", "-o", mp4.to_str().unwrap()]));
    assert_eq!(stream_pixel_aspect(&mp4), "4:3");
    // PNG frames keep no pixel shape (readers disagree on PNG's): said.
    let pngs = d.join("frames/");
    let o = kino(&["remix", clip.to_str().unwrap(), "--prompt", "x", "--strength", "0", "-o", pngs.to_str().unwrap()]);
    assert_ok(&o);
    assert!(String::from_utf8_lossy(&o.stderr).contains("PNG frames keep no pixel shape: the clip's pixels are 4:3"));
    // An anamorphic image animated keeps its pixel shape.
    let still = d.join("still.png");
    ffmpeg(&["-f", "lavfi", "-i", "testsrc=size=96x72:rate=1", "-frames:v", "1", "-vf", "setsar=4/3", still.to_str().unwrap()]);
    let animated = d.join("animated.mkv");
    assert_ok(&kino(&["animate", still.to_str().unwrap(), "--prompt", "x", "--frames", "9", "-q", "-o", animated.to_str().unwrap()]));
    assert_eq!(stream_pixel_aspect(&animated), "4:3");
    // A bridge joins clips of one pixel shape.
    let square = d.join("square.mkv");
    ffmpeg(&["-f", "lavfi", "-i", "testsrc=size=96x72:rate=8:duration=1", "-c:v", "ffv1", square.to_str().unwrap()]);
    let joined = d.join("joined.mkv");
    let o = kino(&[
        "bridge",
        clip.to_str().unwrap(),
        square.to_str().unwrap(),
        "--prompt",
        "x",
        "--frames",
        "4",
        "-q",
        "-o",
        joined.to_str().unwrap(),
    ]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("pixel shape"), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!joined.exists());
}

/// A file's first `n` frames as FFmpeg decodes them to 8-bit YUV 4:2:0 (the samples a player
/// reads, before any colour matrix).
fn yuv_frames(path: &Path, n: usize, (w, h): (usize, usize)) -> Vec<Vec<u8>> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-frames:v", &n.to_string(), "-f", "rawvideo", "-pix_fmt", "yuv420p", "-"])
        .output()
        .unwrap();
    out.stdout.chunks_exact(w * h * 3 / 2).map(<[u8]>::to_vec).collect()
}

fn plane_psnr(a: &[u8], b: &[u8]) -> f64 {
    let mse = a.iter().zip(b).map(|(&x, &y)| (x as f64 - y as f64).powi(2)).sum::<f64>() / a.len() as f64;
    10.0 * (255.0f64.powi(2) / mse.max(1e-10)).log10()
}

/// HD footage is BT.709: its kept frames come out with the samples they went in with (read and
/// written by the clip's own matrix, saturated colours not clipped by BT.601's) and the output
/// says so; footage kino makes alone is tagged BT.709 too.
#[test]
fn clips_keep_their_colours() {
    let d = tmpdir("colours");
    let (w, h) = (320, 180);
    let clip = d.join("bt709.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x180:rate=8:duration=1",
        "-vf",
        "scale=out_color_matrix=bt709:out_range=tv,format=yuv420p",
        "-color_primaries",
        "bt709",
        "-color_trc",
        "bt709",
        "-colorspace",
        "bt709",
        "-c:v",
        "libx264",
        "-qp",
        "0",
        clip.to_str().unwrap(),
    ]);
    let out = d.join("out.mp4");
    assert_ok(&kino(&["extend", clip.to_str().unwrap(), "--prompt", "x", "--frames", "8", "-q", "-o", out.to_str().unwrap()]));
    let (given, got) = (yuv_frames(&clip, 8, (w, h)), yuv_frames(&out, 8, (w, h)));
    let luma = w * h;
    for (i, (a, b)) in given.iter().zip(&got).enumerate() {
        let (y, uv) = (plane_psnr(&a[..luma], &b[..luma]), plane_psnr(&a[luma..], &b[luma..]));
        assert!(y > 45.0 && uv > 40.0, "frame {i}: Y {y:.1} dB, UV {uv:.1} dB against the clip (read as BT.601: Y 25 dB)");
    }
    let tags = |p: &Path| {
        let probe = Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-select_streams",
                "v:0",
                "-show_entries",
                "stream=color_space,color_range,color_primaries,color_transfer",
            ])
            .args(["-of", "csv=p=0"])
            .arg(p)
            .output()
            .unwrap();
        String::from_utf8_lossy(&probe.stdout).trim().to_string()
    };
    assert_eq!(tags(&out), "tv,bt709,bt709,bt709");
    // An RGB clip (FFV1, PNG) has no matrix: its H.264 output is BT.709 too, never tagged GBR.
    let rgb = d.join("rgb.mkv");
    ffmpeg(&["-f", "lavfi", "-i", "testsrc2=size=96x64:rate=8:duration=1", "-c:v", "ffv1", "-pix_fmt", "bgr0", rgb.to_str().unwrap()]);
    let from_rgb = d.join("from-rgb.mp4");
    assert_ok(&kino(&["extend", rgb.to_str().unwrap(), "--prompt", "x", "--frames", "8", "-q", "-o", from_rgb.to_str().unwrap()]));
    assert_eq!(tags(&from_rgb), "tv,bt709,bt709,bt709");
    let made = d.join("made.mp4");
    assert_ok(&kino(&["generate", "a red circle moving left", "--frames", "9", "-q", "-o", made.to_str().unwrap()]));
    assert_eq!(tags(&made), "tv,bt709,bt709,bt709");
    // An HDR clip's primaries and transfer (BT.2020, PQ) stay said in every output: FFV1's RGB
    // (no matrix, full range) and, read back from it, H.264's (BT.709 matrix: the one kino
    // converts RGB with).
    let hdr = d.join("hdr.mkv");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=96x64:rate=8:duration=1",
        "-vf",
        "scale=out_color_matrix=bt2020:out_range=tv,format=yuv420p",
        "-color_primaries",
        "bt2020",
        "-color_trc",
        "smpte2084",
        "-colorspace",
        "bt2020nc",
        "-c:v",
        "libx264",
        hdr.to_str().unwrap(),
    ]);
    let (hdr_mkv, hdr_mp4) = (d.join("hdr-out.mkv"), d.join("hdr-out.mp4"));
    assert_ok(&kino(&["extend", hdr.to_str().unwrap(), "--prompt", "x", "--frames", "8", "-q", "-o", hdr_mkv.to_str().unwrap()]));
    assert_eq!(tags(&hdr_mkv), "pc,gbr,smpte2084,bt2020", "range, matrix, transfer, primaries");
    assert_ok(&kino(&["extend", hdr_mkv.to_str().unwrap(), "--prompt", "x", "--frames", "8", "-q", "-o", hdr_mp4.to_str().unwrap()]));
    assert_eq!(tags(&hdr_mp4), "tv,bt709,smpte2084,bt2020");
}

/// A clip recorded at a variable rate (phones do) is read by its timestamps, at a constant rate,
/// as players show it: a frame that lasts two frame times is shown twice, so the clip keeps its
/// length (and its audio stays with it).
#[test]
fn variable_rate_clips_keep_their_timing() {
    let d = tmpdir("vfr");
    let vfr = d.join("vfr.mkv");
    // 17 frames at 8 fps timestamps: 0 to 0.875 s, then every 0.25 s up to 3 s.
    let pts = "setpts='if(lt(N,8),N,N*2-8)/(8*TB)'";
    let src = "testsrc=size=64x64:rate=8:duration=2.125";
    ffmpeg(&["-f", "lavfi", "-i", src, "-vf", pts, "-fps_mode", "passthrough", "-c:v", "ffv1", vfr.to_str().unwrap()]);
    // Its 17 frames as stored.
    let raw = d.join("raw");
    std::fs::create_dir_all(&raw).unwrap();
    ffmpeg(&["-i", vfr.to_str().unwrap(), "-fps_mode", "passthrough", &format!("{}/%03d.png", raw.display())]);
    let stored: Vec<RgbFrame> = (1..=17).map(|i| kino::video::decode_image(&raw.join(format!("{i:03}.png"))).unwrap()).collect();
    let out = d.join("out.mkv");
    assert_ok(&kino(&["remix", vfr.to_str().unwrap(), "--prompt", "x", "--strength", "0", "-q", "-o", out.to_str().unwrap()]));
    let f = frames(&out);
    assert_eq!(f.len(), 25, "3 s at 8 fps, as the timestamps say");
    for (k, frame) in f.iter().enumerate() {
        let shown = if k < 8 { k } else { 8 + (k - 8) / 2 };
        assert!(*frame == stored[shown], "output frame {k} is stored frame {shown}, the one on screen at {k}/8 s");
    }
}

/// A clip recorded at a variable rate as phones do (30 fps with 1 frame in 20 dropped), with a
/// 12 s pause, in H.264 with its sound: read at its base rate, 30 fps, each output frame the
/// stored frame on screen at its time (a repeat where a frame was dropped or paused), so the
/// clip lasts as long in the output as in the file, to the frame, and its sound stays with it
/// however long it is. Rounding each frame's duration on its own at the average rate (9.5
/// fps here) made a phone's 20 s clip 1 s longer, and shortened pauses over 10 s.
#[test]
fn variable_rate_phone_clips_keep_their_length_to_the_frame() {
    let d = tmpdir("vfr-phone");
    let clip = d.join("phone.mp4");
    let filter = "select='not(eq(mod(n\\,20)\\,19))',setpts='if(gte(N,100),PTS+12/TB,PTS)'";
    let (src, sound) = ("testsrc=size=64x48:rate=30:duration=6", "sine=duration=18");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        src,
        "-f",
        "lavfi",
        "-i",
        sound,
        "-vf",
        filter,
        "-fps_mode",
        "passthrough",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        clip.to_str().unwrap(),
    ]);
    let video = ["-select_streams", "v:0"];
    let seconds: f64 = probe_csv(&clip, &[&video[..], &["-show_entries", "stream=duration"]].concat()).parse().unwrap();
    let times: Vec<f64> = probe_csv(&clip, &[&video[..], &["-show_entries", "frame=pts_time"]].concat())
        .lines()
        .filter_map(|l| l.split(',').next().filter(|t| !t.is_empty()))
        .map(|t| t.parse().unwrap())
        .collect();
    let stored = frames(&clip);
    assert_eq!((stored.len(), times.len()), (171, 171), "6 s at 30 fps, 9 frames dropped");
    let out = d.join("out.mkv");
    assert_ok(&kino(&["extend", clip.to_str().unwrap(), "--prompt", "x", "--frames", "8", "-q", "-o", out.to_str().unwrap()]));
    assert_eq!(probe_csv(&out, &[&video[..], &["-show_entries", "stream=r_frame_rate"]].concat()), "30/1", "its base rate");
    let f = frames(&out);
    let kept = f.len() - 8;
    assert!((kept as f64 - seconds * 30.0).abs() <= 1.0, "{kept} frames at 30 fps for {seconds} s");
    for (k, frame) in f[..kept].iter().enumerate() {
        let at = times[0] + (k as f64 + 0.5) / 30.0;
        let shown = times.iter().rposition(|&t| t < at).unwrap();
        assert!(*frame == stored[shown], "output frame {k} is stored frame {shown}, the one on screen at {k}/30 s");
    }
}

/// A clip's timecode and chapters come with it: extended backwards, its first frame keeps its
/// timecode (the output's starts as many frames earlier as were put before it) and its chapters
/// move with it; a bridge's B brings its chapters to where B starts. A timecode track is carried,
/// not called a track left behind.
#[test]
fn timecode_and_chapters_move_with_the_clip() {
    let d = tmpdir("timecode-chapters");
    let meta = d.join("meta.txt");
    std::fs::write(
        &meta,
        ";FFMETADATA1\ntitle=Holiday\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=1000\ntitle=Intro\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=1000\nEND=2000\ntitle=Beach\n",
    )
    .unwrap();
    let (mkv, mp4) = (d.join("tc.mkv"), d.join("tc.mp4"));
    for clip in [&mkv, &mp4] {
        let (src, m, c) = ("testsrc2=s=64x64:r=8:d=2", meta.to_str().unwrap(), clip.to_str().unwrap());
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            src,
            "-i",
            m,
            "-map",
            "0",
            "-map_metadata",
            "1",
            "-map_chapters",
            "1",
            "-pix_fmt",
            "yuv420p",
            "-timecode",
            "01:00:00:00",
            c,
        ]);
    }
    let chapters = |p: &Path| probe_csv(p, &["-show_chapters"]);
    for (clip, out) in [(&mkv, d.join("back.mov")), (&mp4, d.join("back.mkv"))] {
        let o = kino(&[
            "extend",
            clip.to_str().unwrap(),
            "-p",
            "x",
            "--frames",
            "16",
            "--at",
            "start",
            "--steps",
            "1",
            "-o",
            out.to_str().unwrap(),
        ]);
        assert_ok(&o);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(!stderr.contains("track"), "nothing left behind: {stderr}");
        // 16 frames at 8 fps before 01:00:00:00.
        let tc = probe_csv(&out, &["-show_entries", "format_tags=timecode:stream_tags=timecode"]);
        assert!(tc.lines().any(|l| l.trim_matches(',') == "00:59:58:00" || l.trim_matches(',') == "00:59:58:0"), "{}: {tc}", out.display());
        let ch = chapters(&out);
        // MOV reads a first chapter back from 0 s: the new footage is a chapter without a title.
        let mov = out.extension().is_some_and(|e| e == "mov");
        assert_eq!(ch.lines().count(), if mov { 3 } else { 2 }, "{ch}");
        assert!(ch.contains(",2.000000,") && ch.contains(",3.000000,") && ch.contains(",4.000000"), "moved by 2 s: {ch}");
        assert!(ch.contains("Intro") && ch.contains("Beach"), "{ch}");
        assert_eq!(probe_csv(&out, &["-show_entries", "format_tags=title"]), "Holiday");
    }
    // Extended forwards: timecode and chapters where they were.
    let fwd = d.join("fwd.mkv");
    assert_ok(&kino(&["extend", mkv.to_str().unwrap(), "-p", "x", "--frames", "16", "--steps", "1", "-o", fwd.to_str().unwrap()]));
    assert!(probe_csv(&fwd, &["-show_entries", "format_tags=timecode"]).contains("01:00:00:0"));
    assert!(chapters(&fwd).contains("0.000000,"), "{}", chapters(&fwd));
    // A chapter of no length (a marker) moves with the clip and keeps no length.
    let (marks, marked, moved) = (d.join("marks.txt"), d.join("marked.mkv"), d.join("marked-back.mkv"));
    std::fs::write(&marks, ";FFMETADATA1\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=1000\nEND=1000\ntitle=Mark\n").unwrap();
    let (m, c) = (marks.to_str().unwrap(), marked.to_str().unwrap());
    ffmpeg(&["-f", "lavfi", "-i", "testsrc2=s=64x64:r=8:d=2", "-i", m, "-map", "0", "-map_chapters", "1", "-c:v", "ffv1", c]);
    let o = kino(&["extend", c, "-p", "x", "--frames", "16", "--at", "start", "--steps", "1", "-o", moved.to_str().unwrap()]);
    assert_ok(&o);
    let ch = chapters(&moved);
    assert!(ch.ends_with(",3.000000,3000000000,3.000000,Mark"), "a marker at 3 s: {ch}");
    // A bridge: A's chapters at 0, B's from where B starts (after A's 2 s and the bridge's).
    let bridged = d.join("bridged.mkv");
    let o = kino(&[
        "bridge",
        mkv.to_str().unwrap(),
        mkv.to_str().unwrap(),
        "-p",
        "x",
        "--frames",
        "8",
        "--steps",
        "1",
        "-o",
        bridged.to_str().unwrap(),
    ]);
    assert_ok(&o);
    let ch = chapters(&bridged);
    assert_eq!(ch.lines().count(), 4, "{ch}");
    assert!(ch.contains(",0.000000,") && ch.contains(",3.000000,") && ch.contains(",5.000000,"), "B's at 3 s: {ch}");
    // A bridge from a clip without a timecode to one with: B's, moved to the output's start
    // (A's 16 frames and the bridge's 8 before it).
    let plain = d.join("plain.mkv");
    ffmpeg(&["-f", "lavfi", "-i", "testsrc2=s=64x64:r=8:d=2", "-c:v", "ffv1", plain.to_str().unwrap()]);
    let to_b = d.join("to-b.mp4");
    let o = kino(&[
        "bridge",
        plain.to_str().unwrap(),
        mkv.to_str().unwrap(),
        "-p",
        "x",
        "--frames",
        "8",
        "--steps",
        "1",
        "-o",
        to_b.to_str().unwrap(),
    ]);
    assert_ok(&o);
    let tc = probe_csv(&to_b, &["-show_entries", "stream_tags=timecode"]);
    assert!(tc.lines().any(|l| l.trim_matches(',') == "00:59:57:00" || l.trim_matches(',') == "00:59:57:0"), "{tc}");
}
