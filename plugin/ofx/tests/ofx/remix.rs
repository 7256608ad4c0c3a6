//! Kino Remix renders the frames `kino remix` writes.

use crate::common::*;
use crate::host::{Host, Value};

#[test]
fn ofx_remix_matches_kino_remix() {
    let _t = turn();
    let d = tmpdir("remix");
    let base = d.join("base.mkv");
    kino(&["generate", "a red circle moving left", "--seed", "31", "--steps", "4", "-o", base.to_str().unwrap()]);
    let clip = kino::video::decode_video(&base).unwrap().frames;
    let want = kino_frames(
        &d.join("want"),
        &["remix", base.to_str().unwrap(), "--prompt", "a blue circle moving left", "--strength", "0.5", "--seed", "9", "--steps", "4"],
    );
    assert_eq!(want.len(), clip.len());
    let host = Host::load(plugin_path());
    for context in [FILTER, GENERAL] {
        let inst = host.instance(REMIX, context, Some(source_of(&clip)));
        set_common(&inst, "a blue circle moving left", 9, 4);
        inst.set("strength", Value::Double(0.5));
        if context == GENERAL {
            assert_eq!(inst.time_domain(), Some((0.0, 16.0)), "as long as its clip");
        }
        let got = render_all(&inst, 0..17, None);
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!(as_rgb(g) == *w, "{context}: frame {i} differs from kino remix's");
        }
        // Strength 0 gives the clip back, bit for bit.
        inst.set("strength", Value::Double(0.0));
        assert!(as_rgb(&inst.render(5.0, Default::default()).unwrap()) == clip[5], "strength 0 keeps the clip");
        drop(inst);
    }
    assert!(host.log.violations.lock().unwrap().is_empty(), "{:?}", host.log.violations.lock().unwrap());
    host.unload();
}
