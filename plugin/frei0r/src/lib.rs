//! kino as a frei0r plugin, for ffmpeg (`frei0r_src`, `frei0r`) and MLT (melt, Kdenlive, Shotcut).
//!
//! One library, installed under three names (`make frei0r`); the name picks the plugin, since
//! frei0r hosts load one plugin per file and find it by file name:
//! * `kino.so`: source; generates from the prompt;
//! * `kino_extend.so`: filter; passes the clip through and replaces the frames after its end
//!   (the first frame identical to the one before, as `tpad=stop_mode=clone` makes, or `start`)
//!   with footage that continues it;
//! * `kino_animate.so`: filter; generates a clip that starts from the first input frame;
//! * `kino_bridge.so`: mixer2 (MLT's transitions); leads from the first input's frame at the
//!   transition's start to the second's at its end ([`bridge`]).
//!
//! Frames are served by time, from footage generated once per parameter set and shared by all
//! instances in the process ([`jobs`]). Errors are logged once to stderr and drawn as a visible
//! error frame; no panic crosses the C ABI.

mod bridge;
mod ffi;
mod jobs;
mod params;
mod words;

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};

use kino::footage::{context_wanted, Retime, Start};
use kino::pipeline::MAX_LONG_FRAMES;
use kino::RgbFrame;

pub use params::{Kind, Settings, PARAMS};

use jobs::{Job, JobKey};

/// Model-size input frames kept by the extend filter for its context.
const HISTORY: usize = 128;

/// One plugin instance: the host's frame size, the parameters, and the extend filter's memory.
pub struct Instance {
    pub kind: Kind,
    pub width: u32,
    pub height: u32,
    pub settings: Settings,
    /// C copies of the string parameters, one per parameter, for `f0r_get_param_value`.
    pub c_values: Vec<std::ffi::CString>,
    history: VecDeque<(f64, RgbFrame)>,
    previous_input: Option<Vec<u8>>,
    /// Extend: where the new footage starts and what it is.
    seam: Option<Seam>,
    /// Animate: the first frame's time and the footage that starts from it.
    still: Option<(f64, JobKey)>,
    /// The footage this instance shows now; held so that it keeps running while shown.
    job: Option<(JobKey, Arc<Job>)>,
    /// Bridge: the transition being played.
    transition: bridge::Transition,
}

impl Instance {
    pub fn new(kind: Kind, width: u32, height: u32) -> Self {
        let c_values = vec![std::ffi::CString::default(); kind.params().len()];
        Instance {
            kind,
            width,
            height,
            settings: Settings::default(),
            c_values,
            history: VecDeque::new(),
            previous_input: None,
            seam: None,
            still: None,
            job: None,
            transition: if kind == Kind::Bridge { bridge::Transition::in_cache_folder() } else { Default::default() },
        }
    }

    /// Parameter `index`'s value, if this plugin has that parameter.
    pub fn param(&mut self, index: i32) -> Option<&mut String> {
        let i = usize::try_from(index).ok().and_then(|i| self.kind.param_slots().get(i))?;
        self.settings.slot(*i)
    }

    /// Renders the frame at host time `time` into `out` (RGBA), from `input` (RGBA) for filters.
    /// When it cannot, a filter passes its input through untouched (never destroy footage) and
    /// the source draws the error frame.
    pub fn update(&mut self, time: f64, input: Option<&[u8]>, out: &mut [u8]) {
        let result = self.render(time, input, out);
        if let Err(msg) = result {
            log_once(&msg);
            fallback(self.width, self.height, input, out);
        }
    }

    /// Renders a mixer's frame at host time `time` from its two inputs `a` and `b` (RGBA). When
    /// it cannot, the first input passes through untouched.
    pub fn update_mixer(&mut self, time: f64, a: &[u8], b: &[u8], out: &mut [u8]) {
        if let Err(msg) = self.render_mixer(time, a, b, out) {
            log_once(&msg);
            out.copy_from_slice(a);
        }
    }

    fn render_mixer(&mut self, time: f64, a: &[u8], b: &[u8], out: &mut [u8]) -> Result<(), String> {
        words::install();
        let seconds = host_seconds(time, self.settings.time_scale(host_counts_seconds())?)?;
        let p = jobs::pipeline(&self.settings)?;
        let req = self.settings.request(&p)?;
        let fit = self.settings.fit()?;
        let small =
            |x: &[u8]| from_rgba(x, self.width, self.height).try_fitted(req.width, req.height, fit.inverse()).map_err(|e| e.to_string());
        let (a_small, b_small) = (small(a)?, small(b)?);
        let (settings, (w, h)) = (&self.settings, (self.width, self.height));
        let model_fps = p.package.manifest.video.fps;
        let want_b = p.bridge_context_wanted().1;
        let tail = |step: f64| Retime::new(1.0 / step, model_fps).context_span(want_b);
        let (show, rec) = self.transition.step(seconds, || bridge::fingerprint(settings, w, h, a, b), &a_small, &b_small, tail)?;
        match show {
            bridge::Show::A if rec.end_ms > 0 && seconds > 0.0 => {
                warn_once("kino_bridge: first pass over the transition: it shows the first clip and is bridged from the next time it is played (or rendered, in any process)");
                out.copy_from_slice(a)
            }
            bridge::Show::A => out.copy_from_slice(a),
            bridge::Show::B => out.copy_from_slice(b),
            bridge::Show::Bridged { index, count, step } => {
                if index == 0 {
                    warn_once("kino_bridge: bridging the transition from what its first pass saw");
                }
                let retime = Retime::new(1.0 / step, model_fps);
                let model_new = retime.model_frames_for(count);
                // B's frames the model reads, from the tail, as `kino bridge` picks them from a clip's head.
                let after = retime
                    .context_indices(rec.tail.len(), want_b, kino::Placement::Before)
                    .into_iter()
                    .map(|i| rec.tail[i].clone())
                    .collect();
                let start = Start::Bridge { before: vec![rec.first], after, count: model_new };
                let key = JobKey { settings: self.settings.footage(), start };
                self.show_index(&key, retime.placed_model_index(index, count, model_new, kino::Placement::After), out)?;
            }
        }
        Ok(())
    }

    fn render(&mut self, time: f64, input: Option<&[u8]>, out: &mut [u8]) -> Result<(), String> {
        let seconds = host_seconds(time, self.settings.time_scale(host_counts_seconds())?)?;
        match self.kind {
            Kind::Bridge => Err("kino_bridge is a transition: it needs two inputs (an MLT transition)".into()),
            Kind::Generate => {
                let key = JobKey { settings: self.settings.footage(), start: Start::Text };
                self.show(&key, seconds, None, out)
            }
            Kind::Animate => {
                let input = input.ok_or("kino_animate is a filter: it needs an input clip")?;
                if self.still.as_ref().is_none_or(|(_, k)| k.settings != self.settings.footage()) {
                    let p = jobs::pipeline(&self.settings)?;
                    let req = self.settings.request(&p)?;
                    // Read through the window the footage is shown in (the inverse of fit).
                    let fit = self.settings.fit()?.inverse();
                    let still =
                        from_rgba(input, self.width, self.height).try_fitted(req.width, req.height, fit).map_err(|e| e.to_string())?;
                    self.still = Some((seconds, JobKey { settings: self.settings.footage(), start: Start::Still(still) }));
                }
                let (t0, key) = self.still.clone().expect("set above");
                self.show(&key, seconds - t0, None, out)
            }
            Kind::Extend => {
                let input = input.ok_or("kino_extend is a filter: it needs an input clip")?;
                if self.seam.is_none() {
                    let repeated = self.previous_input.as_deref() == Some(input);
                    let at_start = match self.settings.start_seconds()? {
                        Some(s) => seconds >= s - 1e-6,
                        None => repeated,
                    };
                    if !at_start || self.history.is_empty() {
                        // Still inside the clip: pass it through untouched, and remember it.
                        out.copy_from_slice(input);
                        self.remember(seconds, input)?;
                        return Ok(());
                    }
                    self.seam = Some(self.make_seam(seconds)?);
                }
                let seam = self.seam.as_mut().expect("set above");
                let since = seconds - seam.time;
                if !seam.measured && since > 1e-9 {
                    // The host's own step between new frames (ffmpeg's padding frames step by
                    // whole milliseconds, not quite the clip's), when it is one frame's.
                    seam.measured = true;
                    if (since * seam.clip_fps - 1.0).abs() < 0.1 {
                        seam.host_step = since;
                    }
                }
                // New frame i (counted in the host's steps) shows the model frame `kino extend`
                // shows as its frame i at the clip's rate.
                let i = (since / seam.host_step).round().max(0.0);
                let (key, clip_fps) = (seam.key.clone(), seam.clip_fps);
                self.show(&key, i / clip_fps, Some(clip_fps), out)
            }
        }
    }

    /// Writes the model frame shown `seconds` after the footage's first frame, at host size:
    /// the clip frame nearest that time at `clip_fps` (default: the model's rate, i.e. the
    /// model frame nearest in time), retimed as the `kino` command does.
    fn show(&mut self, key: &JobKey, seconds: f64, clip_fps: Option<f64>, out: &mut [u8]) -> Result<(), String> {
        let fps = self.job(key)?.fps();
        let retime = Retime::new(clip_fps.unwrap_or(fps), fps);
        self.show_index(key, retime.model_index_at(seconds, MAX_LONG_FRAMES as usize), out)
    }

    /// The job for `key`, held while this instance shows its footage.
    fn job(&mut self, key: &JobKey) -> Result<Arc<Job>, String> {
        Ok(match &self.job {
            Some((k, j)) if k == key => j.clone(),
            _ => {
                // Let go of the footage shown before (it stops if no other instance shows it).
                self.job = None;
                let j = jobs::job(key)?;
                self.job = Some((key.clone(), j.clone()));
                j
            }
        })
    }

    /// Writes model frame `index` of `key`'s footage at host size, placed as `show` places it.
    fn show_index(&mut self, key: &JobKey, index: usize, out: &mut [u8]) -> Result<(), String> {
        let frame = self.job(key)?.frame(index)?;
        // Placed in a frame of another aspect without distortion (letterbox or crop), as
        // `kino extend --fit` places them; the filters read their input through the same window.
        let placed = frame.try_fitted(self.width, self.height, self.settings.fit()?).map_err(|e| e.to_string())?;
        to_rgba(&placed, out);
        Ok(())
    }

    fn remember(&mut self, seconds: f64, input: &[u8]) -> Result<(), String> {
        let p = jobs::pipeline(&self.settings)?;
        let req = self.settings.request(&p)?;
        let fit = self.settings.fit()?.inverse();
        let frame = from_rgba(input, self.width, self.height).try_fitted(req.width, req.height, fit).map_err(|e| e.to_string())?;
        self.history.push_back((seconds, frame));
        if self.history.len() > HISTORY {
            self.history.pop_front();
        }
        self.previous_input = Some(input.to_vec());
        Ok(())
    }

    /// The seam at `t_seam` (the first new frame's time): the clip's frame rate, and the footage
    /// that continues the remembered frames, picked as `kino extend` picks them (the clip frames
    /// nearest the model's frame times, ending at the last real frame).
    fn make_seam(&self, t_seam: f64) -> Result<Seam, String> {
        let p = jobs::pipeline(&self.settings)?;
        let model_fps = p.package.manifest.video.fps;
        let (&(t_first, _), &(t_last, _)) = self.history.front().zip(self.history.back()).ok_or("no frames before the extension")?;
        // The clip's rate: its mean frame step (hosts round times), or the seam's own step when
        // only one frame was seen.
        let n_seen = self.history.len();
        let step = if n_seen > 1 { (t_last - t_first) / (n_seen - 1) as f64 } else { t_seam - t_last };
        let clip_fps = if step > 1e-9 { 1.0 / step } else { model_fps };
        let retime = Retime::new(clip_fps, model_fps);
        // Clip frames the history spans, and the context's frames among them, by time.
        let n = ((t_last - t_first) * clip_fps).round().max(0.0) as usize + 1;
        let ctx = retime
            .context_indices(n, context_wanted(&p), kino::Placement::After)
            .into_iter()
            .map(|k| {
                let t = t_last - (n - 1 - k) as f64 / clip_fps;
                self.history.iter().min_by(|a, b| (a.0 - t).abs().total_cmp(&(b.0 - t).abs())).expect("not empty").1.clone()
            })
            .collect();
        Ok(Seam {
            time: t_seam,
            clip_fps,
            host_step: 1.0 / clip_fps,
            measured: false,
            key: JobKey { settings: self.settings.footage(), start: Start::After(ctx) },
        })
    }
}

/// Where the extend filter's new footage starts.
struct Seam {
    /// The first new frame's time, in seconds.
    time: f64,
    /// The clip's frame rate, from the clip's frames.
    clip_fps: f64,
    /// Seconds between the host's frames after the seam: measured on the first new frame after
    /// the seam, one clip frame until then.
    host_step: f64,
    measured: bool,
    key: JobKey,
}

fn from_rgba(data: &[u8], width: u32, height: u32) -> RgbFrame {
    let rgb = data.chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect();
    RgbFrame { width, height, data: rgb }
}

fn to_rgba(frame: &RgbFrame, out: &mut [u8]) {
    for (o, p) in out.chunks_exact_mut(4).zip(frame.data.chunks_exact(3)) {
        o.copy_from_slice(&[p[0], p[1], p[2], 255]);
    }
}

/// Red diagonal stripes on dark grey: impossible to mistake for footage.
/// What a frame shows when kino cannot make it: the input, untouched, for a filter; the error
/// frame for the source, which has no input.
pub fn fallback(width: u32, height: u32, input: Option<&[u8]>, out: &mut [u8]) {
    match input {
        Some(i) if i.len() == out.len() => out.copy_from_slice(i),
        _ => error_frame(width, height, out),
    }
}

pub fn error_frame(width: u32, height: u32, out: &mut [u8]) {
    for (i, px) in out.chunks_exact_mut(4).enumerate() {
        let (x, y) = (i as u32 % width.max(1), i as u32 / width.max(1));
        let stripe = ((x + y) / 8) % 2 == 0;
        px.copy_from_slice(if stripe { &[200, 20, 20, 255] } else { &[30, 30, 30, 255] });
    }
    let _ = height;
}

/// Each distinct error once per process: hosts call every frame.
pub fn log_once(msg: &str) {
    if first_time(msg) {
        eprintln!("kino frei0r: error: {msg}");
    }
}

/// Each distinct piece of news once per process, as a warning (not an error: nothing failed).
pub fn warn_once(msg: &str) {
    if first_time(msg) {
        log::warn!("{msg}");
    }
}

fn first_time(msg: &str) -> bool {
    static SEEN: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    SEEN.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner()).insert(msg.to_string())
}

/// MLT and GStreamer pass frame times in seconds, ffmpeg in milliseconds; MLT's or GStreamer's
/// library is in the process when it is the host.
fn host_counts_seconds() -> bool {
    static SECONDS: OnceLock<bool> = OnceLock::new();
    *SECONDS.get_or_init(|| ffi::process_has_symbol_mlt() || host_is_gstreamer())
}

/// GStreamer's frei0r wrapper is the host.
pub(crate) fn host_is_gstreamer() -> bool {
    static GST: OnceLock<bool> = OnceLock::new();
    *GST.get_or_init(ffi::process_has_symbol_gstreamer)
}

/// Seconds of footage a host may ask for: kino makes at most an hour of footage in one run
/// (`MAX_LONG_FRAMES` at 30 fps). A later time (GStreamer's "no time", 1.8e10 s, for a stream
/// without a frame rate) is an error, not hours of generation.
const MAX_HOST_SECONDS: f64 = MAX_LONG_FRAMES as f64 / 30.0;

/// The host's frame time in seconds, when it is one kino can serve.
fn host_seconds(time: f64, scale: f64) -> Result<f64, String> {
    let seconds = time * scale;
    if !seconds.is_finite() {
        return Err(format!("host time {time} is not a number"));
    }
    if seconds > MAX_HOST_SECONDS {
        return Err(format!(
            "host time {seconds:.0} s is past the longest footage kino makes ({MAX_HOST_SECONDS:.0} s); does the stream have a frame rate?"
        ));
    }
    Ok(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rgba_round_trip_and_error_frame() {
        let rgba = vec![1, 2, 3, 9, 4, 5, 6, 9];
        let f = from_rgba(&rgba, 2, 1);
        assert_eq!(f.data, vec![1, 2, 3, 4, 5, 6]);
        let mut out = vec![0; 8];
        to_rgba(&f, &mut out);
        assert_eq!(out, vec![1, 2, 3, 255, 4, 5, 6, 255]);
        let mut e = vec![0; 16 * 16 * 4];
        error_frame(16, 16, &mut e);
        assert_eq!(&e[..4], &[200, 20, 20, 255]);
        assert_eq!(&e[8 * 4..8 * 4 + 4], &[30, 30, 30, 255]);
    }

    #[test]
    fn bad_settings_give_an_error_frame_not_a_panic() {
        let mut inst = Instance::new(Kind::Generate, 16, 16);
        inst.settings.time_unit = "fortnights".into();
        let mut out = vec![0; 16 * 16 * 4];
        inst.update(0.0, None, &mut out);
        assert_eq!(&out[..4], &[200, 20, 20, 255]);
    }

    #[test]
    fn filters_pass_their_input_through_when_they_cannot_generate() {
        // A model that does not exist: every frame, pass-through or generated, is the input.
        let input: Vec<u8> = (0..16 * 16 * 4).map(|i| (i * 7 % 251) as u8).collect();
        for kind in [Kind::Extend, Kind::Animate] {
            let mut inst = Instance::new(kind, 16, 16);
            inst.settings.model = "/nowhere/kino-model".into();
            for t in [0.0, 0.125, 0.25, 5.0] {
                let mut out = vec![0; input.len()];
                inst.update(t, Some(&input), &mut out);
                assert!(out == input, "{kind:?} at {t}: the input must pass through untouched");
            }
        }
    }
}
