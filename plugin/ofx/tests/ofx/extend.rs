//! Extend passes its source through and renders the frames `kino extend` writes.

use crate::common::*;
use crate::host::{Host, RenderOpts, Value};
use kino_ofx::abi::*;

#[test]
fn ofx_extend_passes_source_through_and_matches_kino_extend() {
    let _t = turn();
    let d = tmpdir("extend");
    let base = d.join("base.mkv");
    kino(&["generate", "a green square moving right", "--seed", "5", "--steps", "4", "-o", base.to_str().unwrap()]);
    let clip = kino::video::decode_video(&base).unwrap().frames;
    assert_eq!(clip.len(), 17);
    // `kino extend` after the clip and, with `--at start`, before it.
    let reference = |name: &str, at: &[&str]| {
        let mut args = vec!["extend", base.to_str().unwrap()];
        args.extend(at);
        args.extend(["--prompt", "a green square moving right", "--frames", "16", "--seed", "6", "--steps", "4"]);
        kino_frames(&d.join(name), &args)
    };
    let want_after = reference("after", &[]);
    assert_eq!(want_after.len(), 33);
    let want_before = reference("before", &["--at", "start"]);

    let host = Host::load(plugin_path());
    // Filter context: inside the clip the frames are the clip's, bit for bit.
    let inst = host.instance(EXTEND, FILTER, Some(source_of(&clip)));
    set_common(&inst, "a green square moving right", 6, 4);
    inst.set("duration", Value::Double(2.0));
    let passed = render_all(&inst, 0..17, None);
    for (i, f) in passed.iter().enumerate() {
        assert!(as_rgb(f) == clip[i], "source frame {i} passes through untouched");
    }
    // Hosts that ask IsIdentity first get the same answer without a render.
    let ident = inst.render(3.0, RenderOpts { use_identity: true, ..Default::default() }).unwrap();
    assert!(as_rgb(&ident) == clip[3]);
    // Short and float sources pass through exactly too.
    for depth in [kOfxBitDepthShort, kOfxBitDepthFloat] {
        assert!(as_rgb(&inst.render(9.0, RenderOpts { depth, negative_rows: true, ..Default::default() }).unwrap()) == clip[9]);
    }
    drop(inst);

    // A seam inside the clip (hosts that keep a filter as long as its source: extend a clip
    // whose tail is a held frame): frames up to it pass through, later ones continue the clip
    // up to the seam, as extending the first 13 frames does.
    let inst = host.instance(EXTEND, FILTER, Some(source_of(&clip)));
    set_common(&inst, "a green square moving right", 6, 4);
    inst.set("seam", Value::Int(12));
    let seamed = render_all(&inst, 0..17, None);
    drop(inst);
    let inst = host.instance(EXTEND, GENERAL, Some(source_of(&clip[..13])));
    set_common(&inst, "a green square moving right", 6, 4);
    let shorter = render_all(&inst, 0..17, None);
    drop(inst);
    for (i, f) in seamed.iter().enumerate() {
        if i <= 12 {
            assert!(as_rgb(f) == clip[i], "frame {i} before the seam passes through");
        } else {
            assert!(*f == shorter[i] && as_rgb(f) != clip[i], "frame {i} after the seam is generated");
        }
    }

    // General context: the time domain grows by the duration; past the end, kino extend's frames.
    let inst = host.instance(EXTEND, GENERAL, Some(source_of(&clip)));
    set_common(&inst, "a green square moving right", 6, 4);
    inst.set("duration", Value::Double(2.0));
    assert_eq!(inst.time_domain(), Some((0.0, 32.0)));
    let out = d.join("ofx-after");
    std::fs::create_dir_all(&out).unwrap();
    let got = render_all(&inst, 0..33, Some(&out));
    for (i, (g, w)) in got.iter().zip(&want_after).enumerate() {
        assert!(as_rgb(g) == *w, "appended output frame {i} differs from kino extend's");
    }
    // In Natron, at a render scale other than 1 (its zoomed-out viewer) Extend declines in
    // GetRegionOfDefinition, so Natron renders it at full scale: footage is never made from
    // scaled frames. Other hosts (a proxy render) get footage from the scaled frames.
    assert!(inst.render(20.0, RenderOpts { scale: 0.5, ..Default::default() }).is_ok());
    host.name_as("fr.inria.Natron");
    assert_eq!(inst.render(20.0, RenderOpts { scale: 0.5, ..Default::default() }).err(), Some(kOfxStatFailed));
    assert!(inst.render(20.0, RenderOpts::default()).is_ok());
    host.name_as("org.kino.testhost");
    assert!(host.log.violations.lock().unwrap().is_empty(), "{:?}", host.log.violations.lock().unwrap());

    // Prepend: the new footage comes before the clip (negative times), as `kino extend --at start`.
    inst.set("placement", Value::Int(1));
    assert_eq!(inst.time_domain(), Some((-16.0, 16.0)));
    let got = render_all(&inst, -16..17, None);
    for (i, (g, w)) in got.iter().zip(&want_before).enumerate() {
        assert!(as_rgb(g) == *w, "prepended output frame {i} differs from kino extend --at start's");
    }
    assert!(host.log.violations.lock().unwrap().is_empty(), "{:?}", host.log.violations.lock().unwrap());
    drop(inst);
    host.unload();
}

/// A 4:3 clip extended by a square model: frames before Start pass through untouched, the
/// context is read through the inverse of Fit (Letterbox: the source's centre, cropped square;
/// Crop: the whole source, letterboxed into the square), and the footage `kino extend` makes
/// from exactly those frames is placed with Fit, never stretched.
#[test]
fn ofx_extend_of_a_4_3_clip_reads_and_places_through_fit() {
    use kino::frame::Fit;
    let _t = turn();
    let d = tmpdir("extend-43");
    let square = kino_frames(&d.join("seq"), &["generate", "a green square moving right", "--seed", "5", "--steps", "4"]);
    // A 4:3 source: the square clip at 128x128, its middle 96 rows; then 16 held frames.
    let wide: Vec<kino::RgbFrame> = square.iter().map(|f| f.fitted(128, 96, Fit::Crop)).collect();
    let mut src = wide.clone();
    src.extend(std::iter::repeat_n(wide[16].clone(), 16));
    let host = Host::load(plugin_path());
    for (choice, fit) in [(0, Fit::Letterbox), (1, Fit::Crop)] {
        // What the model is given: the 17 real frames read back at 64x64 through the inverse.
        let ctx = d.join(format!("ctx-{choice}"));
        std::fs::create_dir_all(&ctx).unwrap();
        for (i, f) in wide.iter().enumerate() {
            let m = f.fitted(64, 64, fit.inverse());
            image::RgbImage::from_raw(64, 64, m.data).unwrap().save(ctx.join(format!("{i:05}.png"))).unwrap();
        }
        let clip = d.join(format!("ctx-{choice}.mkv"));
        let ok = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-framerate", "8", "-i"])
            .arg(ctx.join("%05d.png"))
            .args(["-c:v", "ffv1", "-pix_fmt", "bgr0"])
            .arg(&clip)
            .status()
            .unwrap();
        assert!(ok.success());
        let want = kino_frames(
            &d.join(format!("after-{choice}")),
            &["extend", clip.to_str().unwrap(), "--prompt", "a green square moving right", "--frames", "16", "--seed", "6", "--steps", "4"],
        );
        assert_eq!(want.len(), 33);

        let inst = host.instance(EXTEND, FILTER, Some(source_of(&src)));
        set_common(&inst, "a green square moving right", 6, 4);
        inst.set("duration", Value::Double(2.0));
        inst.set("start", Value::Int(17));
        inst.set("fit", Value::Int(choice));
        let got = render_all(&inst, 0..33, None);
        for (i, g) in got.iter().enumerate() {
            let g = as_rgb(g);
            if i < 17 {
                assert!(g == wide[i], "{fit:?}: source frame {i} passes through untouched");
            } else {
                assert!(g == want[i].fitted(128, 96, fit), "{fit:?}: frame {i} is kino extend's from the fitted context, placed with Fit");
            }
        }
        if fit == Fit::Letterbox {
            let g = as_rgb(&got[20]);
            assert!((0..96).all(|y| g.data[3 * y * 128..3 * (y * 128 + 16)].iter().all(|&v| v == 0)), "pillarbox bars");
        }
    }
    host.unload();
}

#[test]
fn ofx_extend_in_an_anamorphic_project_reads_and_places_by_pixel_shape() {
    use kino::frame::{Fit, PixelAspect};
    let _t = turn();
    let d = tmpdir("extend-anamorphic");
    let square = kino_frames(&d.join("seq"), &["generate", "a green square moving right", "--seed", "5", "--steps", "4"]);
    // A project of 64x64 pixels each twice as wide as tall (shown 2:1, 128 units across in
    // canonical coordinates); the source shows a 2:1 crop of the square clip.
    let par = PixelAspect::new(2, 1);
    let wide: Vec<kino::RgbFrame> = square.iter().map(|f| f.fitted_pixels(64, 64, Fit::Crop, PixelAspect::SQUARE, par)).collect();
    let mut src = wide.clone();
    src.extend(std::iter::repeat_n(wide[16].clone(), 16));
    let mut host = Host::load(plugin_path());
    host.project = (128.0, 64.0);
    host.par = 2.0;
    let fit = Fit::Letterbox;
    // What the model is given: the real frames as shown (2:1), read into its square frame.
    let ctx = d.join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    for (i, f) in wide.iter().enumerate() {
        let m = f.fitted_pixels(64, 64, fit.inverse(), par, PixelAspect::SQUARE);
        image::RgbImage::from_raw(64, 64, m.data).unwrap().save(ctx.join(format!("{i:05}.png"))).unwrap();
    }
    let clip = d.join("ctx.mkv");
    let ok = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-framerate", "8", "-i"])
        .arg(ctx.join("%05d.png"))
        .args(["-c:v", "ffv1", "-pix_fmt", "bgr0"])
        .arg(&clip)
        .status()
        .unwrap();
    assert!(ok.success());
    let want = kino_frames(
        &d.join("after"),
        &["extend", clip.to_str().unwrap(), "--prompt", "a green square moving right", "--frames", "16", "--seed", "6", "--steps", "4"],
    );
    assert_eq!(want.len(), 33);

    let inst = host.instance(EXTEND, FILTER, Some(source_of(&src)));
    set_common(&inst, "a green square moving right", 6, 4);
    inst.set("duration", Value::Double(2.0));
    inst.set("start", Value::Int(17));
    inst.set("fit", Value::Int(0));
    let got = render_all(&inst, 0..33, None);
    for (i, g) in got.iter().enumerate() {
        assert_eq!((g.width, g.height), (64, 64), "frame {i}: the project's pixels, not its canonical width");
        let g = as_rgb(g);
        if i < 17 {
            assert!(g == wide[i], "source frame {i} passes through untouched");
        } else {
            let placed = want[i].fitted_pixels(64, 64, fit, PixelAspect::SQUARE, par);
            assert!(g == placed, "frame {i} is kino extend's, shown square in the 2:1 pixels");
        }
    }
    // The model's square frame shown in 2:1 pixels is 32 pixels wide: pillarbox bars of 16.
    let g = as_rgb(&got[20]);
    let column_black = |x: usize| (0..64).all(|y| g.data[3 * (y * 64 + x)..3 * (y * 64 + x) + 3].iter().all(|&v| v == 0));
    assert!((0..16).chain(48..64).all(column_black), "bars beside the square picture");
    assert!(!(16..48).all(column_black), "the picture between them");
    drop(inst);
    host.unload();
}
