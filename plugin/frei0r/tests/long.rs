//! Long clips from the plugin are the `kino` command's clips, frame for frame, and making them
//! does not make the host's memory grow with their length.
//! The shipped model makes 8 fps, 64x64 windows of 17 frames (12 new frames per chained window
//! when generating, 8 when extending); every clip here spans at least three windows.

use std::process::Command;
use std::sync::Arc;

use kino::footage::{Footage, FootageConfig, Start};
use kino::{GenerateRequest, Pipeline, RgbFrame, RuntimeOptions};

mod common;

use common::{ffmpeg, ffmpeg_filter, frames, install, kino, repo, run, source_and_kino};

/// The first frame where two clips differ, if any (and whether their lengths match).
fn first_difference(a: &[RgbFrame], b: &[RgbFrame]) -> Option<usize> {
    a.iter().zip(b).position(|(x, y)| x != y).or((a.len() != b.len()).then_some(a.len().min(b.len())))
}

#[test]
fn ten_seconds_from_the_source_are_kino_generates_ten_seconds() {
    let plugins = install("long-src");
    let graph = "frei0r_src=size=64x64:framerate=8:filter_name=kino:filter_params=a red circle moving left|3";
    let (a, b) = source_and_kino(&plugins, graph, "10", &["generate", "a red circle moving left", "--seed", "3", "--seconds", "10"]);
    assert_eq!(a.len(), 80);
    assert_eq!(first_difference(&a, &b), None, "the plugin's 80 frames (7 windows) are kino generate's");
}

#[test]
fn four_seconds_from_the_extend_filter_are_kino_extends_four_seconds() {
    let plugins = install("long-ext");
    let d = plugins.parent().unwrap();
    let base = d.join("base.mkv");
    kino(&["generate", "a green square moving right", "--seed", "5", "-o", base.to_str().unwrap()]);
    let out = d.join("ext.mkv");
    ffmpeg_filter(
        &plugins,
        &base,
        "tpad=stop_duration=4:stop_mode=clone,frei0r=filter_name=kino_extend:filter_params=a green square moving right|6",
        &out,
    );
    let cli = d.join("cli.mkv");
    kino(&[
        "extend",
        base.to_str().unwrap(),
        "--prompt",
        "a green square moving right",
        "--seconds",
        "4",
        "--seed",
        "6",
        "-o",
        cli.to_str().unwrap(),
    ]);
    let (a, b) = (frames(&out), frames(&cli));
    assert_eq!(a.len(), 17 + 32);
    assert_eq!(first_difference(&a, &b), None, "the clip and its 32 new frames (4 windows) are kino extend's");

    // A 24 fps clip: the model's 8 fps footage retimed as kino extend retimes it, though the
    // padding's times step by 42 ms, not 41.67 (two denoising steps, for time).
    // (17 frames, each different, stamped 24 fps: `kino generate --fps 24` would show each of
    // the model's frames three times.)
    let base8 = d.join("base8.mkv");
    kino(&["generate", "a green square moving right", "--seed", "5", "-o", base8.to_str().unwrap()]);
    let base24 = d.join("base24.mkv");
    let ok = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&base8)
        .args(["-vf", "setpts=N/(24*TB)", "-r", "24", "-c:v", "ffv1", "-pix_fmt", "bgr0"])
        .arg(&base24)
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let out24 = d.join("ext24.mkv");
    ffmpeg_filter(
        &plugins,
        &base24,
        "tpad=stop_duration=6:stop_mode=clone,frei0r=filter_name=kino_extend:filter_params=a green square moving right|6|2",
        &out24,
    );
    let cli24 = d.join("cli24.mkv");
    kino(&[
        "extend",
        base24.to_str().unwrap(),
        "--prompt",
        "a green square moving right",
        "--seconds",
        "6",
        "--seed",
        "6",
        "--steps",
        "2",
        "-o",
        cli24.to_str().unwrap(),
    ]);
    let (a, b) = (frames(&out24), frames(&cli24));
    assert_eq!(a.len(), 17 + 144);
    // Above 20 fps the freeze is taken on its second copy (a single copy may be a frame rate
    // conversion's), so its first copy stays: then the footage is kino extend's.
    assert!(a[..17] == b[..17] && a[17] == a[16], "the clip, then its last frame once more");
    assert_eq!(first_difference(&a[18..], &b[18..]), None, "143 new frames at 24 fps (48 model frames, 6 windows) are kino extend's");
    // With `start` at the first new frame's time (ms, as ffmpeg counts), all 144 are.
    let start24 = d.join("start24.mkv");
    ffmpeg_filter(
        &plugins,
        &base24,
        "tpad=stop_duration=6:stop_mode=clone,frei0r=filter_name=kino_extend:filter_params=a green square moving right|6|2||||||0.708",
        &start24,
    );
    assert_eq!(first_difference(&frames(&start24), &b), None, "with start, frame for frame");
}

#[test]
fn six_seconds_from_the_animate_filter_are_kino_animates_six_seconds() {
    let plugins = install("long-anim");
    let d = plugins.parent().unwrap();
    let seq = d.join("seq");
    kino(&["generate", "a white triangle standing still", "--seed", "8", "-o", &format!("{}/", seq.display())]);
    let still = seq.join("00000.png");
    let out = d.join("anim.mkv");
    run(ffmpeg(&plugins)
        .args(["-loop", "1", "-framerate", "8", "-i"])
        .arg(&still)
        .args(["-t", "6", "-vf", "frei0r=filter_name=kino_animate:filter_params=a white triangle moving up|9", "-c:v", "ffv1"])
        .arg(&out));
    let cli = d.join("cli.mkv");
    kino(&[
        "animate",
        still.to_str().unwrap(),
        "--prompt",
        "a white triangle moving up",
        "--seconds",
        "6",
        "--seed",
        "9",
        "-o",
        cli.to_str().unwrap(),
    ]);
    let (a, b) = (frames(&out), frames(&cli));
    assert_eq!(a.len(), 48);
    assert_eq!(first_difference(&a, &b), None, "the 48 frames (4 windows) are kino animate's");
}

/// Peak resident memory of `cmd` (a child process), in KiB.
// The child is reaped by wait4, which also reports its peak memory.
#[allow(clippy::zombie_processes)]
fn peak_rss_kib(cmd: &mut Command) -> i64 {
    let child = cmd.spawn().expect("ffmpeg installed");
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as libc::pid_t);
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "{cmd:?} failed: {status}");
    usage.ru_maxrss
}

#[test]
fn memory_stays_flat_for_two_minutes_of_footage() {
    let plugins = install("long-rss");
    // One denoising step: the windows are the same in number and size, only faster.
    let graph = "frei0r_src=size=64x64:framerate=8:filter_name=kino:filter_params=a red circle moving left|3|1";
    let peak = |seconds: &str| peak_rss_kib(ffmpeg(&plugins).args(["-f", "lavfi", "-i", graph, "-t", seconds, "-f", "null", "-"]));
    let (short, long) = (peak("10"), peak("120"));
    eprintln!("peak RSS: 10 s {short} KiB, 120 s {long} KiB");
    assert!(long as f64 <= 1.25 * short as f64, "120 s peaked at {long} KiB, 10 s at {short} KiB");
}

fn pipeline() -> Arc<Pipeline> {
    Arc::new(Pipeline::load(&repo().join("models/kino-shapes"), &RuntimeOptions::from_env()).unwrap())
}

#[test]
fn footage_seeks_back_from_disk_and_stops_when_dropped() {
    let p = pipeline();
    let mut req = GenerateRequest::defaults_for(&p.package, "a blue circle moving right");
    (req.seed, req.steps, req.frames) = (11, 2, 48);
    let mut made = Vec::new();
    p.generate(&req, &mut |_| true, &mut |f| {
        made.push(f);
        Ok(())
    })
    .unwrap();
    // No memory budget: every frame but the newest is read back from the file.
    let footage = Footage::start(p.clone(), req.clone(), Start::Text, FootageConfig { memory: 0, ..Default::default() }).unwrap();
    assert_eq!(footage.frame(40).unwrap(), made[40], "forwards");
    for i in [0, 39, 12, 40, 1, 47] {
        assert_eq!(footage.frame(i).unwrap(), made[i], "frame {i}");
    }
    // It ran ahead by about a window and the queue, not to the end.
    assert!(footage.made() < 100, "{} frames made", footage.made());
    let t = std::time::Instant::now();
    drop(footage);
    assert!(t.elapsed().as_secs() < 10, "dropping waited {:?}", t.elapsed());

    // An error of the generator is the frame call's error.
    let mut bad = req.clone();
    bad.width = 1000;
    assert!(Footage::start(p.clone(), bad, Start::Text, FootageConfig::default()).is_err(), "a bad request fails at once");
    let wrong = Footage::start(
        p.clone(),
        req.clone(),
        Start::Still(RgbFrame { width: 8, height: 8, data: vec![0; 192] }),
        FootageConfig::default(),
    )
    .unwrap();
    let e = wrong.frame(0).unwrap_err().to_string();
    assert!(e.contains("8x8"), "{e}");
    assert_eq!(wrong.frame(5).unwrap_err().to_string(), e, "and stays the answer");

    // A disk cap of 5 frames and no memory: the newest frame in memory, the 5 before it on
    // disk, older ones dropped. A seek back to a dropped frame makes the footage again from its
    // start: the same frames (generation is deterministic), never a wrong or missing one.
    let frame_bytes = req.width as u64 * req.height as u64 * 3;
    let capped = Footage::start(p, req, Start::Text, FootageConfig { memory: 0, disk: 5 * frame_bytes }).unwrap();
    for (i, want) in made.iter().enumerate().take(30) {
        assert_eq!(capped.frame(i).unwrap(), *want, "in order, frame {i}");
    }
    assert_eq!(capped.frame(24).unwrap(), made[24], "still on disk");
    assert_eq!(capped.restarts(), 0);
    assert_eq!(capped.frame(3).unwrap(), made[3], "dropped, then made again");
    assert_eq!(capped.restarts(), 1);
    assert_eq!(capped.frame(1).unwrap(), made[1], "kept since the restart");
    assert_eq!(capped.frame(29).unwrap(), made[29]);
    assert_eq!(capped.restarts(), 1, "forward again without another restart");
}

/// The exit hook's stop never waits for the footage's lock, which a thread waiting for a frame
/// holds (ffmpeg calls exit from its signal handler, on any thread): the generator is told to
/// stop, and the waiting thread gets an error instead of its frame.
#[test]
fn stopping_at_exit_never_waits_for_a_busy_footage() {
    let p = pipeline();
    let mut req = GenerateRequest::defaults_for(&p.package, "a green square moving up");
    (req.seed, req.steps) = (12, 2);
    let footage = std::sync::Arc::new(Footage::start(p, req, Start::Text, FootageConfig::default()).unwrap());
    let waiting = {
        let footage = footage.clone();
        std::thread::spawn(move || footage.frame(5000))
    };
    std::thread::sleep(std::time::Duration::from_millis(500));
    let t = std::time::Instant::now();
    footage.stop_without_waiting();
    assert!(t.elapsed().as_secs() < 5, "stopping waited {:?}", t.elapsed());
    assert!(waiting.join().unwrap().is_err(), "the frame far ahead is never made");
}
