//! GStreamer's frei0r wrapper (gst-plugins-bad's `frei0r-src-kino`, ...) as a host. It differs
//! from ffmpeg and MLT in three ways kino must survive: frame times in seconds (which `auto`
//! must recognise), a running element's new string parameter passed as the string itself
//! rather than a pointer to it, and "no time" (1.8e10 s) for a stream without a frame rate.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use kino::RgbFrame;

/// `gst-launch-1.0` with the plugins in `plugins` and a registry of its own (GStreamer caches
/// what it found in a plugin folder).
fn gst(plugins: &Path, tool: &str) -> Command {
    let mut c = host(tool, plugins);
    c.env("GST_REGISTRY", plugins.parent().unwrap().join("registry.bin"));
    c
}

/// 64x64 RGBA frames written raw by `filesink`.
fn rgba_frames(path: &Path) -> Vec<RgbFrame> {
    let bytes = std::fs::read(path).unwrap();
    assert!(!bytes.is_empty() && bytes.len().is_multiple_of(64 * 64 * 4), "{} holds {} bytes", path.display(), bytes.len());
    bytes
        .chunks_exact(64 * 64 * 4)
        .map(|f| RgbFrame { width: 64, height: 64, data: f.chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect() })
        .collect()
}

/// `frei0r-src-kino` with these properties and caps, `buffers` frames into a raw file.
fn source(plugins: &Path, name: &str, props: &[&str], framerate: &str, buffers: usize) -> PathBuf {
    let out = plugins.parent().unwrap().join(name);
    let mut c = gst(plugins, "gst-launch-1.0");
    c.args(["-q", "frei0r-src-kino", &format!("num-buffers={buffers}")])
        .args(props)
        .args(["!", &format!("video/x-raw,format=RGBA,width=64,height=64,framerate={framerate}"), "!", "filesink"])
        .arg(format!("location={}", out.display()));
    run(&mut c);
    out
}

fn is_error_frame(f: &RgbFrame) -> bool {
    f.data[..3] == [200, 20, 20]
}

#[test]
fn gstreamer_lists_the_elements_and_the_source_matches_kino_generate() {
    let plugins = install("gst-src");
    let inspect = run(gst(&plugins, "gst-inspect-1.0").arg("frei0r-src-kino"));
    let text = String::from_utf8_lossy(&inspect.stdout);
    for p in ["prompt", "seed", "time-unit"] {
        assert!(text.contains(p), "gst-inspect lacks {p}: {text}");
    }
    // With the default time unit: GStreamer counts in seconds, as MLT does.
    let got = rgba_frames(&source(&plugins, "src.rgba", &["prompt=a red circle moving left", "seed=3"], "8/1", 16));
    let d = plugins.parent().unwrap();
    let reference = d.join("ref.mkv");
    kino(&["generate", "a red circle moving left", "--seed", "3", "--frames", "48", "-o", reference.to_str().unwrap()]);
    assert_eq!(got.len(), 16);
    assert!(got[..] == frames(&reference)[..16], "the element's frames are kino generate's frames");
}

#[test]
fn a_stream_without_a_frame_rate_gets_error_frames_at_once() {
    let plugins = install("gst-norate");
    let t0 = Instant::now();
    let got = rgba_frames(&source(&plugins, "norate.rgba", &["prompt=a red circle"], "0/1", 2));
    // Without a frame rate GStreamer stamps frames with "no time" (1.8e10 s): an error frame,
    // not hours of footage generated up to that time.
    assert!(t0.elapsed() < Duration::from_secs(60), "took {:?}", t0.elapsed());
    assert!(got.iter().all(is_error_frame), "error frames for a time past the longest footage");
}

/// Sets the prompt of a running source after 5 frames (GStreamer passes the new string itself,
/// where frei0r.h passes a pointer to it): the host keeps running and the frames after the change
/// follow the new prompt.
#[test]
fn a_running_element_takes_a_new_prompt_without_taking_the_host_down() {
    let plugins = install("gst-live");
    let out = plugins.parent().unwrap().join("live.rgba");
    let script = r#"
import sys, gi
gi.require_version("Gst", "1.0")
from gi.repository import Gst
Gst.init(None)
p = Gst.parse_launch('frei0r-src-kino name=k prompt="a red circle moving left" seed=3 num-buffers=16 '
    '! video/x-raw,format=RGBA,width=64,height=64,framerate=8/1 ! identity name=tap ! filesink location=' + sys.argv[1])
k, seen = p.get_by_name("k"), [0]
def probe(pad, info):
    seen[0] += 1
    if seen[0] == 5:
        k.set_property("prompt", "a blue square moving up")
        assert k.get_property("prompt") == "a blue square moving up"
    return Gst.PadProbeReturn.OK
p.get_by_name("tap").get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, probe)
p.set_state(Gst.State.PLAYING)
msg = p.get_bus().timed_pop_filtered(120 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
p.set_state(Gst.State.NULL)
sys.exit(0 if msg and msg.type == Gst.MessageType.EOS else 1)
"#;
    let r = gst(&plugins, "/usr/bin/python3")
        .args(["-c", script])
        .arg(&out)
        .output()
        .expect("python3 with GStreamer's bindings (scripts/setup.sh)");
    assert!(r.status.success(), "the host ended with {:?}: {}", r.status, String::from_utf8_lossy(&r.stderr));
    let got = rgba_frames(&out);
    assert_eq!(got.len(), 16);
    // Blue over red in the object's pixels: red before the change, blue after it.
    let blueness = |f: &RgbFrame| {
        let (mut r, mut b) = (0i64, 0i64);
        for p in f.data.chunks_exact(3).filter(|p| p.iter().map(|&v| v as u32).sum::<u32>() > 200) {
            (r, b) = (r + p[0] as i64, b + p[2] as i64);
        }
        b - r
    };
    assert!(blueness(&got[2]) < 0, "red before the change");
    assert!(got[8..].iter().all(|f| blueness(f) > 0), "blue after the change");
}
