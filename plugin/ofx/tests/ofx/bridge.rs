//! Kino Bridge renders the frames `kino bridge` writes: as a transition (the frames between
//! the transition's first and last) and as a two-input effect (A, the bridge, B).

use crate::common::*;
use crate::host::{Host, Source, Value};

const PROMPT: &str = "a yellow circle moving up";

fn at(frames: &[kino::RgbFrame], first: f64) -> Source {
    Source { first, ..source_of(frames) }
}

#[test]
fn ofx_bridge_matches_kino_bridge_in_both_contexts() {
    let _t = turn();
    let d = tmpdir("bridge");
    let a = kino_frames(&d.join("a"), &["generate", PROMPT, "--seed", "21", "--steps", "4"]);
    let b = kino_frames(&d.join("b"), &["generate", PROMPT, "--seed", "22", "--steps", "4"]);
    assert_eq!((a.len(), b.len()), (17, 17));
    let (a_clip, b_clip) = (d.join("a.mkv"), d.join("b.mkv"));
    write_clip(&a_clip, &a);
    write_clip(&b_clip, &b);
    let host = Host::load(plugin_path());

    // General context: A, then 1.5 s (12 frames at 8 fps) of bridge, then B: `kino bridge A B`.
    let want = kino_frames(
        &d.join("want-general"),
        &[
            "bridge",
            a_clip.to_str().unwrap(),
            b_clip.to_str().unwrap(),
            "--prompt",
            PROMPT,
            "--frames",
            "12",
            "--seed",
            "7",
            "--steps",
            "4",
        ],
    );
    assert_eq!(want.len(), 17 + 12 + 17);
    let inst = host.instance_with(BRIDGE, GENERAL, vec![("SourceFrom", at(&a, 0.0)), ("SourceTo", at(&b, 0.0))]);
    set_common(&inst, PROMPT, 7, 4);
    inst.set("duration", Value::Double(1.5));
    assert_eq!(inst.time_domain(), Some((0.0, 45.0)));
    let got = render_all(&inst, 0..46, None);
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!(as_rgb(g) == *w, "general context: output frame {i} differs from kino bridge's");
    }
    assert!(host.log.violations.lock().unwrap().is_empty(), "{:?}", host.log.violations.lock().unwrap());
    drop(inst);

    // Transition context: B starts at frame 10 on the timeline, overlapping A's last 7 frames;
    // the transition runs over that overlap, 10..=16. Frame 10 is A's, 16 is B's (its frame 6),
    // and 11..=15 bridge A up to frame 10 and B from its frame 6: `kino bridge --only` on the cuts.
    let (a_cut, b_cut) = (d.join("a-cut.mkv"), d.join("b-cut.mkv"));
    write_clip(&a_cut, &a[..=10]);
    write_clip(&b_cut, &b[6..]);
    let want = kino_frames(
        &d.join("want-transition"),
        &[
            "bridge",
            a_cut.to_str().unwrap(),
            b_cut.to_str().unwrap(),
            "--only",
            "--prompt",
            PROMPT,
            "--frames",
            "5",
            "--seed",
            "8",
            "--steps",
            "4",
        ],
    );
    assert_eq!(want.len(), 5);
    let inst = host.instance_with(BRIDGE, TRANSITION, vec![("SourceFrom", at(&a, 0.0)), ("SourceTo", at(&b, 10.0))]);
    inst.set_output_range(10.0, 16.0);
    set_common(&inst, PROMPT, 8, 4);
    assert_eq!(inst.time_domain(), None, "a transition's length is the host's");
    let got = render_all(&inst, 10..17, None);
    assert!(as_rgb(&got[0]) == a[10], "the transition's first frame is A's, untouched");
    assert!(as_rgb(&got[6]) == b[6], "its last frame is B's, untouched");
    for (i, (g, w)) in got[1..6].iter().zip(&want).enumerate() {
        assert!(as_rgb(g) == *w, "transition frame {} differs from kino bridge --only's frame {i}", i + 11);
    }
    assert!(host.log.violations.lock().unwrap().is_empty(), "{:?}", host.log.violations.lock().unwrap());
    drop(inst);

    // A transition with no frame between A's and B's: Generate says why; frames still render.
    let inst = host.instance_with(BRIDGE, TRANSITION, vec![("SourceFrom", at(&a, 0.0)), ("SourceTo", at(&b, 15.0))]);
    inst.set_output_range(15.0, 16.0);
    set_common(&inst, PROMPT, 8, 4);
    inst.press("generate");
    match inst.param("status") {
        Value::Str(s) => assert!(s.contains("too short"), "status: {s}"),
        v => panic!("status is {v:?}"),
    }
    let got = render_all(&inst, 15..17, None);
    assert!(as_rgb(&got[0]) == a[15] && as_rgb(&got[1]) == b[1]);
    drop(inst);
    host.unload();
}
