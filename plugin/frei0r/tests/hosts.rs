//! The frei0r plugin in the real hosts: Debian's ffmpeg (frei0r_src, frei0r) and melt.
//! Frames are compared through lossless FFV1 files against the `kino` binary.

use std::path::Path;
use std::process::Command;

use kino::RgbFrame;

mod common;

use common::{ffmpeg, ffmpeg_filter, ffmpeg_source, frames, host, install, kino, melt_render, repo, run, source_and_kino};

#[test]
fn the_plugin_holds_no_build_folder_path() {
    let plugins = install("paths");
    let lib = plugins.join("kino.so");
    let bytes = std::fs::read(&lib).unwrap();
    let build = format!("{}/models", repo().display());
    assert!(!bytes.windows(build.len()).any(|w| w == build.as_bytes()), "{} names {build}", lib.display());
}

fn is_error_frame(f: &RgbFrame) -> bool {
    f.data[..3] == [200, 20, 20]
}

#[test]
fn ffmpeg_source_matches_kino_generate() {
    let plugins = install("src");
    let d = plugins.parent().unwrap();
    // The source does not know how long the host's clip is, so it always makes kino's long
    // (window by window) footage: `kino generate` of any length past one window starts with it.
    let graph = "frei0r_src=size=64x64:framerate=8:filter_name=kino:filter_params=a red circle moving left|3";
    let (a, b) = source_and_kino(&plugins, graph, "2", &["generate", "a red circle moving left", "--seed", "3", "--frames", "48"]);
    assert_eq!(a.len(), 16);
    assert!(a[..] == b[..16], "the plugin's frames are kino generate's frames");
    // A one-window clip (17 frames here) is the same up to the frames held back for the next window.
    let short = d.join("short.mkv");
    kino(&["generate", "a red circle moving left", "--seed", "3", "-o", short.to_str().unwrap()]);
    assert!(a[..12] == frames(&short)[..12], "window 0 is kino generate's one window");

    // Past one window the source keeps going, at the host's size (long.rs compares long clips).
    let long = d.join("long.mkv");
    ffmpeg_source(&plugins, "frei0r_src=size=96x96:framerate=8:filter_name=kino:filter_params=a red circle moving left|3", "5", &long);
    let l = frames(&long);
    assert_eq!((l.len(), l[0].width), (40, 96), "5 s at 8 fps, at the host's size");
    assert!(!l.iter().any(is_error_frame));
}

#[test]
fn ffmpeg_storyboard_matches_kino_generate_storyboard() {
    let plugins = install("storyboard");
    let d = plugins.parent().unwrap();
    // The storyboard replaces the prompt; `;` separates its entries (escaped for ffmpeg's graph).
    let graph = "frei0r_src=size=64x64:framerate=8:filter_name=kino:filter_params=ignored|3|||||||letterbox|\
                 0s a red circle moving left\\; 4s a red circle moving up";
    let board = d.join("board.txt");
    std::fs::write(&board, "0s a red circle moving left\n4s a red circle moving up\n").unwrap();
    let (a, b) =
        source_and_kino(&plugins, graph, "6", &["generate", "--storyboard", board.to_str().unwrap(), "--seed", "3", "--frames", "80"]);
    assert_eq!(a.len(), 48);
    assert!(a[..] == b[..48], "the plugin's storyboard frames are kino generate --storyboard's frames");
    // Entries out of order: error frames, not a crash.
    let bad = d.join("bad.mkv");
    let out = ffmpeg_source(
        &plugins,
        "frei0r_src=size=64x64:framerate=8:filter_name=kino:filter_params=x|3|||||||letterbox|0s a red circle\\; 0s a blue circle",
        "1",
        &bad,
    );
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("storyboard line 2"), "{log}");
    assert!(frames(&bad).iter().all(is_error_frame), "a bad storyboard shows error frames");
}

/// A Kino source whose parameters after `fit` are `tail` (`|` first) renders the frames of
/// `kino generate` with `flags`, not the default's; with `bad_tail`, error frames and a log
/// holding each of `needles`.
fn panel_value_is_kino_flag(tag: &str, tail: &str, flags: &[&str], bad_tail: &str, needles: &[&str]) {
    let plugins = install(tag);
    let d = plugins.parent().unwrap();
    let source = "frei0r_src=size=64x64:framerate=8:filter_name=kino:filter_params=a red circle moving left|3|||||||letterbox";
    let args = ["generate", "a red circle moving left", "--seed", "3", "--frames", "48"];
    let (a, b) = source_and_kino(&plugins, &format!("{source}{tail}"), "2", &[&args[..], flags].concat());
    assert!(a[..] == b[..16], "the plugin's frames are kino generate {flags:?}'s");
    let plain = d.join("plain.mkv");
    kino(&[&args[..], &["-o", plain.to_str().unwrap()]].concat());
    assert!(a[..] != frames(&plain)[..16], "and not the default's frames");
    let bad = d.join("bad.mkv");
    let out = ffmpeg_source(&plugins, &format!("{source}{bad_tail}"), "1", &bad);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(needles.iter().all(|n| log.contains(n)), "{needles:?} not all in {log}");
    assert!(frames(&bad).iter().all(is_error_frame), "a bad value shows error frames");
}

#[test]
fn the_guidance_interval_is_kino_generates() {
    // The eleventh parameter; `\,` keeps the comma from ffmpeg's filtergraph parser. A falling
    // interval is refused.
    panel_value_is_kino_flag("interval", "||0.5\\,1", &["--guidance-interval", "0.5,1"], "||1\\,0.5", &["guidance_interval parameter"]);
}

#[test]
fn the_sampler_is_kino_generates() {
    // The twelfth parameter, after the guidance interval. kino-shapes steps stochastically by
    // default: the other choice is deterministic.
    let needles = ["sampler parameter", "deterministic or stochastic"];
    panel_value_is_kino_flag("sampler", "|||deterministic", &["--sampler", "deterministic"], "|||ancestral", &needles);
}

#[test]
fn an_empty_prompt_is_an_error_not_a_generation() {
    // Hosts show a frame before the user has typed a prompt (Kdenlive's generator dialog).
    let plugins = install("empty-prompt");
    let d = plugins.parent().unwrap();
    let out_file = d.join("empty.mkv");
    let out = ffmpeg_source(&plugins, "frei0r_src=size=64x64:framerate=8:filter_name=kino:filter_params= |3", "1", &out_file);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("the prompt is empty: set the prompt parameter"), "{log}");
    assert!(frames(&out_file).iter().all(is_error_frame), "error frames, no footage");
}

#[test]
fn ffmpeg_extend_passes_the_clip_through_and_continues_it() {
    let plugins = install("extend");
    let d = plugins.parent().unwrap();
    let base = d.join("base.mkv");
    kino(&["generate", "a green square moving right", "--seed", "5", "-o", base.to_str().unwrap()]);
    let out = d.join("ext.mkv");
    ffmpeg_filter(
        &plugins,
        &base,
        "tpad=stop_duration=2:stop_mode=clone,frei0r=filter_name=kino_extend:filter_params=a green square moving right|6",
        &out,
    );
    let (a, b) = (frames(&base), frames(&out));
    assert_eq!(b.len(), a.len() + 16);
    assert!(a[..] == b[..a.len()], "the clip's frames pass through bit-exactly");
    let last = &a[a.len() - 1];
    assert!(b[a.len()..].iter().all(|f| f != last && !is_error_frame(f)), "the padding is replaced by new footage");
    // The same footage as `kino extend` makes from the same context and seed.
    let cli = d.join("cli.mkv");
    // Two windows of 8 frames for the shipped model, chained as kino extend chains them.
    kino(&[
        "extend",
        base.to_str().unwrap(),
        "--prompt",
        "a green square moving right",
        "--seconds",
        "2",
        "--seed",
        "6",
        "-o",
        cli.to_str().unwrap(),
    ]);
    assert!(frames(&cli)[..] == b[..], "the same footage as kino extend");

    // Or from an explicit start time (seconds), without tpad's clones.
    let out2 = d.join("start.mkv");
    ffmpeg_filter(&plugins, &base, "frei0r=filter_name=kino_extend:filter_params=a green square moving right|6|||||||1.5", &out2);
    let c = frames(&out2);
    assert!(c[..12] == a[..12], "frames before start pass through");
    assert!(!c.iter().any(is_error_frame), "no error frames");
    assert!(c[12..].iter().zip(&a[12..]).any(|(x, y)| x != y));
    // `start` at the first frame: nothing before it to continue; the clip passes, and it is said.
    let out0 = d.join("start0.mkv");
    let r = ffmpeg_filter(&plugins, &base, "frei0r=filter_name=kino_extend:filter_params=a green square moving right|6|||||||0", &out0);
    assert!(frames(&out0)[..] == a[..], "the clip passes through");
    assert!(String::from_utf8_lossy(&r.stderr).contains("nothing to continue"), "{}", String::from_utf8_lossy(&r.stderr));

    // `start` at a 24 fps Matroska clip's end, written `2s`: ffmpeg's clones of its last frame
    // land at 1.999 s (whole milliseconds), and the first of them is still where the new
    // footage starts, as `kino extend` makes it.
    let clip24 = d.join("clip24.mkv");
    kino(&["generate", "a green square moving right", "--seed", "5", "--frames", "48", "--fps", "24", "-o", clip24.to_str().unwrap()]);
    let out3 = d.join("start24.mkv");
    ffmpeg_filter(
        &plugins,
        &clip24,
        "tpad=stop_duration=1:stop_mode=clone,frei0r=filter_name=kino_extend:filter_params=a green square moving right|6|||||||2s",
        &out3,
    );
    let cli24 = d.join("cli24.mkv");
    let args = ["--prompt", "a green square moving right", "--seconds", "1", "--seed", "6", "-o", cli24.to_str().unwrap()];
    kino(&[&["extend", clip24.to_str().unwrap()][..], &args[..]].concat());
    assert!(frames(&cli24)[..] == frames(&out3)[..], "start=2s at the clip's end: kino extend's frames");
}

#[test]
fn ffmpeg_animate_starts_from_the_first_frame() {
    let plugins = install("animate");
    let d = plugins.parent().unwrap();
    let seq = d.join("seq");
    kino(&["generate", "a white triangle standing still", "--seed", "8", "-o", &format!("{}/", seq.display())]);
    let out = d.join("anim.mkv");
    run(ffmpeg(&plugins)
        .args(["-loop", "1", "-framerate", "8", "-i"])
        .arg(seq.join("00000.png"))
        .args(["-t", "2", "-vf", "frei0r=filter_name=kino_animate:filter_params=a white triangle moving up|9", "-c:v", "ffv1"])
        .arg(&out));
    let f = frames(&out);
    assert_eq!(f.len(), 16);
    let still = kino::video::decode_image(&seq.join("00000.png")).unwrap();
    assert!(f[0].psnr(&still) >= 30.0, "first frame PSNR {}", f[0].psnr(&still));
    assert!(f[15] != f[0]);
}

#[test]
fn prompts_with_spaces_commas_colons_and_pipes_survive_escaping() {
    let plugins = install("escape");
    let d = plugins.parent().unwrap();
    // Documented escaping (docs/frei0r.md): a prompt with , : | inside the filtergraph.
    let prompt = "a blue circle, moving: left | fast";
    let out = d.join("esc.mkv");
    let graph = "frei0r_src=size=64x64:framerate=8:filter_name=kino:filter_params='a blue circle\\, moving\\: left \\\\| fast|2'";
    let r = run(ffmpeg(&plugins).args(["-f", "lavfi", "-i", graph, "-t", "1", "-c:v", "ffv1"]).arg(&out));
    let log = String::from_utf8_lossy(&r.stderr);
    assert!(!log.contains("error"), "{log}");
    // The words the model does not know are named, once, as the CLI names them.
    assert_eq!(log.matches("does not know").count(), 1, "{log}");
    assert!(log.contains("\"fast\""), "{log}");
    let reference = d.join("ref.mkv");
    kino(&["generate", prompt, "--seed", "2", "-o", reference.to_str().unwrap()]);
    assert!(frames(&out)[..] == frames(&reference)[..8], "the prompt arrives intact");
}

#[test]
fn two_instances_at_once_and_bad_params() {
    let plugins = install("two");
    let d = plugins.parent().unwrap();
    let out = d.join("two.mkv");
    let graph = "frei0r_src=size=64x64:framerate=8:filter_name=kino:filter_params=a red square moving up|1[a];\
                 frei0r_src=size=64x64:framerate=8:filter_name=kino:filter_params=a cyan circle moving down|2[b];[a][b]hstack";
    run(ffmpeg(&plugins).args(["-filter_complex", graph, "-t", "1", "-c:v", "ffv1"]).arg(&out));
    let f = frames(&out);
    assert_eq!((f.len(), f[0].width), (8, 128));
    let left = d.join("left.mkv");
    kino(&["generate", "a red square moving up", "--seed", "1", "-o", left.to_str().unwrap()]);
    let l = frames(&left);
    for (i, frame) in f.iter().enumerate() {
        let crop: Vec<u8> = frame.data.chunks(128 * 3).flat_map(|row| row[..64 * 3].to_vec()).collect();
        assert!(crop == l[i].data, "left half of frame {i}");
    }

    // A bad seed: ffmpeg carries on, the frames say so, the log says why, once.
    let bad = d.join("bad.mkv");
    let r = ffmpeg_source(&plugins, "frei0r_src=size=64x64:framerate=8:filter_name=kino:filter_params=a red square|abc", "1", &bad);
    let log = String::from_utf8_lossy(&r.stderr);
    assert_eq!(log.matches("kino frei0r: error: seed \"abc\" is not a valid number").count(), 1, "{log}");
    assert!(frames(&bad).iter().all(is_error_frame));
    // A missing model: the same.
    let r = ffmpeg_source(&plugins, "frei0r_src=size=64x64:framerate=8:filter_name=kino:filter_params=x|1|||/nowhere/model", "1", &bad);
    let log = String::from_utf8_lossy(&r.stderr);
    assert!(log.contains("/nowhere/model"), "{log}");
    // The fix names the plugin's parameter, never the command line's flag.
    assert!(log.contains("set the model parameter to") && !log.contains("--model") && !log.contains("kino models"), "{log}");
    // A time unit ffmpeg does not use is followed (frame 0 is at 0 in any unit), and said once.
    let r = ffmpeg_source(&plugins, "frei0r_src=size=64x64:framerate=8:filter_name=kino:filter_params=a red square|1||||||s", "0.1", &bad);
    let log = String::from_utf8_lossy(&r.stderr);
    assert_eq!(log.matches("time_unit s is not the unit this host uses").count(), 1, "{log}");
    assert!(log.contains("ffmpeg counts milliseconds") && !frames(&bad).iter().any(is_error_frame), "{log}");
    // ffmpeg's frei0r filter drops the frame times at some widths: said, and the clip kept.
    let out = run(ffmpeg(&plugins)
        .args(["-f", "lavfi", "-i", "color=c=0x204060:s=96x64:r=8:d=1", "-vf", "frei0r=kino_extend:a red square|1", "-c:v", "ffv1"])
        .arg(&bad));
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("passed no frame time") && log.contains("(here 96): pad or scale"), "{log}");
    let near = |p: &[u8]| p.iter().zip([0x20u8, 0x40, 0x60]).all(|(a, b)| a.abs_diff(b) <= 4);
    assert!(frames(&bad).iter().all(|f| f.data.chunks(3).all(near)), "the clip passes through");
}

#[test]
fn melt_lists_the_params_and_renders_the_source() {
    let plugins = install("melt");
    let d = plugins.parent().unwrap();
    let q = run(host("melt", &plugins).args(["-query", "producer=frei0r.kino"]));
    let text = String::from_utf8_lossy(&q.stdout);
    for p in ["prompt", "seed", "steps", "guidance", "model", "device"] {
        assert!(text.contains(p), "melt -query lacks {p}: {text}");
    }
    let out = d.join("melt.mkv");
    melt_render(
        Command::new("melt")
            .env("FREI0R_PATH", &plugins)
            .args([
                "-silent",
                "frei0r.kino",
                "prompt=a yellow circle moving right",
                "seed=4",
                "out=15",
                "-profile",
                "square_ntsc",
                "-consumer",
            ])
            .arg(format!("avformat:{}", out.display()))
            .args([
                "vcodec=ffv1",
                "pix_fmt=bgra",
                "mlt_image_format=rgba",
                "width=64",
                "height=64",
                "frame_rate_num=8",
                "frame_rate_den=1",
                "an=1",
            ]),
        &out,
    );
    let f = frames(&out);
    assert_eq!(f.len(), 16);
    let reference = d.join("ref.mkv");
    kino(&["generate", "a yellow circle moving right", "--seed", "4", "--frames", "48", "-o", reference.to_str().unwrap()]);
    assert!(f[..] == frames(&reference)[..16], "MLT's seconds are read as seconds");
    // A clip that starts 5 s into its footage (after 5 s of blank at 25 fps): the 40 frames
    // before it are made first, and the log says why the host waits.
    let far = d.join("far.mkv");
    let r = melt_render(
        host("melt", &plugins)
            .args(["-silent", "-blank", "124", "frei0r.kino", "prompt=a yellow circle moving right", "seed=4", "out=0", "-consumer"])
            .arg(format!("avformat:{}", far.display()))
            .args(["vcodec=ffv1", "an=1"]),
        &far,
    );
    let log = String::from_utf8_lossy(&r.stderr);
    assert!(log.contains("the 40 frames before it are made first"), "{log}");

    // The shipped MLT project renders: two generated clips of 32 frames each.
    let project = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/mlt/generate.mlt");
    let xml_out = d.join("project.mkv");
    melt_render(
        host("melt", &plugins)
            .arg("-silent")
            .arg(&project)
            .arg("-consumer")
            .arg(format!("avformat:{}", xml_out.display()))
            .args(["vcodec=ffv1", "an=1"]),
        &xml_out,
    );
    let p = frames(&xml_out);
    assert_eq!((p.len(), p[0].width), (64, 256));
    assert!(!p.iter().any(is_error_frame));
    // The second clip starts its own footage (MLT's playlist position would give it seconds 4-8).
    let blue = d.join("blue.mkv");
    kino(&["generate", "a blue square moving down", "--seed", "7", "--frames", "64", "-o", blue.to_str().unwrap()]);
    let b = frames(&blue);
    let shrunk = |f: &RgbFrame| -> Vec<f64> {
        // 256 -> 64 by 4x4 means: the host's upscale, undone closely enough to compare.
        (0..64 * 64 * 3)
            .map(|i| {
                let (y, x, c) = (i / (64 * 3), i / 3 % 64, i % 3);
                (0..16).map(|k| f64::from(f.data[((y * 4 + k / 4) * 256 + x * 4 + k % 4) * 3 + c])).sum::<f64>() / 16.0
            })
            .collect()
    };
    let distance = |from: usize| -> f64 {
        (0..32)
            .map(|i| {
                shrunk(&p[32 + i]).iter().zip(&b[from + i].data).map(|(a, &v)| (a - f64::from(v)).abs()).sum::<f64>() / (64.0 * 64.0 * 3.0)
            })
            .sum::<f64>()
            / 32.0
    };
    let (own, later) = (distance(0), distance(32));
    assert!(own * 3.0 < later, "the second clip shows its first seconds: {own:.2} against {later:.2} for seconds 4-8");
}

#[test]
fn the_source_letterboxes_into_another_aspect_instead_of_stretching() {
    let plugins = install("aspect");
    let d = plugins.parent().unwrap();
    let wide = d.join("wide.mkv");
    ffmpeg_source(&plugins, "frei0r_src=size=128x64:framerate=8:filter_name=kino:filter_params=a red circle moving left|3", "1", &wide);
    let square = d.join("square.mkv");
    ffmpeg_source(&plugins, "frei0r_src=size=64x64:framerate=8:filter_name=kino:filter_params=a red circle moving left|3", "1", &square);
    let (w, s) = (frames(&wide), frames(&square));
    assert_eq!(w.len(), s.len());
    for (i, (a, b)) in w.iter().zip(&s).enumerate() {
        for y in 0..64 {
            let row = &a.data[y * 128 * 3..(y + 1) * 128 * 3];
            // Pillarbox: 32 black columns each side, the square frame untouched in the middle.
            assert!(row[..32 * 3].iter().chain(&row[96 * 3..]).all(|&v| v == 0), "frame {i} row {y}: bars");
            assert!(row[32 * 3..96 * 3] == b.data[y * 64 * 3..(y + 1) * 64 * 3], "frame {i} row {y}: the frame is not stretched");
        }
    }
}

#[test]
fn filters_fit_other_aspects_as_kino_extend_does() {
    let plugins = install("fit");
    let d = plugins.parent().unwrap();
    let prompt = "a green square moving right";
    let base = d.join("base.mkv");
    kino(&["generate", prompt, "--seed", "15", "-o", base.to_str().unwrap()]);
    // The square clip pillarboxed into 128x64.
    let wide = d.join("wide.mkv");
    run(ffmpeg(&plugins).arg("-i").arg(&base).args(["-vf", "pad=128:64:32:0:black", "-c:v", "ffv1"]).arg(&wide));
    let n = frames(&wide).len();
    // Parameters by position: fit is the 10th (after start).
    for (fit, params) in [("letterbox", format!("{prompt}|16")), ("crop", format!("{prompt}|16||||||||crop"))] {
        let out = d.join(format!("ext-{fit}.mkv"));
        let vf = format!("tpad=stop_duration=2:stop_mode=clone,frei0r=filter_name=kino_extend:filter_params={params}");
        run(ffmpeg(&plugins).arg("-i").arg(&wide).args(["-vf", &vf, "-c:v", "ffv1"]).arg(&out));
        let cli = d.join(format!("cli-{fit}.mkv"));
        kino(&[
            "extend",
            wide.to_str().unwrap(),
            "--prompt",
            prompt,
            "--seconds",
            "2",
            "--seed",
            "16",
            "--fit",
            fit,
            "-o",
            cli.to_str().unwrap(),
        ]);
        let (p, c) = (frames(&out), frames(&cli));
        assert_eq!((p.len(), p[0].width, p[0].height), (n + 16, 128, 64));
        assert!(p == c, "{fit}: the same frames as kino extend --fit {fit}");
        if fit == "letterbox" {
            for (i, f) in p.iter().enumerate().skip(n) {
                let bars = f.data.chunks_exact(128 * 3).all(|row| row[..32 * 3].iter().chain(&row[96 * 3..]).all(|&v| v == 0));
                assert!(bars, "generated frame {i}: black bars, the square frame between them");
            }
        }
    }
}

/// The library's warnings reach the host's stderr through the plugin's logger, once however many
/// windows are made; `KINO_LOG=off` silences them.
#[test]
fn ffmpeg_shows_a_library_warning_once() {
    let plugins = install("warn");
    let d = plugins.parent().unwrap();
    let prompt = "a red circle moving left and a blue square moving up and a green triangle standing still beside a yellow circle";
    let source = format!("frei0r_src=size=64x64:framerate=8:filter_name=kino:filter_params={prompt}|3");
    let warnings = |log: &str| {
        let out = run(ffmpeg(&plugins)
            .env("KINO_LOG", log)
            .args(["-f", "lavfi", "-i", &source, "-t", "3", "-c:v", "ffv1"])
            .arg(d.join(format!("{log}.mkv"))));
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        stderr.lines().filter(|l| l.contains("prompt longer")).map(String::from).collect::<Vec<_>>()
    };
    assert_eq!(warnings("warn"), ["kino frei0r: warning: prompt longer than the model's 16 tokens; the rest is ignored"]);
    assert!(warnings("off").is_empty());
    // Errors too: an empty prompt is an error once by default, nothing with KINO_LOG=off.
    let errors = |log: &str| {
        let source = "frei0r_src=size=64x64:framerate=8:filter_name=kino:filter_params=|3";
        let out = ffmpeg(&plugins)
            .env("KINO_LOG", log)
            .args(["-f", "lavfi", "-i", source, "-t", "1", "-c:v", "ffv1"])
            .arg(d.join(format!("empty-{log}.mkv")))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stderr).lines().filter(|l| l.starts_with("kino frei0r: error:")).count()
    };
    assert_eq!(errors("warn"), 1);
    assert_eq!(errors("off"), 0);
}

/// ffmpeg's frei0r_src shears a source's frames at widths that are not a multiple of 16 pixels
/// (its buffer's rows are padded, the plugin is told nothing): kino says so, once, with the size
/// to ask for; at 64 px it says nothing.
#[test]
fn ffmpeg_source_warns_of_widths_it_shears() {
    let plugins = install("shear");
    let d = plugins.parent().unwrap();
    let warnings = |size: &str| {
        let source = format!("frei0r_src=size={size}:framerate=8:filter_name=kino:filter_params=a red circle moving left|3");
        let out = run(ffmpeg(&plugins).args(["-f", "lavfi", "-i", &source, "-t", "1", "-c:v", "ffv1"]).arg(d.join(format!("{size}.mkv"))));
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        stderr.lines().filter(|l| l.contains("shears")).map(String::from).collect::<Vec<_>>()
    };
    let w = warnings("100x64");
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("(here 100)") && w[0].contains("size=112x"), "{w:?}");
    assert!(warnings("64x64").is_empty());
}
