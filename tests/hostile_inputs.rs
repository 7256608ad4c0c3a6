//! Users' files as they come: truncated, corrupt, huge on paper, not files at all. Every one
//! goes through the real `kino animate` and `kino extend`, which must either succeed with a
//! valid output or exit 1 with one `error:` line naming the file, leaving nothing behind; never
//! die by a signal (FFmpeg's assertions abort) and never hang (a FIFO read blocks forever).
//! The corpus is tests/fixtures/hostile/ (scripts/make-hostile-corpus.py regenerates it).

mod common;

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::tmpdir;
use kino::video::{decode_image, decode_video};

/// Longer than any run here takes by far; a run past it is a hang.
const TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Clone, Copy, Debug)]
enum Expect {
    /// Succeeds with a decodable output.
    Ok,
    /// Succeeds, with this in a warning.
    Warned(&'static str),
    /// Fails cleanly with this in its error line.
    Fail(&'static str),
}
use Expect::{Fail, Ok, Warned};

/// Every corpus file with what `animate` and `extend` must do with it.
const CORPUS: &[(&str, Expect, Expect)] = &[
    ("anim.gif", Ok, Ok),
    // FFmpeg decodes WebP stills only: named for what it is, not as corrupt.
    ("anim.webp", Fail("is an animated WebP"), Fail("is an animated WebP")),
    ("audio-only.mp4", Fail("has no video stream"), Fail("has no video stream")),
    ("bomb-16000x16000.png", Fail("16000x16000 pixels, larger than kino reads (at most 8192x8192)"), Fail("16000x16000 pixels")),
    ("clip.mkv", Ok, Ok),
    ("clip.mp4", Ok, Ok),
    ("empty.mp4", Fail("is empty (0 bytes)"), Fail("is empty (0 bytes)")),
    // The decoder switches from yuv420p to yuv444p half-way: the scaler is made again.
    ("format-change.ts", Ok, Ok),
    ("huge-9000x9000.mkv", Fail("9000x9000 pixels, larger than kino reads"), Fail("9000x9000 pixels")),
    ("huge-header.gif", Fail("16000x16000 pixels"), Fail("16000x16000 pixels")),
    ("huge-header.jpg", Fail("60000x60000 pixels"), Fail("60000x60000 pixels")),
    ("odd-33x17.png", Ok, Ok),
    ("random.mp4", Fail("not a video or image file, or corrupt"), Fail("not a video or image file, or corrupt")),
    ("random.png", Fail("corrupt"), Fail("corrupt")),
    // Animate needs only the first frame; extend refuses a clip that changes size.
    ("size-change.ts", Ok, Fail("frame size changes mid-stream (64x48 to 96x64)")),
    ("text.mp4", Fail("not a video or image file, or corrupt"), Fail("not a video or image file, or corrupt")),
    ("tiny-1x1.png", Ok, Ok),
    ("truncated-1k.mkv", Fail("contains no decodable video frames"), Fail("contains no decodable video frames")),
    ("truncated-1k.mp4", Fail("contains no decodable video frames"), Fail("contains no decodable video frames")),
    ("truncated-4k.mkv", Ok, Warned("the file is cut short")),
    // The first frame is whole (enough for animate), later ones are cut (extend needs them all).
    ("truncated-4k.mp4", Ok, Fail("is corrupt or truncated")),
    ("truncated-512.mkv", Fail("contains no decodable video frames"), Fail("contains no decodable video frames")),
    ("truncated-512.mp4", Fail("not a video or image file, or corrupt"), Fail("not a video or image file, or corrupt")),
    // Matroska ends cleanly at the last whole frame; these are shorter clips, not errors, and
    // the frames they hold are said (the file declares its whole length).
    ("truncated-half.mkv", Ok, Warned("its data ends at 0.6 s of the 3.0 s it declares: the file is cut short (a partial download or copy?); kino reads the 5 frame(s) there")),
    ("truncated-half.mp4", Fail("is corrupt or truncated"), Fail("is corrupt or truncated")),
    ("truncated-index-at-end.mp4", Fail("not a video or image file, or corrupt"), Fail("not a video or image file, or corrupt")),
    ("truncated.jpg", Ok, Ok),
    ("truncated.png", Fail("is corrupt or truncated"), Fail("is corrupt or truncated")),
    ("zero-0x0.png", Fail("declares a 0x0 image"), Fail("declares a 0x0 image")),
];

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hostile")
}

/// Runs kino with a deadline; stdout and stderr go to files so a chatty child never blocks.
fn run_kino(args: &[&str], logs: &Path) -> (ExitStatus, String) {
    let (out, err) = (logs.join("stdout"), logs.join("stderr"));
    let mut child = common::kino_command()
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .expect("run kino");
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("kino {args:?} hung: killed after {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (status, std::fs::read_to_string(&err).unwrap_or_default())
}

/// Runs `kino <command>` on `input` into an empty folder and checks the outcome against `expect`.
fn check(command: &str, input: &Path, expect: Expect, work: &Path) -> String {
    let name = input.file_name().unwrap().to_string_lossy().into_owned();
    let outdir = work.join(format!("{command}-{name}"));
    let logs = work.join(format!("logs-{command}-{name}"));
    std::fs::create_dir_all(&outdir).unwrap();
    std::fs::create_dir_all(&logs).unwrap();
    // FFV1 in mkv takes any frame size, so valid inputs of odd sizes succeed too.
    let output = outdir.join("out.mkv");
    let args = [command, input.to_str().unwrap(), "--prompt", "a red ball", "--steps", "1", "--quiet", "-o", output.to_str().unwrap()];
    let (status, stderr) = run_kino(&args, &logs);
    let case = format!("kino {command} {name}");
    assert_eq!(status.signal(), None, "{case} died by a signal: {stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    let left: Vec<_> = std::fs::read_dir(&outdir).unwrap().map(|e| e.unwrap().file_name()).collect();
    match expect {
        Ok | Warned(_) => {
            if let Warned(needle) = expect {
                assert!(stderr.contains(needle), "{case}: {needle:?} not said: {stderr}");
            } else {
                assert!(!stderr.contains("cut short"), "{case}: {stderr}");
            }
            assert!(status.success(), "{case} failed: {stderr}");
            let frames = decode_video(&output).unwrap_or_else(|e| panic!("{case}: output unreadable: {e}")).frames;
            assert!(!frames.is_empty());
            if command == "animate" {
                // The clip comes back at the still's size.
                let still = decode_image(input).unwrap();
                assert_eq!((frames[0].width, frames[0].height), (still.width, still.height), "{case}");
            } else {
                let clip = decode_video(input).unwrap().frames;
                assert!(frames.len() > clip.len(), "{case}: {} frames out of a clip of {}", frames.len(), clip.len());
            }
            assert_eq!(left.len(), 1, "{case}: extra files {left:?}");
            "ok".into()
        }
        Fail(needle) => {
            assert_eq!(status.code(), Some(1), "{case}: exit status {status}: {stderr}");
            assert_eq!(errors.len(), 1, "{case}: one error line expected: {stderr}");
            assert!(errors[0].contains(&name), "{case}: the error does not name the file: {}", errors[0]);
            assert!(errors[0].contains(needle), "{case}: {needle:?} not in {:?}", errors[0]);
            assert!(left.is_empty(), "{case}: left behind {left:?}");
            errors[0].to_string()
        }
    }
}

#[test]
fn every_corpus_file_is_read_or_refused_cleanly() {
    let dir = corpus_dir();
    let mut on_disk: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    on_disk.sort();
    let listed: Vec<&str> = CORPUS.iter().map(|c| c.0).collect();
    assert_eq!(on_disk, listed, "the corpus and this table must list the same files");
    let work = tmpdir("hostile");
    for &(name, animate, extend) in CORPUS {
        for (command, expect) in [("animate", animate), ("extend", extend)] {
            let outcome = check(command, &dir.join(name), expect, &work);
            eprintln!("{name} | {command} | {outcome}");
        }
    }
}

#[test]
fn truncated_mp4s_fail_cleanly_instead_of_aborting() {
    let work = tmpdir("truncated");
    let whole = work.join("whole.mp4");
    // Index first (faststart): a cut copy still opens, and its decoder has no pixel format yet,
    // the state in which FFmpeg's scaler used to abort the process.
    let made = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x240:rate=8:duration=3",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-movflags",
            "+faststart",
        ])
        .arg(&whole)
        .status()
        .expect("ffmpeg is installed (scripts/setup.sh)");
    assert!(made.success());
    let bytes = std::fs::read(&whole).unwrap();
    for (len, animate, extend) in [
        (512, Fail("corrupt"), Fail("corrupt")),
        (1024, Fail("corrupt"), Fail("corrupt")),
        (2048, Fail("corrupt"), Fail("corrupt")),
        (4096, Fail("corrupt"), Fail("corrupt")),
        (bytes.len() / 2, Ok, Fail("is corrupt or truncated: decoding stops after")),
    ] {
        let cut = work.join(format!("cut-{len}.mp4"));
        std::fs::write(&cut, &bytes[..len]).unwrap();
        check("animate", &cut, animate, &work);
        check("extend", &cut, extend, &work);
    }
}

/// Whole clips whose timestamps start late (cut from a longer recording, a camera's clock):
/// their length counts from the timeline's zero in Matroska, from their start in MP4 tracks.
/// Neither is a file cut short, nor sound running past the pictures.
#[test]
fn clips_whose_time_starts_late_are_not_called_cut_short() {
    let work = tmpdir("late-start");
    for (name, offset, sound) in [
        ("late.mkv", "10", &["-c:a", "libopus"][..]),
        ("late.mp4", "10", &[]),
        ("late.mov", "3600", &[]),
        ("late.webm", "10", &["-c:v", "libvpx-vp9", "-c:a", "libopus"]),
    ] {
        let clip = work.join(name);
        let made = Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=64x64:r=8:d=2", "-f", "lavfi", "-i", "sine=f=440:d=2"])
            .args(["-pix_fmt", "yuv420p", "-output_ts_offset", offset])
            .args(sound)
            .arg(&clip)
            .status()
            .expect("ffmpeg is installed (scripts/setup.sh)");
        assert!(made.success());
        let out = work.join(format!("out-{name}.mp4"));
        let logs = work.join(format!("logs-{name}"));
        std::fs::create_dir_all(&logs).unwrap();
        let args = ["extend", clip.to_str().unwrap(), "-p", "a red ball", "--steps", "1", "-o", out.to_str().unwrap()];
        let (status, stderr) = run_kino(&args, &logs);
        assert!(status.success(), "{name}: {stderr}");
        assert!(!stderr.contains("cut short") && !stderr.contains("runs on"), "{name}: {stderr}");
        assert!(decode_video(&out).unwrap().frames.len() > 16, "{name}: the clip and new footage");
    }
    // Cut in half, a Matroska clip that starts late is said to be, in its own time.
    for offset in ["10", "100"] {
        let whole = work.join(format!("late-{offset}-6s.mkv"));
        let made = Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=64x64:r=8:d=6", "-f", "lavfi", "-i", "sine=f=440:d=6"])
            .args(["-pix_fmt", "yuv420p", "-c:a", "libopus", "-output_ts_offset", offset])
            .arg(&whole)
            .status()
            .unwrap();
        assert!(made.success());
        let bytes = std::fs::read(&whole).unwrap();
        let cut = work.join(format!("late-{offset}-cut.mkv"));
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        check("extend", &cut, Warned("s of the 6.0 s it declares: the file is cut short"), &work);
    }
}

/// Stills of the most extreme shapes kino reads: one pixel by 8192. FFV1's sliced bitstream
/// cannot take a picture one pixel wide (the encoder would not open); fitting the still into the
/// model's frame must not scale it to 64x524288 first.
#[test]
fn stills_one_pixel_wide_or_high_animate_into_mkv() {
    let work = tmpdir("extreme-shapes");
    for (w, h) in [(1u32, 8192u32), (8192, 1), (1, 300)] {
        let still = work.join(format!("still-{w}x{h}.png"));
        image::RgbImage::from_fn(w, h, |x, y| image::Rgb([200, ((x + y) % 256) as u8, 30])).save(&still).unwrap();
        assert_eq!(check("animate", &still, Ok, &work), "ok");
    }
}

#[test]
fn paths_that_are_not_files_are_named_for_what_they_are() {
    let work = tmpdir("special");
    let folder = work.join("a-folder.mp4");
    std::fs::create_dir(&folder).unwrap();
    let fifo = work.join("a-pipe.mp4");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let (a, b) = (work.join("loop-a.mp4"), work.join("loop-b.mp4"));
    std::os::unix::fs::symlink(&b, &a).unwrap();
    std::os::unix::fs::symlink(&a, &b).unwrap();
    let cases: Vec<(PathBuf, &str)> = vec![
        (folder, "is a folder, not a video or image file"),
        // Opening a FIFO for reading would block until a writer comes: kino must not open it.
        (fifo, "is not a regular file (a device or pipe); kino reads video and image files"),
        (PathBuf::from("/dev/zero"), "is not a regular file (a device or pipe)"),
        (a, "too many levels of symbolic links"),
        (work.join("missing.mp4"), "no such file"),
    ];
    for (path, needle) in cases {
        check("animate", &path, Fail(needle), &work);
        check("extend", &path, Fail(needle), &work);
    }
    // Unreadable files; root reads them anyway, so this part only runs for other users.
    let locked = work.join("locked.mp4");
    std::fs::copy(corpus_dir().join("clip.mp4"), &locked).unwrap();
    std::fs::set_permissions(&locked, std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();
    if std::fs::File::open(&locked).is_err() {
        check("animate", &locked, Fail("permission denied"), &work);
    }
}
