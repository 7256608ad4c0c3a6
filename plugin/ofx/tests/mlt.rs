//! The OpenFX plugin in the test host's MLT-like mode ([`host::Host::load_mlt`]): the filter
//! context only, no temporal clip access (every fetch returns the frame being rendered), no
//! source frame range, no bundle path, an instance per frame, four threads, frames out of order.
//!
//! What must hold there: no effect ever draws over a source (it passes through wherever the
//! plugin cannot generate), the host's limits are said once per instance in the panel's words,
//! and Extend and Animate, working in place, make the same frames whatever the order or thread,
//! the frames the `kino` CLI makes from the same clip.

mod common;
mod host;

use common::*;
use host::{Frame, Host, Instance, Source, Value};
use kino::RgbFrame;
use std::path::Path;

/// A fixed shuffle (xorshift), so failures replay.
fn shuffled(n: i32, seed: u64) -> Vec<i32> {
    let mut v: Vec<i32> = (0..n).collect();
    let mut x = seed.max(1);
    for i in (1..v.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.swap(i, (x % (i as u64 + 1)) as usize);
    }
    v
}

/// Frames the host sent, in the order of `times`, top row first.
fn source_frames(src: &Source, times: &[i32]) -> Vec<RgbFrame> {
    times
        .iter()
        .map(|&t| RgbFrame {
            width: src.width,
            height: src.height,
            data: src.frames[t as usize].chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect(),
        })
        .collect()
}

/// The panel as an MLT user sets it: the prompt, seed and steps, and the project's frame rate
/// (8 fps here), which MLT 7.40 does not tell plugins.
fn set_mlt(inst: &Instance, prompt: &str, seed: i32, steps: i32) {
    set_common(inst, prompt, seed, steps);
    inst.set("frameRate", Value::Double(8.0));
}

fn messages(host: &Host) -> Vec<(String, String)> {
    host.log.messages.lock().unwrap().clone()
}

fn status(inst: &Instance) -> String {
    match inst.param("status") {
        Value::Str(s) => s,
        v => panic!("{v:?}"),
    }
}

/// No message speaks the command line.
fn assert_panel_words(msgs: &[(String, String)]) {
    for (_, m) in msgs {
        assert!(!m.contains("--") && !m.contains("kino models"), "a CLI word in {m:?}");
    }
}

fn starts(host: &Host) -> usize {
    host.log.progress.lock().unwrap().iter().filter(|s| s.starts_with("start")).count()
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    xs[xs.len() / 2]
}

/// A clip of `real` frames, its last held for `held` more (a clip lengthened on the timeline).
fn held(clip: &[RgbFrame], held: usize) -> Source {
    let mut frames = clip.to_vec();
    frames.extend(std::iter::repeat_n(clip[clip.len() - 1].clone(), held));
    source_of(&frames)
}

#[test]
fn mlt_lists_every_effect_as_a_filter_and_says_what_works_once() {
    let _t = turn();
    let host = Host::load_mlt(plugin_path());
    let ids: Vec<&str> = host.plugins.iter().map(|p| p.id.as_str()).collect();
    // Generate is listed too (it has a filter context); Bridge is not (transition and general only).
    assert_eq!(ids, [GENERATE, EXTEND, ANIMATE, REMIX]);
    for p in &host.plugins {
        assert_eq!(p.contexts.keys().collect::<Vec<_>>(), [FILTER], "{}", p.id);
    }
    let src = source_of(&vec![RgbFrame { width: 16, height: 16, data: vec![90; 16 * 16 * 3] }; 4]);
    for id in [GENERATE, EXTEND, ANIMATE, REMIX] {
        let before = messages(&host).len();
        let inst = host.instance(id, FILTER, Some(src.clone()));
        let said = messages(&host)[before..].to_vec();
        assert_eq!(said.len(), 1, "{id}: one message on creation: {said:?}");
        assert_eq!(said[0].0, "OfxMessageWarning");
        let text = &said[0].1;
        match id {
            GENERATE => assert!(text.contains("replaces its input") && text.contains("no generator context"), "{text}"),
            REMIX => assert!(text.contains("Kino Remix cannot work here") && text.contains("passes through"), "{text}"),
            _ => assert!(
                text.contains("MLT has no temporal clip access, no source frame range")
                    && text.contains("Start (frame)")
                    && text.contains("in place"),
                "{text}"
            ),
        }
        assert!(text.contains("no frame rate") && text.contains("Set Frame rate (fps) to the project's"), "{id}: {text}");
        assert_eq!(status(&inst), *text, "{id}: the Status line says it too");
        // Rendering frames with the same instance says nothing more about the host.
        for t in 0..3 {
            inst.render(t as f64, Default::default()).unwrap();
        }
        let again: Vec<_> = messages(&host)[before..].iter().filter(|(_, m)| m == text).cloned().collect();
        assert_eq!(again.len(), 1, "{id}: once per instance, not per frame");
        // Real MLT (7.40) makes an instance per frame: the message is posted once per load
        // (not once per frame, which filled melt's log), while every instance's Status says it.
        let more: Vec<_> = (0..3).map(|_| host.instance(id, FILTER, Some(src.clone()))).collect();
        let again: Vec<_> = messages(&host)[before..].iter().filter(|(_, m)| m == text).cloned().collect();
        assert_eq!(again.len(), 1, "{id}: once per load, not per instance made for a frame");
        for i in &more {
            assert_eq!(status(i), *text, "{id}: each instance's Status line says it");
        }
    }
    assert_panel_words(&messages(&host));
    host.unload();
}

#[test]
fn mlt_never_draws_over_a_source() {
    let _t = turn();
    let host = Host::load_mlt(plugin_path());
    // A source that is nothing like an error frame or generated footage: a gradient.
    let frames: Vec<RgbFrame> = (0..6u8)
        .map(|k| RgbFrame {
            width: 32,
            height: 24,
            data: (0..32 * 24).flat_map(|i| [(i % 32 * 8) as u8, (i / 32 * 10) as u8, k * 40]).collect(),
        })
        .collect();
    let src = source_of(&frames);
    let times = shuffled(6, 3);
    // A hostile package: a tokenizer length that once meant a 64 GiB allocation inside the host.
    let hostile = tmpdir("hostile");
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/kino-shapes");
    for e in std::fs::read_dir(&shipped).unwrap().flatten() {
        std::fs::copy(e.path(), hostile.join(e.file_name())).unwrap();
    }
    let manifest = std::fs::read_to_string(hostile.join("kino.json")).unwrap();
    let manifest = manifest.replacen("\"max_length\": 16", "\"max_length\": 4294967295", 1);
    assert!(manifest.contains("4294967295"), "the shipped kino.json changed shape");
    std::fs::write(hostile.join("kino.json"), manifest).unwrap();
    for id in [GENERATE, EXTEND, ANIMATE, REMIX] {
        let mut cases: Vec<(&str, Vec<(&str, Value)>)> = vec![
            ("missing model", vec![("model", Value::Str(format!("/nowhere/{id}")))]),
            ("hostile package", vec![("model", Value::Str(hostile.display().to_string()))]),
            ("bad steps", vec![("steps", Value::Int(0))]),
            ("bad duration", vec![("duration", Value::Double(-1.0))]),
            ("bad device", vec![("device", Value::Int(7))]),
        ];
        if id == REMIX {
            // Without temporal clip access Remix cannot work at all: every case passes through.
            cases.push(("a host without temporal access", vec![]));
        } else if id != GENERATE {
            // Footage from frame 2 on: frames from there hit the error.
            for c in &mut cases {
                c.1.push(("start", Value::Int(2)));
            }
            // A capability missing: no Start and no clip end known; or the frames Start needs
            // never rendered (only frame 5 is).
            if id == EXTEND {
                cases.push(("no Start in a host without a frame range", vec![]));
            }
            cases.push(("frames Start needs not rendered yet", vec![("start", Value::Int(4))]));
        }
        for (what, sets) in &cases {
            let setup = |inst: &Instance| {
                set_mlt(inst, "a purple square moving left", 21, 2);
                for (n, v) in sets {
                    inst.set(n, v.clone());
                }
            };
            let times: Vec<i32> = if what.contains("not rendered") { vec![5] } else { times.clone() };
            let got = host.render_mlt(id, &src, &times, 4, &setup);
            for (f, want) in got.iter().zip(source_frames(&src, &times)) {
                assert!(as_rgb(f) == want && !f.is_error_frame(), "{id}, {what}: the source passes through untouched");
            }
        }
    }
    let msgs = messages(&host);
    assert!(msgs.iter().any(|(k, m)| k == "OfxMessageError" && m.contains("Model package") && m.contains("/nowhere/")), "{msgs:?}");
    assert!(msgs.iter().any(|(_, m)| m.contains("Steps 0")), "{msgs:?}");
    assert!(msgs.iter().any(|(_, m)| m.contains("tokenizer.max_length") && m.contains("4294967295")), "{msgs:?}");

    assert!(msgs.iter().any(|(_, m)| m.contains("have not been rendered yet") && m.contains("Play from frame")), "{msgs:?}");
    assert_panel_words(&msgs);
    assert!(host.log.violations.lock().unwrap().is_empty(), "{:?}", host.log.violations.lock().unwrap());
    host.unload();
}

#[test]
fn mlt_generate_as_a_filter_matches_kino_generate() {
    let _t = turn();
    let d = tmpdir("mlt-generate");
    kino(&["generate", "a red circle moving left", "--seed", "3", "--steps", "4", "-o", &format!("{}/", d.display())]);
    let want = png_frames(&d);
    let host = Host::load_mlt(plugin_path());
    let input = source_of(&vec![RgbFrame { width: 64, height: 64, data: vec![7; 64 * 64 * 3] }; 17]);
    let times = shuffled(17, 5);
    let got = host.render_mlt(GENERATE, &input, &times, 4, &|inst| set_mlt(inst, "a red circle moving left", 3, 4));
    for (f, &t) in got.iter().zip(&times) {
        assert!(as_rgb(f) == want[t as usize], "frame {t} is kino generate's");
    }
    assert_eq!(starts(&host), 1, "generated once for 17 instances in 4 threads");
    host.unload();
}

#[test]
fn mlt_generate_in_a_4_3_frame_is_fitted_never_stretched() {
    use kino::frame::Fit;
    let _t = turn();
    let d = tmpdir("mlt-generate-43");
    // Its own seed: footage is cached per process, and the test above counts its generations.
    kino(&["generate", "a red circle moving left", "--seed", "13", "--steps", "4", "-o", &format!("{}/", d.display())]);
    let want = png_frames(&d);
    let host = Host::load_mlt(plugin_path());
    let input = source_of(&vec![RgbFrame { width: 128, height: 96, data: vec![7; 128 * 96 * 3] }; 17]);
    let times = shuffled(17, 5);
    for (choice, fit) in [(0, Fit::Letterbox), (1, Fit::Crop)] {
        let got = host.render_mlt(GENERATE, &input, &times, 2, &|inst| {
            set_mlt(inst, "a red circle moving left", 13, 4);
            inst.set("fit", Value::Int(choice));
        });
        for (f, &t) in got.iter().zip(&times) {
            let f = as_rgb(f);
            assert!(f == want[t as usize].fitted(128, 96, fit), "frame {t} is kino generate's, fitted ({fit:?})");
            if fit == Fit::Letterbox {
                // Pillarbox: the square picture is 96x96 in the middle, 16 px black bars.
                let inner: Vec<u8> = (0..96).flat_map(|y| f.data[3 * (y * 128 + 16)..3 * (y * 128 + 112)].to_vec()).collect();
                assert!(inner == want[t as usize].try_resized(96, 96).unwrap().data, "frame {t}: the whole picture, scaled, round");
                assert!((0..96).all(|y| f.data[3 * y * 128..3 * (y * 128 + 16)]
                    .iter()
                    .chain(&f.data[3 * (y * 128 + 112)..3 * (y * 128 + 128)])
                    .all(|&v| v == 0)));
            } else {
                assert!(
                    f.data[..] == want[t as usize].try_resized(128, 128).unwrap().data[3 * 16 * 128..3 * 112 * 128],
                    "frame {t}: the middle rows of the picture at 128x128"
                );
            }
        }
    }
    host.unload();
}

/// As tests/extend.rs measures `kino extend`'s seam: a clip of the shipped model's default
/// settings, extended by 3 s with another seed.
const PROMPT: &str = "a red square moving right";

/// The frames of one MLT-like pass over the lengthened clip, Start at its first held frame.
fn extend_pass(host: &Host, src: &Source, times: &[i32], threads: usize) -> Vec<Frame> {
    host.render_mlt(EXTEND, src, times, threads, &|inst| {
        set_mlt(inst, PROMPT, 12, 20);
        inst.set("duration", Value::Double(3.0));
        inst.set("start", Value::Int(17));
    })
}

#[test]
fn mlt_extend_in_place_continues_the_clip_the_same_in_any_order() {
    let _t = turn();
    let d = tmpdir("mlt-extend");
    let base = d.join("base.mkv");
    kino(&["generate", PROMPT, "--seed", "11", "-o", base.to_str().unwrap()]);
    let clip = kino::video::decode_video(&base).unwrap().frames;
    assert_eq!(clip.len(), 17);
    let after = d.join("after");
    kino(&["extend", base.to_str().unwrap(), "--prompt", PROMPT, "--seconds", "3", "--seed", "12", "-o", &format!("{}/", after.display())]);
    let want = png_frames(&after);
    assert_eq!(want.len(), 41);
    // The clip lengthened on the timeline: its 17 frames, then the last held for 24.
    let n = 41;
    let src = held(&clip, 24);
    let host = Host::load_mlt(plugin_path());

    // Played in order (one thread): the clip passes through, then kino extend's frames.
    let order: Vec<i32> = (0..n).collect();
    let played = extend_pass(&host, &src, &order, 1);
    for (t, f) in played.iter().enumerate() {
        assert!(as_rgb(f) == want[t], "frame {t} differs from kino extend's");
    }
    let rgb: Vec<RgbFrame> = played.iter().map(as_rgb).collect();
    let across = rgb[16].mean_abs_diff(&rgb[17]);
    let within = median((18..n as usize).map(|i| rgb[i - 1].mean_abs_diff(&rgb[i])).collect());
    eprintln!("in-place extend seam: {across:.2} across, median step {within:.2} inside, ratio {:.2}", across / within);
    assert!(across <= 1.5 * within, "the seam ({across:.2}) stands out against the footage's own steps ({within:.2})");
    assert_eq!(starts(&host), 1);

    // A seek back and replay, shuffled, four threads: nothing is made again, frames identical.
    let times = shuffled(n, 11);
    let again = extend_pass(&host, &src, &times, 4);
    for (f, &t) in again.iter().zip(&times) {
        assert!(*f == played[t as usize], "frame {t} changed on replay");
    }
    assert_eq!(starts(&host), 1, "a seek back does not regenerate");

    // From nothing (caches purged), shuffled, four threads, an instance per frame: a frame
    // from Start on is kino extend's, or (its context not yet rendered) the source untouched.
    host.instance(EXTEND, FILTER, Some(src.clone())).purge_caches();
    let times = shuffled(n, 29);
    let first = extend_pass(&host, &src, &times, 4);
    let srcs = source_frames(&src, &times);
    let mut waited = 0;
    for ((f, &t), s) in first.iter().zip(&times).zip(&srcs) {
        if as_rgb(f) != want[t as usize] {
            assert!(t >= 17 && as_rgb(f) == *s, "frame {t} is neither kino extend's nor the source");
            waited += 1;
        }
    }
    let second = extend_pass(&host, &src, &shuffled(n, 31), 4);
    for (f, &t) in second.iter().zip(&shuffled(n, 31)) {
        assert!(*f == played[t as usize], "frame {t} differs with another order");
    }
    eprintln!("shuffled from nothing: {waited} generated frames passed through until their context was rendered");
    assert_eq!(starts(&host), 2, "made once after the purge, whatever the order");

    // A render that starts past Start (fresh memory): the source passes through and the Status
    // says which frames to play.
    host.instance(EXTEND, FILTER, Some(src.clone())).purge_caches();
    let inst = host.instance(EXTEND, FILTER, Some(src.clone()));
    set_mlt(&inst, PROMPT, 12, 20);
    inst.set("duration", Value::Double(3.0));
    inst.set("start", Value::Int(17));
    let f = inst.render(20.0, Default::default()).unwrap();
    assert!(as_rgb(&f) == source_frames(&src, &[20])[0]);
    let s = status(&inst);
    assert!(s.contains("frames 5-16 have not been rendered yet") && s.contains("Play from frame 5"), "{s}");
    drop(inst);
    assert!(
        host.log.violations.lock().unwrap().is_empty(),
        "only the frame rendered is fetched: {:?}",
        host.log.violations.lock().unwrap()
    );
    assert_panel_words(&messages(&host));
    host.unload();
}

#[test]
fn mlt_animate_in_place_starts_from_the_frame_at_start() {
    let _t = turn();
    let d = tmpdir("mlt-animate");
    let seq = d.join("seq");
    kino(&["generate", "a white triangle standing still", "--seed", "8", "--steps", "4", "-o", &format!("{}/", seq.display())]);
    let clip = png_frames(&seq);
    let reference = d.join("ref");
    let still = seq.join("00004.png");
    kino(&[
        "animate",
        still.to_str().unwrap(),
        "--prompt",
        "a white triangle moving up",
        "--seed",
        "9",
        "--steps",
        "4",
        "-o",
        &format!("{}/", reference.display()),
    ]);
    let want = png_frames(&reference);
    let src = held(&clip, 4); // 21 frames: the animation (17) from frame 4 fits
    let host = Host::load_mlt(plugin_path());
    let setup = |inst: &Instance| {
        set_mlt(inst, "a white triangle moving up", 9, 4);
        inst.set("start", Value::Int(4));
    };
    let check = |times: &[i32], frames: &[Frame], strict: bool| {
        let srcs = source_frames(&src, times);
        let mut waited = 0;
        for ((f, &t), s) in frames.iter().zip(times).zip(&srcs) {
            let expected = if t < 4 { s.clone() } else { want[t as usize - 4].clone() };
            if as_rgb(f) != expected {
                assert!(!strict && t > 4 && as_rgb(f) == *s, "frame {t} is neither kino animate's nor the source");
                waited += 1;
            }
        }
        waited
    };
    let times = shuffled(21, 41);
    let waited = check(&times, &host.render_mlt(ANIMATE, &src, &times, 4, &setup), false);
    let times = shuffled(21, 43);
    check(&times, &host.render_mlt(ANIMATE, &src, &times, 4, &setup), true);
    eprintln!("animate, shuffled from nothing: {waited} frames passed through until frame 4 was rendered");
    assert_eq!(starts(&host), 1, "animated once");
    assert!(host.log.violations.lock().unwrap().is_empty(), "{:?}", host.log.violations.lock().unwrap());
    host.unload();
}
