//! kino in Kdenlive and Shotcut: the committed Kdenlive project (examples/mlt/kdenlive) renders
//! in Debian's melt with the plugin's frames where they belong, and the editors' descriptions
//! (plugin/frei0r/kdenlive, plugin/frei0r/shotcut) name exactly the parameters the plugin has.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use kino::video::decode_video;
use kino::RgbFrame;
use kino_frei0r::Kind;

mod common;

use common::{frames, host, install, kino, melt_render, repo, run};

/// Renders an MLT XML project with melt into lossless RGB frames; every service loads and kino
/// logs no error.
fn render(plugins: &Path, project: &Path) -> Vec<RgbFrame> {
    let (frames, log) = render_with(plugins, project, &[]);
    assert!(!log.contains("kino frei0r: error"), "{log}");
    assert!(!log.contains("failed to load"), "every service in the project loads: {log}");
    frames
}

fn is_error_frame(f: &RgbFrame) -> bool {
    f.data[..3] == [200, 20, 20]
}

/// Pixels clearly brighter than the dark background: a shape is there.
fn bright_pixels(f: &RgbFrame) -> usize {
    f.data.chunks_exact(3).filter(|p| p.iter().any(|&c| c > 128)).count()
}

#[test]
fn the_kdenlive_project_renders_in_melt() {
    let plugins = install("project");
    let d = plugins.parent().unwrap();
    let src = repo().join("examples/mlt/kdenlive");
    std::fs::copy(src.join("kino-clip.mlt"), d.join("kino-clip.mlt")).unwrap();
    let project = std::fs::read_to_string(src.join("kino.kdenlive")).unwrap();
    let with = d.join("with.kdenlive");
    std::fs::write(&with, &project).unwrap();
    // The same project with both kino effects switched off, as Kdenlive's eye button does.
    let mut off = project.clone();
    for service in ["frei0r.kino_extend", "frei0r.kino_animate"] {
        let tag = format!("<property name=\"mlt_service\">{service}</property>");
        assert!(off.contains(&tag), "the project uses {service}");
        off = off.replace(&tag, &format!("{tag}<property name=\"disable\">1</property>"));
    }
    let without = d.join("without.kdenlive");
    std::fs::write(&without, off).unwrap();

    let (a, b) = (render(&plugins, &with), render(&plugins, &without));
    assert_eq!(a.len(), 48, "4 s extended clip + 2 s animated colour clip at 8 fps");
    assert_eq!(b.len(), 48);
    assert!(a.iter().all(|f| (f.width, f.height) == (128, 128)), "the project's size");
    assert!(!a.iter().chain(&b).any(is_error_frame), "no error frames");

    // Kino Extend, Start 2 s: the generated clip's first 16 frames pass through bit-exactly...
    assert!(a[..16] == b[..16], "frames before Start are the clip's own");
    assert!(b[..32].iter().all(|f| bright_pixels(f) > 20), "the source clip (frei0r.kino) is not blank");
    // ...and the rest is new footage, not the clip's frames and not blank.
    for i in 16..32 {
        assert!(a[i] != b[i], "frame {i} is generated, not the source's");
        assert!(bright_pixels(&a[i]) > 20, "frame {i} shows a shape");
    }
    assert!(a[16..32].windows(2).any(|w| w[0] != w[1]), "the new footage moves");

    // Kino Animate on a flat colour clip: it starts on the colour itself (a flat frame survives
    // the fit to the model's size and back), then every frame is generated.
    assert!(b[32..].windows(2).all(|w| w[0] == w[1]), "the source colour clip is still");
    assert!(a[32] == b[32], "the animation starts on the clip's own frame");
    assert!(a[33..].iter().all(|f| *f != b[32]), "animated frames replace the colour");
    assert!(a[32..].iter().skip(4).any(|f| bright_pixels(f) > 20), "a shape appears");
    assert!(a[32..].windows(2).any(|w| w[0] != w[1]), "the animation moves");
}

/// Parameter names the plugin exposes for a kind; `time_unit` is left out of the editors' panels
/// on purpose: both are MLT hosts, which the default (`auto`) recognises, and Kdenlive writes a
/// hidden (`fixed`) parameter as a number, so it could not be pinned to `s` there.
fn plugin_params(kind: Kind) -> BTreeSet<String> {
    kind.params().iter().map(|p| p.name.to_str().unwrap().to_string()).filter(|n| n != "time_unit").collect()
}

/// Each Kdenlive description parsed by a real XML parser (Python's): root tag, `tag` attribute,
/// then one `name type default decimals` line per parameter.
fn kdenlive_description(file: &Path) -> (String, String, Vec<Vec<String>>) {
    let script = "import sys, xml.etree.ElementTree as E\n\
                  r = E.parse(sys.argv[1]).getroot()\n\
                  print(r.tag, r.get('tag'), r.get('id'), sep='\\t')\n\
                  print(r.findtext('name'))\n\
                  for p in r.findall('parameter'):\n    print(p.get('name'), p.get('type'), p.get('default'), p.get('decimals', ''), p.findtext('name'), sep='\\t')\n";
    let out = run(Command::new("python3").arg("-c").arg(script).arg(file));
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().unwrap().split('\t').collect();
    assert_eq!(head[1], head[2], "{}: tag and id are both the MLT service", file.display());
    let name = lines.next().unwrap().to_string();
    assert!(name.to_lowercase().contains("kino"), "{}: the listed name says kino: {name}", file.display());
    let params = lines.map(|l| l.split('\t').map(str::to_string).collect()).collect();
    (head[0].to_string(), head[1].to_string(), params)
}

#[test]
fn kdenlive_descriptions_name_the_plugin_parameters() {
    let dir = repo().join("plugin/frei0r/kdenlive");
    let cases = [
        ("effects/frei0r_kino_extend.xml", "effect", Kind::Extend),
        ("effects/frei0r_kino_animate.xml", "effect", Kind::Animate),
        ("generators/frei0r_kino.xml", "generator", Kind::Generate),
        ("transitions/frei0r_kino_bridge.xml", "transition", Kind::Bridge),
    ];
    for (file, root, kind) in cases {
        let path = dir.join(file);
        let (tag_root, service, params) = kdenlive_description(&path);
        assert_eq!(tag_root, root, "{file}");
        assert_eq!(service, format!("frei0r.{}", kind.name().to_str().unwrap()), "{file}");
        let names: BTreeSet<String> = params.iter().map(|p| p[0].clone()).collect();
        assert_eq!(names.len(), params.len(), "{file}: no parameter twice");
        assert_eq!(names, plugin_params(kind), "{file} names exactly the plugin's parameters");
        for p in &params {
            let (name, ty, default, decimals) = (&p[0], &p[1], &p[2], &p[3]);
            // Kdenlive stores a `fixed` parameter as a number (a string one arrived as "0").
            assert!(["keywords", "constant", "list"].contains(&ty.as_str()), "{file}: {name} has type {ty}");
            // What Kdenlive writes for the defaults is what the plugin accepts.
            let mut s = kino_frei0r::Settings::default();
            let i = kino_frei0r::PARAMS.iter().position(|q| q.name.to_str().unwrap() == name).unwrap();
            *s.slot(i).unwrap() = default.clone();
            match name.as_str() {
                "seed" | "steps" => {
                    assert_eq!((ty.as_str(), decimals.as_str()), ("constant", "0"), "{file}: {name} is a whole-number field");
                    assert!(default.parse::<u64>().is_ok(), "{file}: {name} default {default}");
                }
                // Empty: the model's defaults (kino-shapes: 2 from text, 4 next to given frames),
                // as kino without --guidance; a number field would force one value everywhere.
                "guidance" => assert!(ty == "keywords" && default.is_empty(), "{file}: guidance is a text field, empty by default"),
                "start" => assert!(s.start_seconds().is_ok(), "{file}: start default {default:?}"),
                "device" => assert_eq!(ty, "list", "{file}: device is a list"),
                "fit" => assert!(ty == "list" && s.fit().is_ok(), "{file}: fit is a list whose default the plugin takes"),
                "sampler" => assert!(ty == "list" && s.sampler().is_ok(), "{file}: sampler is a list whose default the plugin takes"),
                _ => assert_eq!(ty, "keywords", "{file}: {name} is a text field"),
            }
        }
    }
}

#[test]
fn shotcut_filters_name_the_plugin_parameters() {
    let dir = repo().join("plugin/frei0r/shotcut");
    for kind in [Kind::Extend, Kind::Animate] {
        let name = kind.name().to_str().unwrap();
        let meta = std::fs::read_to_string(dir.join(name).join("meta.qml")).unwrap();
        assert!(meta.contains(&format!("mlt_service: 'frei0r.{name}'")), "{name}/meta.qml names its MLT service");
        assert!(meta.contains("qml: 'ui.qml'") && dir.join(name).join("ui.qml").is_file());
        let ui = std::fs::read_to_string(dir.join(name).join("ui.qml")).unwrap();
        // Every property the panel writes, and every one it reads back.
        let props = |call: &str| -> BTreeSet<String> {
            ui.match_indices(call).map(|(i, _)| ui[i + call.len()..].split('\'').next().unwrap().to_string()).collect()
        };
        assert_eq!(props("filter.set('"), plugin_params(kind), "{name}/ui.qml sets exactly the plugin's parameters");
        assert_eq!(props("filter.get('"), plugin_params(kind), "{name}/ui.qml shows every parameter");
        // Numbers go to the plugin as strings it parses: never a JavaScript number through set().
        for line in ui.lines().filter(|l| l.contains("filter.set('")) {
            let value = line.split_once(", ").unwrap().1;
            assert!(
                value.starts_with('\'')
                    || value.starts_with("String(")
                    || value.starts_with("text")
                    || value.starts_with("devices[")
                    || value.starts_with("fits[")
                    || value.starts_with("samplers[")
                    || value.contains("toFixed("),
                "{name}/ui.qml: {line}"
            );
        }
    }
}

/// An MLT project: clip A on the lower track, clip B from frame 4 on the upper one, and the
/// kino_bridge transition over their overlap (frames 4..=16); the scene `passes` times in a row.
fn bridge_project(a: &Path, b: &Path, passes: usize) -> String {
    let entries = "<entry producer=\"scene\"/>".repeat(passes);
    format!(
        r#"<?xml version="1.0"?>
<mlt>
  <profile description="kino 64x64 8 fps" width="64" height="64" progressive="1" sample_aspect_num="1" sample_aspect_den="1" display_aspect_num="1" display_aspect_den="1" frame_rate_num="8" frame_rate_den="1" colorspace="709"/>
  <producer id="a" in="0" out="16"><property name="resource">{a}</property></producer>
  <producer id="b" in="0" out="16"><property name="resource">{b}</property></producer>
  <playlist id="lower"><entry producer="a" in="0" out="16"/></playlist>
  <playlist id="upper"><blank length="4"/><entry producer="b" in="0" out="16"/></playlist>
  <tractor id="scene" in="0" out="20">
    <track producer="lower"/>
    <track producer="upper"/>
    <transition in="4" out="16">
      <property name="mlt_service">frei0r.kino_bridge</property>
      <property name="a_track">0</property>
      <property name="b_track">1</property>
      <property name="prompt">a yellow circle moving up</property>
      <property name="seed">8</property>
      <property name="steps">4</property>
    </transition>
  </tractor>
  <playlist id="main">{entries}</playlist>
</mlt>
"#,
        a = a.display(),
        b = b.display()
    )
}

/// Renders `project` with melt into lossless frames, with kino's cache folder at `cache`; the log too.
fn render_with_cache(plugins: &Path, project: &Path, cache: &Path) -> (Vec<RgbFrame>, String) {
    let mut melt = host("melt", plugins);
    melt.env("KINO_CACHE_DIR", cache);
    render_by(melt, project, &[])
}

/// melt's render of an MLT project into lossless frames, with extra consumer settings; and its log.
fn render_with(plugins: &Path, project: &Path, extra: &[&str]) -> (Vec<RgbFrame>, String) {
    render_by(host("melt", plugins), project, extra)
}

/// `project` rendered by `melt` (a host command) into lossless frames beside it; and the log.
fn render_by(mut melt: Command, project: &Path, extra: &[&str]) -> (Vec<RgbFrame>, String) {
    let out = project.with_extension("mkv");
    let consumer = format!("avformat:{}", out.display());
    melt.arg("-silent").arg(project).arg("-consumer").arg(consumer);
    let r = melt_render(melt.args(["vcodec=ffv1", "pix_fmt=bgra", "mlt_image_format=rgba", "an=1"]).args(extra), &out);
    (decode_video(&out).unwrap().frames, String::from_utf8_lossy(&r.stderr).into_owned())
}

/// Writes `frames` as a lossless 8 fps clip.
fn write_clip(path: &Path, frames: &[RgbFrame]) {
    let raw = path.with_extension("rgb");
    std::fs::write(&raw, frames.iter().flat_map(|f| f.data.iter().copied()).collect::<Vec<u8>>()).unwrap();
    let size = format!("{}x{}", frames[0].width, frames[0].height);
    run(Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", &size, "-framerate", "8", "-i"])
        .arg(&raw)
        .args(["-c:v", "ffv1", "-pix_fmt", "bgr0"])
        .arg(path));
}

#[test]
fn melt_bridges_a_transition_from_its_second_pass() {
    let plugins = install("bridge");
    let d = plugins.parent().unwrap();
    let (a_clip, b_clip) = (d.join("a.mkv"), d.join("b.mkv"));
    kino(&["generate", "a yellow circle moving up", "--seed", "21", "--steps", "4", "-o", a_clip.to_str().unwrap()]);
    kino(&["generate", "a yellow circle moving up", "--seed", "22", "--steps", "4", "-o", b_clip.to_str().unwrap()]);
    let (a, b) = (frames(&a_clip), frames(&b_clip));
    // The transition (13 frames) starts on A's frame 4 and ends on B's last 7 (the model reads 7
    // frames to arrive at B), its frames 6..=12: between them, `kino bridge --only` from A's
    // frame 4 into B's frames 6..=12, 5 frames.
    let (a1, b1) = (d.join("a1.mkv"), d.join("b1.mkv"));
    write_clip(&a1, &a[4..5]);
    write_clip(&b1, &b[6..13]);
    let want = d.join("want.mkv");
    kino(&[
        "bridge",
        a1.to_str().unwrap(),
        b1.to_str().unwrap(),
        "--only",
        "--frames",
        "5",
        "--prompt",
        "a yellow circle moving up",
        "--seed",
        "8",
        "--steps",
        "4",
        "-o",
        want.to_str().unwrap(),
    ]);
    let want = frames(&want);
    assert_eq!(want.len(), 5);

    // One melt run playing the scene twice: the first pass shows A, the second the bridge.
    let cache = d.join("cache");
    let project = d.join("twice.mlt");
    std::fs::write(&project, bridge_project(&a_clip, &b_clip, 2)).unwrap();
    let (f, log) = render_with_cache(&plugins, &project, &cache);
    assert_eq!(f.len(), 42, "the 21-frame scene twice");
    assert!(!log.contains("kino frei0r: error"), "{log}");
    assert!(log.contains("first pass over the transition"), "the first pass says what it does: {log}");
    for t in 4..=16 {
        assert!(f[t] == a[t], "first pass, frame {t}: A's own frame");
    }
    let second = &f[21..];
    assert!(second[4] == a[4], "the transition starts on A's frame, untouched");
    for t in 10..=16 {
        assert!(second[t] == b[t - 4], "and ends on B's last frames, untouched: frame {t}");
    }
    for (i, w) in want.iter().enumerate() {
        assert!(second[5 + i] == *w, "second pass, frame {}: kino bridge --only's frame {i}", 5 + i);
    }
    assert!(f[..4] == second[..4] && f[17..21] == second[17..], "outside the transition both passes agree");

    // Another process (as an editor's render is) finds the first pass in kino's cache folder.
    let once = d.join("once.mlt");
    std::fs::write(&once, bridge_project(&a_clip, &b_clip, 1)).unwrap();
    let (g, _) = render_with_cache(&plugins, &once, &cache);
    assert!(g[..] == second[..], "a render in a new process bridges the transition at once");
    // Without that memory, one pass shows A and says so; never an error frame.
    let (h, log) = render_with_cache(&plugins, &once, &d.join("empty-cache"));
    assert!((4..=16).all(|t| h[t] == a[t]) && log.contains("first pass over the transition"), "{log}");
    // Rendered on two threads (MLT's parallel processing), recorded as it is: the first clip
    // passes through, and the log says why (not that the transition was never played from its
    // first frame, which a thread that starts inside it used to add).
    let mut melt = host("melt", &plugins);
    melt.env("KINO_CACHE_DIR", &cache);
    let (p, log) = render_by(melt, &once, &["real_time=-2"]);
    assert!((4..=16).all(|t| p[t] == a[t]), "the first clip passes through");
    assert!(log.contains("several threads") && !log.contains("from its first frame once"), "{log}");
}

/// A 25 fps MLT project of `clip` with Kino Extend on it (switched off with `disable`), its
/// playlist showing `entries` (in, out) of the clip in turn.
fn extend_project(clip: &Path, entries: &[(usize, usize)], disable: bool) -> String {
    let playlist: String = entries.iter().map(|(i, o)| format!("<entry producer=\"clip\" in=\"{i}\" out=\"{o}\"/>")).collect();
    format!(
        r#"<?xml version="1.0"?>
<mlt LC_NUMERIC="C">
  <profile width="128" height="128" progressive="1" sample_aspect_num="1" sample_aspect_den="1" display_aspect_num="1" display_aspect_den="1" frame_rate_num="25" frame_rate_den="1" colorspace="709"/>
  <producer id="clip"><property name="resource">{}</property><property name="mlt_service">avformat</property>
    <filter><property name="mlt_service">frei0r.kino_extend</property><property name="prompt">a green square moving right</property><property name="seed">6</property><property name="disable">{}</property></filter>
  </producer>
  <playlist id="main">{playlist}</playlist>
</mlt>"#,
        clip.display(),
        u8::from(disable)
    )
}

/// `kino generate`'s footage for `prompt` and `seed` as an editor holds it: at 25 fps (each
/// frame shown 3 or 4 times), in H.264, ending on a 2 s freeze; `<name>.mp4` in `d`.
fn editor_clip(d: &Path, name: &str, prompt: &str, seed: &str) -> std::path::PathBuf {
    let base = d.join(format!("{name}-base.mkv"));
    kino(&["generate", prompt, "--seed", seed, "-o", base.to_str().unwrap()]);
    let clip = d.join(format!("{name}.mp4"));
    run(Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(&base)
        .args(["-vf", "fps=25,tpad=stop_duration=2:stop_mode=clone", "-c:v", "libx264", "-crf", "23", "-pix_fmt", "yuv420p"])
        .arg(&clip));
    clip
}

/// What an editor's user does: kino's own 8 fps footage, put in a 25 fps project (every frame
/// shown 3 or 4 times), encoded in H.264 (a frozen frame is never repeated bit for bit), ending
/// on a 2 s freeze, with Kino Extend and no start. The clip is kept up to its end however the
/// editor shows it: played in order; with a frame shown twice (a paused or refreshed preview);
/// rendered in parallel (each thread with an instance of its own): passed through without
/// start, the one-thread frames with it; and Kino Animate in parallel.
#[test]
fn extend_keeps_the_clip_however_an_editor_shows_it() {
    let plugins = install("editor-extend");
    let d = plugins.parent().unwrap();
    let clip = editor_clip(d, "clip", "a green square moving right", "5");
    let n = decode_video(&clip).unwrap().frames.len();
    let real = n - 50;
    assert!(real > 40, "about 2 s of footage and 2 s of freeze at 25 fps: {n} frames");

    let project = |name: &str, entries: &[(usize, usize)], disable: bool| {
        let p = d.join(name);
        std::fs::write(&p, extend_project(&clip, entries, disable)).unwrap();
        p
    };
    // In order: the clip up to its freeze, then new footage.
    let whole = [(0, n - 1)];
    let (with, log) = render_with(&plugins, &project("with.mlt", &whole, false), &[]);
    let (without, _) = render_with(&plugins, &project("without.mlt", &whole, true), &[]);
    assert!(!log.contains("kino frei0r: error"), "{log}");
    let first_new = with.iter().zip(&without).position(|(a, b)| a != b).expect("new footage replaces the freeze");
    // The clip's last real frame is shown 3 or 4 times before the freeze begins.
    assert!((real - 2..=real + 6).contains(&first_new), "the new footage starts at the freeze ({real}), not at frame {first_new}");
    assert!(with[first_new..].iter().all(|f| bright_pixels(f) > 20), "the new footage shows a shape");
    assert!(with[first_new..].windows(2).filter(|w| w[0] != w[1]).count() > 10, "the new footage moves");

    // Frame 0 shown twice (an editor's preview refreshing it): still the clip's own frames.
    let again = [(0, 0), (0, n - 1)];
    let (with2, log2) = render_with(&plugins, &project("again.mlt", &again, false), &[]);
    assert!(!log2.contains("kino frei0r: error"), "{log2}");
    assert!(with2[0] == without[0] && with2[1..] == with[..], "a frame shown again is not the clip's end");

    // Parallel rendering: each render thread has its own instance and sees only some frames.
    // Without start the clip passes through, and the user is told to set start.
    let (par, log3) = render_with(&plugins, &project("parallel.mlt", &whole, false), &["real_time=-2"]);
    assert!(log3.contains("Set start") && par == without, "the clip untouched: {log3}");
    // The same with a clip at the project's own rate (each frame shown once, then copies): a
    // thread that had not seen the other take turns yet used to find the freeze from its share
    // of the frames and replace one copy (3 renders in 10), passing the rest through.
    let own_rate = d.join("own-rate.mkv");
    run(Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(d.join("clip-base.mkv"))
        .args(["-vf", "tpad=stop_duration=3:stop_mode=clone", "-c:v", "ffv1", "-pix_fmt", "bgr0"])
        .arg(&own_rate));
    let m = decode_video(&own_rate).unwrap().frames.len();
    let at_8fps = |disable: bool| {
        extend_project(&own_rate, &[(0, m - 1)], disable)
            .replace("frame_rate_num=\"25\"", "frame_rate_num=\"8\"")
            .replace("width=\"128\" height=\"128\"", "width=\"64\" height=\"64\"")
    };
    let (own, own_off) = (d.join("own.mlt"), d.join("own-off.mlt"));
    std::fs::write(&own, at_8fps(false)).unwrap();
    std::fs::write(&own_off, at_8fps(true)).unwrap();
    let (untouched, _) = render_with(&plugins, &own_off, &[]);
    for i in 0..4 {
        let (par, log) = render_with(&plugins, &own, &["real_time=-2"]);
        let differ: Vec<usize> = (0..par.len()).filter(|&j| untouched.get(j) != Some(&par[j])).collect();
        assert!(differ.is_empty() && par.len() == m && log.contains("Set start"), "render {i}: frames {differ:?} changed: {log}");
    }
    // With start, the instances take the frames in order together: the one-thread render.
    let with_start =
        |p: String| p.replace("<property name=\"disable\">", "<property name=\"start\">1.6</property><property name=\"disable\">");
    let started = d.join("started.mlt");
    std::fs::write(&started, with_start(extend_project(&clip, &whole, false))).unwrap();
    let (serial, log) = render_with(&plugins, &started, &[]);
    assert!(!log.contains("kino frei0r: error"), "{log}");
    let kept = 40; // 1.6 s at 25 fps
    assert!(serial[..kept] == without[..kept] && serial[kept..] != without[kept..], "the clip up to start, then new footage");
    for threads in ["-2", "-4"] {
        let (par, log3) = render_with(&plugins, &started, &[&format!("real_time={threads}")]);
        assert!(!log3.contains("kino frei0r: error"), "{log3}");
        let differ: Vec<usize> = (0..par.len().min(serial.len())).filter(|&i| par[i] != serial[i]).collect();
        assert!(par.len() == serial.len() && differ.is_empty(), "real_time={threads}: frames {differ:?} differ from the one-thread render");
    }
    // The filter's `threads` property: MLT renders each frame a slice at a time through one
    // instance made at a slice's height. Footage cannot be made a band at a time: the clip
    // passes through, said once, and melt ends cleanly (it crashed as it exited: the library
    // was unloaded under MLT's slice threads).
    let sliced = d.join("sliced.mlt");
    let threads_property = "<property name=\"threads\">2</property><property name=\"disable\">";
    std::fs::write(&sliced, with_start(extend_project(&clip, &whole, false)).replace("<property name=\"disable\">", threads_property))
        .unwrap();
    let mut melt = host("melt", &plugins);
    melt.env("MLT_SLICES_COUNT", "2");
    let (par, log) = render_by(melt, &sliced, &[]);
    assert!(log.matches("a slice of each frame at a time").count() == 1 && par == without, "the clip untouched: {log}");
    // Two clips one after the other with the same settings (a razor cut, a copied effect): the
    // second clip's instances take turns among themselves, never with the first clip's, and
    // its own frames up to start are kept.
    let clip2 = editor_clip(d, "clip2", "a red circle moving left", "8");
    let one_clip = with_start(extend_project(&clip, &whole, false));
    let filter_start = one_clip.find("<producer id=\"clip\">").unwrap();
    let producer_end = one_clip.find("</producer>").unwrap() + "</producer>".len();
    let second = one_clip[filter_start..producer_end]
        .replace("id=\"clip\"", "id=\"clip2\"")
        .replace(&clip.display().to_string(), &clip2.display().to_string());
    let two = one_clip
        .replacen("</producer>", &format!("</producer>\n  {second}"), 1)
        .replace("</playlist>", &format!("<entry producer=\"clip2\" in=\"0\" out=\"{}\"/></playlist>", n - 1));
    let two_clips = d.join("two.mlt");
    std::fs::write(&two_clips, two).unwrap();
    let (serial2, _) = render_with(&plugins, &two_clips, &[]);
    assert_eq!(serial2.len(), 2 * n);
    assert!(serial2[..n] == serial[..], "the first clip as alone");
    assert!(serial2[n + kept..].iter().all(|f| !serial[kept..].contains(f)), "the second clip's new footage is its own");
    for threads in ["-2", "-4"] {
        let (par, log5) = render_with(&plugins, &two_clips, &[&format!("real_time={threads}")]);
        assert!(!log5.contains("kino frei0r: error") && par.len() == serial2.len(), "{log5}");
        assert!(
            par[..kept] == serial2[..kept] && par[n..n + kept] == serial2[n..n + kept],
            "real_time={threads}: each clip kept up to start"
        );
        assert!(par[n + kept..].iter().all(|f| !serial[kept..].contains(f)), "real_time={threads}: no first-clip footage in the second");
        let differ = (0..par.len()).filter(|&i| par[i] != serial2[i]).count();
        eprintln!("two clips, real_time={threads}: {differ} of {} frames differ from the one-thread render", par.len());
    }
    // Kino Animate on the same moving clip: the render threads' instances animate one first frame.
    let animate = d.join("animate.mlt");
    std::fs::write(&animate, extend_project(&clip, &whole, false).replace("kino_extend", "kino_animate")).unwrap();
    let (one, _) = render_with(&plugins, &animate, &[]);
    assert!(one.windows(2).filter(|w| w[0] != w[1]).count() > 10, "the animation moves");
    for threads in ["-2", "-4"] {
        let (par, log4) = render_with(&plugins, &animate, &[&format!("real_time={threads}")]);
        assert!(!log4.contains("kino frei0r: error"), "{log4}");
        let differ: Vec<usize> = (0..par.len().min(one.len())).filter(|&i| par[i] != one[i]).collect();
        assert!(
            par.len() == one.len() && differ.is_empty(),
            "animate, real_time={threads}: frames {differ:?} differ from the one-thread render"
        );
    }
}
