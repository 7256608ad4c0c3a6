//! Generate and Animate render the frames `kino generate` and `kino animate` write.

use std::time::Instant;

use crate::common::*;
use crate::host::{Host, Instance, RenderOpts, Value};
use kino::RgbFrame;
use kino_ofx::abi::*;

#[test]
fn ofx_generate_matches_kino_generate() {
    let _t = turn();
    let d = tmpdir("generate");
    let want = kino_frames(&d.join("ref"), &["generate", "a red circle moving left", "--seed", "3", "--steps", "4"]);
    assert_eq!(want.len(), 17);

    let host = Host::load(plugin_path());
    let inst = host.instance(GENERATE, GENERATOR, None);
    set_common(&inst, "a red circle moving left", 3, 4);
    inst.set_output_range(0.0, 16.0);
    let out = d.join("ofx");
    std::fs::create_dir_all(&out).unwrap();
    let t0 = Instant::now();
    let first = inst.render(0.0, RenderOpts::default()).unwrap();
    let first_ms = t0.elapsed().as_millis();
    let t1 = Instant::now();
    let got = render_all(&inst, 0..17, Some(&out));
    eprintln!(
        "generate: first frame (generates the clip) {first_ms} ms, then {:.2} ms per frame",
        t1.elapsed().as_secs_f64() * 1000.0 / 17.0
    );
    assert_eq!(first, got[0]);
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!(as_rgb(g) == *w, "frame {i} differs from kino generate's");
        assert!(g.rgba.chunks_exact(4).all(|p| p[3] == 255), "opaque");
    }
    // The PNGs written are those frames.
    assert!(png_frames(&out)[..] == want[..]);
    // Long renders report progress: start, updates rising to 1, end; the second render none.
    let progress = host.log.progress.lock().unwrap().clone();
    assert!(progress.first().is_some_and(|s| s.starts_with("start Kino Generate")), "{progress:?}");
    assert_eq!(progress.last().map(String::as_str), Some("end"));
    assert_eq!(progress.iter().filter(|s| s.starts_with("start")).count(), 1, "generated once: {progress:?}");
    let updates: Vec<f64> = progress.iter().filter_map(|s| s.strip_prefix("update ")).map(|v| v.parse().unwrap()).collect();
    assert!(updates.windows(2).all(|w| w[0] <= w[1]) && updates.last() == Some(&1.0), "{updates:?}");
    drop(inst);

    // The general context (hosts without generators): no inputs; the time domain is the clip.
    let inst = host.instance(GENERATE, GENERAL, None);
    set_common(&inst, "a red circle moving left", 3, 4);
    assert_eq!(inst.time_domain(), Some((0.0, 16.0)));
    assert!(as_rgb(&inst.render(5.0, RenderOpts::default()).unwrap()) == want[5]);
    // Past the duration the last frame holds.
    assert!(as_rgb(&inst.render(40.0, RenderOpts::default()).unwrap()) == want[16]);
    drop(inst);
    host.unload();
}

/// A Generate instance with panel field `name` at `value` renders the frames of `kino generate
/// FLAGS`, which differ from the default's; then `more` checks the instance further, given the
/// default's frames.
fn panel_value_is_kino_flag(tag: &str, name: &str, value: Value, flags: &[&str], more: impl FnOnce(&Instance, &[RgbFrame])) {
    let _t = turn();
    let d = tmpdir(tag);
    let args = ["generate", "a red circle moving left", "--seed", "3", "--steps", "4"];
    let want = kino_frames(&d.join("ref"), &[&args[..], flags].concat());
    let plain = kino_frames(&d.join("plain"), &args);
    assert!(want != plain, "{flags:?} changes the frames");
    let host = Host::load(plugin_path());
    let inst = host.instance(GENERATE, GENERATOR, None);
    set_common(&inst, "a red circle moving left", 3, 4);
    inst.set(name, value);
    inst.set_output_range(0.0, 16.0);
    let got = render_all(&inst, 0..17, None);
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!(as_rgb(g) == *w, "frame {i} differs from kino generate {flags:?}'s");
    }
    more(&inst, &plain);
    drop(inst);
    host.unload();
}

#[test]
fn ofx_guidance_interval_matches_kino_generate_and_an_empty_prompt_is_refused() {
    let value = Value::Str(" 0.5, 1 ".into());
    panel_value_is_kino_flag("interval", "guidanceInterval", value, &["--guidance-interval", "0.5,1"], |inst, _| {
        // No prompt yet (a new effect renders before one is typed): an error frame, no generation.
        inst.set("guidanceInterval", Value::Str(String::new()));
        inst.set("prompt", Value::Str("  ".into()));
        assert!(inst.render(0.0, RenderOpts::default()).unwrap().is_error_frame());
        let s = status_after_generate(inst);
        assert!(s.contains("Prompt is empty"), "{s}");
        inst.set("prompt", Value::Str("a red circle moving left".into()));
        // Falling: an error frame and the field named in the status.
        inst.set("guidanceInterval", Value::Str("1,0.5".into()));
        assert!(inst.render(0.0, RenderOpts::default()).unwrap().is_error_frame());
        let s = status_after_generate(inst);
        assert!(s.contains("Guidance interval"), "{s}");
    });
}

#[test]
fn ofx_sampler_matches_kino_generate() {
    // kino-shapes steps stochastically by default: the other choice (1) is deterministic.
    panel_value_is_kino_flag("sampler", "sampler", Value::Int(1), &["--sampler", "deterministic"], |inst, plain| {
        // The model's default (choice 0) is the shipped model's (stochastic from text).
        inst.set("sampler", Value::Int(0));
        let got = render_all(inst, 0..17, None);
        assert!(got.iter().zip(plain).all(|(g, w)| as_rgb(g) == *w), "the model's default gives kino generate's frames");
    });
}

#[test]
fn ofx_storyboard_matches_kino_generate_storyboard() {
    let _t = turn();
    let d = tmpdir("storyboard");
    let board = d.join("board.txt");
    std::fs::write(&board, "0s a red circle moving left\n4s a red circle moving up\n").unwrap();
    let args = ["generate", "--storyboard", board.to_str().unwrap(), "--seconds", "6", "--seed", "3", "--steps", "4"];
    let want = kino_frames(&d.join("ref"), &args);
    assert_eq!(want.len(), 48);
    let host = Host::load(plugin_path());
    let inst = host.instance(GENERATE, GENERATOR, None);
    set_common(&inst, "ignored: the storyboard replaces it", 3, 4);
    inst.set("storyboard", Value::Str("0s a red circle moving left\n4s a red circle moving up".into()));
    inst.set("duration", Value::Double(6.0));
    inst.set_output_range(0.0, 47.0);
    let got = render_all(&inst, 0..48, None);
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!(as_rgb(g) == *w, "frame {i} differs from kino generate --storyboard's");
    }
    // Out of order: an error frame and the line named in the status, never a crash.
    inst.set("storyboard", Value::Str("0s a red circle; 0s a blue circle".into()));
    assert!(inst.render(0.0, RenderOpts::default()).unwrap().is_error_frame());
    let s = status_after_generate(&inst);
    assert!(s.contains("Storyboard") && s.contains("line 2"), "{s}");
    drop(inst);
    host.unload();
}

#[test]
fn ofx_loop_and_keyframes_match_kino_generate() {
    let _t = turn();
    let d = tmpdir("loop-keys");
    let host = Host::load(plugin_path());
    // Loop: `kino generate --loop`'s frames.
    let want = kino_frames(&d.join("loop"), &["generate", "a magenta circle moving right", "--loop", "--seed", "4", "--steps", "4"]);
    let inst = host.instance(GENERATE, GENERATOR, None);
    set_common(&inst, "a magenta circle moving right", 4, 4);
    inst.set("loop", Value::Int(1));
    inst.set_output_range(0.0, want.len() as f64 - 1.0);
    let got = render_all(&inst, 0..want.len() as i32, None);
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!(as_rgb(g) == *w, "loop frame {i} differs from kino generate --loop's");
    }
    drop(inst);

    // Keyframes: two frames of another clip, at 1 s and frame 20: `kino generate --keyframe`'s frames.
    let src = kino_frames(&d.join("src"), &["generate", "a magenta circle moving right", "--seed", "5", "--steps", "4"]);
    let (k0, k1) = (d.join("k0.png"), d.join("k1.png"));
    for (path, f) in [(&k0, &src[2]), (&k1, &src[14])] {
        image::RgbImage::from_raw(f.width, f.height, f.data.clone()).unwrap().save(path).unwrap();
    }
    let (key0, key1) = (format!("1s={}", k0.display()), format!("20f={}", k1.display()));
    let want = kino_frames(
        &d.join("keys"),
        &[
            "generate",
            "a magenta circle moving right",
            "--keyframe",
            &key0,
            "--keyframe",
            &key1,
            "--seconds",
            "3",
            "--seed",
            "6",
            "--steps",
            "4",
        ],
    );
    let inst = host.instance(GENERATE, GENERATOR, None);
    set_common(&inst, "a magenta circle moving right", 6, 4);
    inst.set("duration", Value::Double(3.0));
    inst.set("keyframes", Value::Str(format!("{key0}\n{key1}")));
    inst.set_output_range(0.0, want.len() as f64 - 1.0);
    let got = render_all(&inst, 0..want.len() as i32, None);
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!(as_rgb(g) == *w, "keyframes frame {i} differs from kino generate --keyframe's");
    }
    assert!(as_rgb(&got[8]) == src[2] && as_rgb(&got[20]) == src[14], "the keyframes are the clip's frames at their times, exactly");

    // Bad settings: an error frame and the field named in Status, never a crash.
    for (keys, looped, says) in [(format!("{key0}; 2s={}", d.join("missing.png").display()), 0, "Keyframes"), (key0.clone(), 1, "Loop")] {
        inst.set("keyframes", Value::Str(keys));
        inst.set("loop", Value::Int(looped));
        assert!(inst.render(0.0, RenderOpts::default()).unwrap().is_error_frame());
        let s = status_after_generate(&inst);
        assert!(s.starts_with("error") && s.contains(says), "{s}");
    }
    drop(inst);
    host.unload();
}

#[test]
fn ofx_pixel_depths_row_layouts_and_render_scale_agree() {
    let _t = turn();
    let d = tmpdir("depths");
    let want = kino_frames(&d.join("ref"), &["generate", "a blue square moving up", "--seed", "11", "--steps", "4"]);
    let mut host = Host::load(plugin_path());
    host.project = (128.0, 128.0);
    let inst = host.instance(GENERATE, GENERATOR, None);
    set_common(&inst, "a blue square moving up", 11, 4);
    let base = inst.render(7.0, RenderOpts::default()).unwrap();
    assert_eq!((base.width, base.height), (128, 128), "the project's size");
    for depth in [kOfxBitDepthByte, kOfxBitDepthShort, kOfxBitDepthFloat] {
        for negative_rows in [false, true] {
            let f = inst.render(7.0, RenderOpts { depth, negative_rows, ..Default::default() }).unwrap();
            assert!(f == base, "{depth:?} negative_rows={negative_rows}");
            f.save_png(&d.join(format!("{}-{negative_rows}.png", depth.to_string_lossy())));
        }
    }
    // Half scale renders the model's 64x64 frame as it is.
    let half = inst.render(7.0, RenderOpts { scale: 0.5, ..Default::default() }).unwrap();
    assert_eq!((half.width, half.height), (64, 64));
    assert!(as_rgb(&half) == want[7], "at render scale 0.5 the frame is kino generate's");
    drop(inst);
    host.unload();
}

#[test]
fn ofx_generate_in_an_anamorphic_project_keeps_the_picture_square_as_shown() {
    use kino::frame::{Fit, PixelAspect};
    let _t = turn();
    let d = tmpdir("generate-anamorphic");
    let want = kino_frames(&d.join("ref"), &["generate", "a cyan circle moving down", "--seed", "12", "--steps", "4"]);
    // 64x48 pixels of shape 4:3 (an HDV-like project): shown 4:3 wide, 85.33 units across.
    let mut host = Host::load(plugin_path());
    host.par = 4.0 / 3.0;
    host.project = (64.0 * 4.0 / 3.0, 48.0);
    let inst = host.instance(GENERATE, GENERATOR, None);
    set_common(&inst, "a cyan circle moving down", 12, 4);
    for (choice, fit) in [(0, Fit::Letterbox), (1, Fit::Crop)] {
        inst.set("fit", Value::Int(choice));
        let f = inst.render(6.0, RenderOpts::default()).unwrap();
        assert_eq!((f.width, f.height), (64, 48), "{fit:?}: the project's pixels");
        let placed = want[6].fitted_pixels(64, 48, fit, PixelAspect::SQUARE, PixelAspect::new(4, 3));
        assert!(as_rgb(&f) == placed, "{fit:?}: kino generate's frame, square as shown in 4:3 pixels");
    }
    drop(inst);
    host.unload();
}

#[test]
fn ofx_animate_starts_from_the_chosen_frame() {
    let _t = turn();
    let d = tmpdir("animate");
    let seq = d.join("seq");
    let clip = kino_frames(&seq, &["generate", "a white triangle standing still", "--seed", "8", "--steps", "4"]);
    let still = seq.join("00004.png");
    let want = kino_frames(
        &d.join("ref"),
        &["animate", still.to_str().unwrap(), "--prompt", "a white triangle moving up", "--seed", "9", "--steps", "4"],
    );

    let host = Host::load(plugin_path());
    let inst = host.instance(ANIMATE, FILTER, Some(source_of(&clip)));
    set_common(&inst, "a white triangle moving up", 9, 4);
    inst.set("stillTime", Value::Double(4.0));
    let out = d.join("ofx");
    std::fs::create_dir_all(&out).unwrap();
    let got = render_all(&inst, 0..17, Some(&out));
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!(as_rgb(g) == *w, "animated frame {i} differs from kino animate's");
    }
    assert!(got[16] != got[0]);
    assert!(host.log.violations.lock().unwrap().is_empty(), "{:?}", host.log.violations.lock().unwrap());
    drop(inst);
    host.unload();
}
