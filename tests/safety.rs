//! Users' files are safe: outputs never destroy anything but an earlier output, never an input;
//! a full disk, a signal or a crash leaves no partial file; bad flags get one clear line.
//! Each case is a reproduction from docs/reliability.md, run through the real `kino` binary.

mod common;

use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{assert_clean_failure, assert_ok, kino, tmpdir, Scratch};

fn kino_in(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_kino")).current_dir(dir).args(args).output().expect("run kino")
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

fn one_error_line(out: &std::process::Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "one error line expected: {stderr}");
    errors[0].to_string()
}

const FAST: &[&str] = &["--steps", "1", "--quiet"];

fn generate(dir: &Path, output: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["generate", "a red circle moving left", "-o", output];
    args.extend_from_slice(FAST);
    args.extend_from_slice(extra);
    kino_in(dir, &args)
}

#[test]
fn an_output_folder_never_deletes_the_users_files() {
    let d = tmpdir("safety-folders");
    std::fs::create_dir(d.join("mine")).unwrap();
    std::fs::write(d.join("mine/notes.txt"), b"the user's").unwrap();
    std::fs::write(d.join("clip.txt"), b"keep").unwrap();
    // A folder holding other files, the working folder, its parent: refused, all files kept.
    for output in ["mine", "mine/", ".", "..", "./"] {
        let out = generate(&d, output, &[]);
        assert!(!out.status.success(), "-o {output} succeeded");
        let line = one_error_line(&out);
        assert!(line.contains("-o"), "{line}");
    }
    assert_eq!(std::fs::read(d.join("mine/notes.txt")).unwrap(), b"the user's");
    assert_eq!(names(&d), ["clip.txt", "mine"]);

    // A new folder: frames plus kino's marker; a second run may replace it (it is kino's).
    assert_ok(&generate(&d, "frames/", &[]));
    let first = names(&d.join("frames"));
    assert!(first.contains(&kino::video::FRAMES_MARKER.to_string()) && first.contains(&"00016.png".to_string()), "{first:?}");
    assert_ok(&generate(&d, "frames/", &["--frames", "5"]));
    assert_eq!(names(&d.join("frames")).len(), 6, "the earlier run's 17 frames were replaced by 5");
    // ... unless the user put something of theirs in it since.
    std::fs::write(d.join("frames/edit.txt"), b"mine").unwrap();
    let out = generate(&d, "frames/", &[]);
    assert!(one_error_line(&out).contains("holds other files"));
    assert!(d.join("frames/edit.txt").is_file() && d.join("frames/00004.png").is_file());
    // ... or a picture named like a frame past those kino wrote (its marker counts them).
    std::fs::remove_file(d.join("frames/edit.txt")).unwrap();
    std::fs::write(d.join("frames/00050.png"), std::fs::read(d.join("frames/00004.png")).unwrap()).unwrap();
    let out = generate(&d, "frames/", &[]);
    assert!(one_error_line(&out).contains("holds other files"));
    assert!(d.join("frames/00050.png").is_file());
    // An empty folder is fine.
    std::fs::create_dir(d.join("empty")).unwrap();
    assert_ok(&generate(&d, "empty", &[]));
    assert!(d.join("empty/00000.png").is_file());
}

#[test]
fn a_frame_pattern_adds_frames_beside_other_files_and_never_overwrites() {
    let d = tmpdir("safety-pattern");
    std::fs::create_dir(d.join("shots")).unwrap();
    std::fs::write(d.join("shots/other.txt"), b"keep").unwrap();
    assert_ok(&generate(&d, "shots/kino_%03d.png", &[]));
    let n = names(&d.join("shots"));
    assert_eq!(n.len(), 18, "{n:?}");
    assert!(n.contains(&"other.txt".to_string()) && n.contains(&"kino_016.png".to_string()));
    // Frames of that name exist now: refused, nothing changed.
    let before = std::fs::read(d.join("shots/kino_000.png")).unwrap();
    let out = generate(&d, "shots/kino_%03d.png", &["--seed", "99"]);
    assert!(one_error_line(&out).contains("already holds 17 frame(s)"));
    assert_eq!(std::fs::read(d.join("shots/kino_000.png")).unwrap(), before);
    // A pattern in the working folder (no folder part) works, and the temp folder is gone.
    assert_ok(&generate(&d, "f_%03d.png", &["--frames", "5"]));
    assert!(d.join("f_004.png").is_file());
    assert!(!names(&d).iter().any(|n| n.contains("partial")), "{:?}", names(&d));
    // Malformed patterns are refused up front.
    for bad in ["x_%s.png", "x_%d_%d.png", "x_%099d.png"] {
        let out = generate(&d, bad, &[]);
        assert!(one_error_line(&out).contains("%d"), "{bad}");
    }
}

#[test]
fn outputs_never_replace_an_input() {
    let d = tmpdir("safety-inputs");
    assert_ok(&generate(&d, "clip.mkv", &["--frames", "5"]));
    assert_ok(&generate(&d, "still/", &["--frames", "1"]));
    let still = d.join("still/00000.png");
    let clip_bytes = std::fs::read(d.join("clip.mkv")).unwrap();
    let still_bytes = std::fs::read(&still).unwrap();
    let cases: Vec<Vec<&str>> = vec![
        // --preview naming the input, the output, or the input through another spelling.
        vec!["animate", "still/00000.png", "--prompt", "x", "-o", "a.mp4", "--preview", "still/00000.png"],
        vec!["animate", "still/00000.png", "--prompt", "x", "-o", "a.mp4", "--preview", "./still/../still/00000.png"],
        vec!["generate", "x", "-o", "a.mp4", "--preview", "a.mp4"],
        // --preview named like the frames -o writes (refused before anything is made).
        vec!["generate", "x", "-o", "f_%05d.png", "--preview", "f_00003.png"],
        vec!["generate", "x", "-o", "still/", "--preview", "still/p.png"],
        // -o naming the input, or a folder (kino's own) that holds it.
        vec!["extend", "clip.mkv", "--prompt", "x", "-o", "clip.mkv"],
        vec!["extend", "clip.mkv", "--prompt", "x", "-o", "./clip.mkv"],
        vec!["animate", "still/00000.png", "--prompt", "x", "-o", "still/"],
        vec!["animate", "still/00000.png", "--prompt", "x", "-o", "still/%05d.png"],
    ];
    // Another name for the same file or folder (a hard link; a bind mount works the same way):
    // the file is compared, not the path.
    std::fs::hard_link(d.join("clip.mkv"), d.join("same.mkv")).unwrap();
    let cases = cases.into_iter().chain([
        vec!["extend", "clip.mkv", "--prompt", "x", "-o", "same.mkv"],
        vec!["extend", "same.mkv", "--prompt", "x", "-o", "clip.mkv"],
    ]);
    for mut args in cases {
        args.extend_from_slice(FAST);
        let out = kino_in(&d, &args);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(one_error_line(&out).contains("would overwrite the input") || !args.contains(&"same.mkv"), "{args:?}");
    }
    assert_eq!(std::fs::read(d.join("clip.mkv")).unwrap(), clip_bytes);
    assert_eq!(std::fs::read(&still).unwrap(), still_bytes);
    assert!(!d.join("a.mp4").exists());
    assert!(!d.join("f_00003.png").exists() && !d.join("still/p.png").exists(), "no contact sheet left");
}

/// A replaced output keeps who may read it (its permissions: a private clip stays private),
/// and a file its owner made read-only is not replaced.
#[test]
fn a_replaced_output_keeps_its_permissions_and_a_read_only_one_is_kept() {
    use std::os::unix::fs::PermissionsExt;
    let d = tmpdir("safety-modes");
    let mode = |name: &str| std::fs::metadata(d.join(name)).unwrap().permissions().mode() & 0o777;
    std::fs::write(d.join("private.mp4"), b"old").unwrap();
    std::fs::set_permissions(d.join("private.mp4"), std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_ok(&generate(&d, "private.mp4", &["--frames", "5"]));
    assert_ne!(std::fs::read(d.join("private.mp4")).unwrap(), b"old", "replaced");
    assert_eq!(mode("private.mp4"), 0o600, "still private");
    std::fs::write(d.join("kept.mp4"), b"mine").unwrap();
    std::fs::set_permissions(d.join("kept.mp4"), std::fs::Permissions::from_mode(0o444)).unwrap();
    let out = generate(&d, "kept.mp4", &["--frames", "5"]);
    assert!(!out.status.success());
    assert!(one_error_line(&out).contains("is read-only; kino does not replace it"));
    assert_eq!(std::fs::read(d.join("kept.mp4")).unwrap(), b"mine");
    assert_eq!(mode("kept.mp4"), 0o444);
}

/// Outputs that cannot be written are refused before any work (a full model run takes seconds to
/// minutes): a name too long for the file system, `file/` where `file` is a file, a folder named
/// like a video. A storyboard file is an input like any other. A link to a folder takes frames.
#[test]
fn unwritable_outputs_are_refused_before_the_work() {
    let d = tmpdir("safety-early");
    std::fs::write(d.join("file"), b"mine").unwrap();
    std::fs::create_dir(d.join("shot.mp4")).unwrap();
    let board = "0s a red circle moving left\n1s a red circle moving up\n";
    std::fs::write(d.join("board.mp4"), board).unwrap();
    let too_long = format!("{}.mp4", "n".repeat(256));
    let cases: &[(&[&str], &str)] = &[
        (&["generate", "x", "-o", &too_long], "bytes long"),
        (&["generate", "x", "-o", "file/"], "exists and is not a folder"),
        (&["generate", "x", "-o", "shot.mp4"], "is a folder; name a video file"),
        (&["generate", "--storyboard", "board.mp4", "--seconds", "2", "-o", "board.mp4"], "would overwrite the input"),
    ];
    for (args, needle) in cases {
        // With a model that does not exist: only a check made before loading it can answer.
        let mut args = args.to_vec();
        args.extend(["--model", "/nonexistent/pkg", "--quiet"]);
        let out = kino_in(&d, &args);
        assert!(!out.status.success(), "{args:?} succeeded");
        let line = one_error_line(&out);
        assert!(line.contains(needle), "{args:?}: {line}");
    }
    assert_eq!(std::fs::read(d.join("file")).unwrap(), b"mine");
    assert_eq!(std::fs::read_to_string(d.join("board.mp4")).unwrap(), board);
    assert!(names(&d.join("shot.mp4")).is_empty());

    std::fs::create_dir(d.join("real")).unwrap();
    std::os::unix::fs::symlink("real", d.join("link")).unwrap();
    assert_ok(&generate(&d, "link/", &["--frames", "5"]));
    assert!(std::fs::symlink_metadata(d.join("link")).unwrap().file_type().is_symlink(), "the link stays");
    assert!(names(&d.join("real")).contains(&"00004.png".to_string()), "{:?}", names(&d.join("real")));
    // A link whose folder is gone is said before any frame is made, naming -o.
    std::os::unix::fs::symlink("gone", d.join("dangling")).unwrap();
    let out = generate(&d, "dangling/", &["--frames", "5"]);
    assert!(!out.status.success());
    let line = one_error_line(&out);
    assert!(line.starts_with("error: -o:") && line.contains("is a link to gone, which does not exist"), "{line}");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("generating"), "refused before generating");
    assert!(!d.join("gone").exists());
}

#[test]
fn long_names_work_and_bad_flags_get_one_clear_line() {
    let d = tmpdir("safety-flags");
    // The longest name a folder takes: the temporary name must not be longer.
    let long = format!("{}.mp4", "n".repeat(251));
    assert_ok(&generate(&d, &long, &[]));
    assert!(d.join(&long).is_file());
    let out = d.join("t.mp4");
    let o = out.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["--threads", "10000"], "--threads 10000: use 1 to 256"),
        (&["--threads", "0"], "--threads 0"),
        (&["--fps", "1e-9"], "--fps"),
        (&["--fps", "1e300"], "--fps"),
        (&["--fps", "NaN"], "--fps"),
        (&["--preview", "nowhere/p.png"], "nowhere does not exist"),
        (&["--preview", "p.jpg"], ".png"),
        // --frames is held to the hour --seconds is (100000 frames at 8 fps: 3.5 hours).
        (&["--frames", "100000"], "at most an hour"),
        (&["--frames", "28801"], "at most an hour"),
    ];
    for (extra, needle) in cases {
        let r = generate(&d, o, extra);
        assert_clean_failure(&r, &out, needle);
    }
    // One .png for a clip: the message says how to write PNG frames.
    let png = d.join("x.png");
    let r = generate(&d, png.to_str().unwrap(), &["--frames", "1"]);
    assert_clean_failure(&r, &png, "use a frame pattern (-o frame_%05d.png");
    let huge = "a".repeat(100_000);
    let r = generate(&d, o, &["--negative-prompt", &huge]);
    assert_clean_failure(&r, &out, "the negative prompt is 100000 characters");
    let r = kino(&["generate", &huge, "-o", o]);
    assert_clean_failure(&r, &out, "the prompt is 100000 characters");
    // Invalid UTF-8: one line, not the usage text.
    let r = Command::new(env!("CARGO_BIN_EXE_kino"))
        .arg("generate")
        .arg(std::ffi::OsStr::from_bytes(b"\xffa"))
        .args(["-o", o])
        .output()
        .unwrap();
    assert_eq!(r.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&r.stderr).trim().lines().count(), 1, "{}", String::from_utf8_lossy(&r.stderr));
    // No doubled text: no part of the message repeats.
    let r = generate(&d, o, &["--model", "/nonexistent/pkg"]);
    let line = one_error_line(&r);
    let parts: Vec<&str> = line.split(": ").filter(|p| p.len() > 12).collect();
    for (i, p) in parts.iter().enumerate() {
        assert!(!parts[i + 1..].contains(p), "{p:?} repeated in {line}");
    }
}

/// A tmpfs of `kb` KiB: the only honest full disk. CI runs as root, where mounting works; a
/// developer's unprivileged run says why it cannot check this.
fn small_disk(tag: &str, kb: usize) -> Option<Scratch> {
    let d = tmpdir(tag);
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={kb}k"), "tmpfs"])
        .arg(&d)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"));
        assert!(!root, "running as root but could not mount a tmpfs for the full-disk test");
        eprintln!("full-disk test needs root (mount -t tmpfs); not run");
        return None;
    }
    Some(d)
}

/// A cache on a full disk costs only speed, and the warning says why.
#[test]
fn a_cache_on_a_full_disk_is_said_and_the_job_goes_on() {
    let Some(cache) = small_disk("safety-full-cache-disk", 48) else { return };
    let d = tmpdir("safety-full-cache");
    let r = Command::new(env!("CARGO_BIN_EXE_kino"))
        .current_dir(&d)
        .env("KINO_CACHE_DIR", &cache)
        .args(["generate", "a red circle moving left", "-o", "c.mp4", "--steps", "1"])
        .output()
        .unwrap();
    assert_ok(&r);
    assert!(d.join("c.mp4").is_file());
    let stderr = String::from_utf8_lossy(&r.stderr);
    let said: Vec<&str> = stderr.lines().filter(|l| l.contains("cannot cache the optimised graph")).collect();
    assert_eq!(said.len(), 1, "said once, not per graph: {stderr}");
    assert!(said[0].contains("no space left on its disk"), "{stderr}");
    let _ = Command::new("umount").arg(&cache).status();
    let _ = std::fs::remove_dir_all(&cache);
}

#[test]
fn a_full_disk_is_an_error_and_leaves_nothing() {
    let Some(d) = small_disk("safety-full", 48) else { return };
    for (output, extra) in [
        ("frames/", vec!["--seconds", "8"]),
        ("f_%03d.png", vec!["--seconds", "8"]),
        ("c.mkv", vec!["--seconds", "8"]),
        // About 120 KiB of H.264 (30 s made about 43 KiB: too close to the disk's size).
        ("c.mp4", vec!["--seconds", "90"]),
    ] {
        let r = generate(&d, output, &extra);
        assert!(!r.status.success(), "{output} fit on a 48 KiB disk?");
        let line = one_error_line(&r);
        assert!(line.contains("No space left"), "{line}");
        assert!(names(&d).is_empty(), "{output}: left {:?}", names(&d));
    }
    // The video fits, the preview does not: neither is left.
    let wan = concat!(env!("CARGO_MANIFEST_DIR"), "/models/fixtures/wan-tiny");
    let r = generate(&d, "c.mp4", &["--frames", "1", "--preview", "big.png", "--size", "256x256", "--model", wan]);
    if !r.status.success() {
        assert!(names(&d).is_empty(), "left {:?}", names(&d));
    }
    let _ = Command::new("umount").arg(&d).status();
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn signals_stop_the_job_and_remove_the_partial_output() {
    let d = tmpdir("safety-signals");
    for (sig, code) in [("INT", 130), ("TERM", 143), ("HUP", 129)] {
        for output in ["long.mkv", "long/", "l_%04d.png"] {
            let mut child = Command::new(env!("CARGO_BIN_EXE_kino"))
                .current_dir(&d)
                .args(["generate", "a blue square moving up", "-o", output, "--seconds", "300", "--quiet"])
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            // Wait until the output has started (its temporary file exists), then signal.
            let t0 = Instant::now();
            while !names(&d).iter().any(|n| n.contains("partial")) {
                assert!(t0.elapsed() < Duration::from_secs(60), "no partial output appeared");
                std::thread::sleep(Duration::from_millis(20));
            }
            std::thread::sleep(Duration::from_millis(300));
            assert!(Command::new("kill").arg(format!("-{sig}")).arg(child.id().to_string()).status().unwrap().success());
            let status = child.wait().unwrap();
            assert_eq!(status.code(), Some(code), "SIG{sig} on {output}");
            assert!(names(&d).is_empty(), "SIG{sig} on {output} left {:?}", names(&d));
        }
    }
    // SIGKILL leaves a partial; the next run writing the same output removes it.
    let mut child = Command::new(env!("CARGO_BIN_EXE_kino"))
        .current_dir(&d)
        .args(["generate", "x", "-o", "k.mkv", "--seconds", "300", "--quiet"])
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while !names(&d).iter().any(|n| n.contains("partial")) {
        assert!(t0.elapsed() < Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(names(&d).len(), 1, "the killed run's partial");
    assert_ok(&generate(&d, "k.mkv", &[]));
    assert_eq!(names(&d), ["k.mkv"]);
    // A killed run's partial of another output is removed by any run writing into the folder
    // once it is an hour old (a young one may be another machine's, writing).
    let mut child = Command::new(env!("CARGO_BIN_EXE_kino"))
        .current_dir(&d)
        .args(["generate", "x", "-o", "gone.mkv", "--seconds", "300", "--quiet"])
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    let partial = loop {
        if let Some(n) = names(&d).into_iter().find(|n| n.contains("partial")) {
            break d.join(n);
        }
        assert!(t0.elapsed() < Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(20));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    assert_ok(&generate(&d, "k.mkv", &[]));
    assert!(partial.exists(), "a young partial of another output is left");
    let two_hours_ago = std::time::SystemTime::now() - Duration::from_secs(7200);
    std::fs::File::options().write(true).open(&partial).unwrap().set_modified(two_hours_ago).unwrap();
    assert_ok(&generate(&d, "k.mkv", &[]));
    assert_eq!(names(&d), ["k.mkv"], "an old partial of another output is removed");
}

#[test]
fn a_job_larger_than_memory_is_refused_before_it_starts() {
    let d = tmpdir("safety-memory");
    let pkg = d.join("huge");
    std::fs::create_dir(&pkg).unwrap();
    for e in std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("models/kino-shapes")).unwrap().flatten() {
        std::fs::copy(e.path(), pkg.join(e.file_name())).unwrap();
    }
    // A denoiser of 4 TiB: the real graph plus an unknown length-delimited field (number 100)
    // whose 4 TiB of content is sparse (no disk), a valid protobuf no machine here can hold.
    let graph = pkg.join("denoiser.onnx");
    let mut f = std::fs::OpenOptions::new().append(true).open(&graph).unwrap();
    let extra: u64 = 4 << 40;
    let mut field = vec![0xA2, 0x06]; // tag: field 100, wire type 2
    let mut n = extra;
    while n >= 0x80 {
        field.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    field.push(n as u8);
    std::io::Write::write_all(&mut f, &field).unwrap();
    let len = f.metadata().unwrap().len();
    f.set_len(len + extra).unwrap();
    let out = d.join("c.mp4");
    let r = kino(&["generate", "x", "-o", out.to_str().unwrap(), "--model", pkg.to_str().unwrap(), "--quiet"]);
    assert_clean_failure(&r, &out, "GiB of memory");
}
