//! kino as a frei0r plugin, for ffmpeg (`frei0r_src`, `frei0r`) and MLT (melt, Kdenlive, Shotcut).
//!
//! One library, installed under three names (`make frei0r`); the name picks the plugin, since
//! frei0r hosts load one plugin per file and find it by file name:
//! * `kino.so`: source; generates from the prompt;
//! * `kino_extend.so`: filter; passes the clip through and replaces the frames after its end
//!   (`start`, or the freeze it ends on, as `tpad=stop_mode=clone` makes: [`extend`]) with
//!   footage that continues it;
//! * `kino_animate.so`: filter; generates a clip that starts from the first input frame;
//! * `kino_bridge.so`: mixer2 (MLT's transitions); leads from the first input's frame at the
//!   transition's start to the second's at its end ([`bridge`]).
//!
//! Frames are served by time, from footage generated once per parameter set and shared by all
//! instances in the process ([`jobs`]). Errors are logged once to stderr and drawn as a visible
//! error frame; no panic crosses the C ABI.

mod bridge;
mod extend;
mod ffi;
mod jobs;
mod params;
mod threads;
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
    /// Extend: the newest input frame remembered, at host size, and where the clip's freeze is.
    previous_input: Option<Vec<u8>>,
    freeze: extend::FreezeFinder,
    /// Extend: the settings the remembered frames were read with (model, fit, time unit).
    read_with: Option<[String; 3]>,
    /// Extend: where the new footage starts and what it is.
    seam: Option<Seam>,
    /// Animate: the clip's start and its first frame (host size).
    first: Option<(f64, Arc<RgbFrame>)>,
    /// Animate: the footage that starts from the first frame, and the fit it was read with.
    still: Option<(JobKey, String)>,
    /// The footage this instance shows now; held so that it keeps running while shown.
    job: Option<(JobKey, Arc<Job>)>,
    /// Bridge: the transition being played.
    transition: bridge::Transition,
    /// Bridge: whether this instance has already given another thread's instance a moment to
    /// show the transition's first frame (once: each frame entered mid-way would wait again).
    waited_for_start: bool,
    /// Extend and bridge: whether the host deals this filter's frames to several instances.
    sharing: threads::Sharing,
    /// Extend, when it does: the state this instance shares with the others, and its group.
    together: Option<(u64, Arc<threads::InOrder<Instance>>)>,
}

/// Why the extend filter without `start` passes its input through under parallel rendering.
const PARALLEL_EXTEND: &str = "the host renders this clip's frames on several threads (MLT's parallel processing), and without start the clip's end (its freeze) is not found safely across threads: the clip passes through unchanged. Set start to where new footage should begin (then parallel rendering gives the one-thread frames), or turn parallel processing off for this render (Kdenlive: render dialog, Shotcut: Export > Advanced > Parallel processing; melt: real_time=-1)";

/// Why the extend filter passes its input through from `start` when its instances have not
/// found one another (too many threads for the clip's frames before `start`).
const PARALLEL_UNMET: &str = "the host renders this clip's frames on more threads than it has frames before start to share out (MLT's parallel processing): the render threads could not agree on the clip's last frames, so the clip passes through from start rather than continue other frames. Render with fewer threads, or turn parallel processing off for this render (Kdenlive: render dialog, Shotcut: Export > Advanced > Parallel processing; melt: real_time=-1)";

/// Why the bridge passes its input through under parallel rendering.
const PARALLEL: &str = "the host renders this transition's frames on several threads, one instance each (MLT's parallel processing), so no instance sees all of them: the first clip passes through unchanged. Turn parallel processing off for this render (Kdenlive: render dialog, Shotcut: Export > Advanced > Parallel processing; melt: real_time=-1)";

impl Instance {
    pub fn new(kind: Kind, width: u32, height: u32) -> Self {
        let c_values = vec![std::ffi::CString::default(); kind.params().len()];
        Instance {
            kind,
            width,
            height,
            settings: Settings::for_kind(kind),
            c_values,
            history: VecDeque::new(),
            previous_input: None,
            freeze: extend::FreezeFinder::new(HISTORY),
            read_with: None,
            seam: None,
            first: None,
            still: None,
            job: None,
            transition: if kind == Kind::Bridge { bridge::Transition::in_cache_folder() } else { Default::default() },
            waited_for_start: false,
            sharing: threads::Sharing::default(),
            together: None,
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
        if input.is_none() && !self.width.is_multiple_of(16) && host_is_ffmpeg() {
            warn_once(&ffmpeg_source_width_warning(self.width));
        }
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
        let seconds = host_seconds(time, self.time_scale()?, self.width)?;
        // Shared out to threads, or another thread's instance renders it too (not yet seen
        // taking turns: its first frame is not the transition's first, which would be taken for
        // a transition never played from its start).
        if self.frames_shared(seconds) || self.another_thread_renders() {
            return Err(format!("kino_bridge: {PARALLEL}"));
        }
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
        let stepped = self.transition.step(seconds, || bridge::fingerprint(settings, w, h, a, b), &a_small, &b_small, tail);
        let (show, rec) = match stepped {
            Ok(s) => s,
            // A first frame inside the transition: under parallel rendering, the thread with its
            // first frame may not have called yet (they start together). Given a moment, it is
            // the parallel rendering that is said, not a transition never played from its start.
            Err(e) if !self.transition.knows_start() => {
                if !std::mem::replace(&mut self.waited_for_start, true) {
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                return Err(if self.another_thread_renders() { format!("kino_bridge: {PARALLEL}") } else { e });
            }
            Err(e) => return Err(e),
        };
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
        let seconds = host_seconds(time, self.time_scale()?, self.width)?;
        match self.kind {
            Kind::Bridge => Err("kino_bridge is a transition: it needs two inputs (an MLT transition)".into()),
            Kind::Generate => {
                if seconds > MAX_HOST_SECONDS {
                    return Err(format!(
                        "host time {seconds:.0} s is past the longest footage kino makes ({MAX_HOST_SECONDS:.0} s); does the stream have a frame rate?"
                    ));
                }
                let key = JobKey { settings: self.settings.footage(), start: Start::Text };
                self.show(&key, seconds, None, out)
            }
            Kind::Animate => {
                let input = input.ok_or("kino_animate is a filter: it needs an input clip")?;
                let group = threads::group_of(&(&self.settings.model, &self.settings.fit, self.width, self.height));
                // The clip's first frame and its time. A frame before it (the host sought back
                // to the clip's start) starts the clip there, from that frame.
                let (t0, first) = match &self.first {
                    Some((t0, first)) if seconds >= t0 - extend::SAME_TIME => (*t0, first.clone()),
                    _ => (seconds, Arc::new(from_rgba(input, self.width, self.height))),
                };
                // Agreed with the other instances (see shared_start), before any slow work.
                let (t0, first) = shared_start(group, t0, first);
                if self.first.as_ref().is_none_or(|(t, f)| *t != t0 || !Arc::ptr_eq(f, &first)) {
                    self.still = None;
                }
                self.first = Some((t0, first));
                // New settings animate the same first frame, from the same time (a change
                // made mid-clip in an editor does not restart the clip where the playhead is).
                let (fit_now, footage) = (self.settings.fit.clone(), self.settings.footage());
                if self.still.as_ref().is_none_or(|(k, fit)| k.settings != footage || *fit != fit_now) {
                    let p = jobs::pipeline(&self.settings)?;
                    let req = self.settings.request(&p)?;
                    // Read through the window the footage is shown in (the inverse of fit).
                    let fit = self.settings.fit()?.inverse();
                    let first = &self.first.as_ref().expect("set above").1;
                    let still = first.try_fitted(req.width, req.height, fit).map_err(|e| e.to_string())?;
                    let key = JobKey { settings: footage, start: Start::Still(still) };
                    self.still = Some((key, fit_now));
                }
                let key = self.still.as_ref().expect("set above").0.clone();
                self.show(&key, seconds - t0, None, out)
            }
            Kind::Extend => {
                let input = input.ok_or("kino_extend is a filter: it needs an input clip")?;
                self.extend(seconds, input, out)
            }
        }
    }

    /// The extend filter: passes the clip through, and from its end (`start`, or the freeze it
    /// ends on) shows footage that continues it. Times before the end always show the clip,
    /// however the host seeks.
    fn extend(&mut self, seconds: f64, input: &[u8], out: &mut [u8]) -> Result<(), String> {
        let group = self.sharing_group();
        // Frames are kept for the instances to act as one, which they do only with `start`.
        let start = self.settings.start_seconds()?;
        let Some(cohort) = self.sharing.turns(group, seconds, start.map(|_| input)) else {
            // Another thread renders this clip too, though the two have not been seen taking
            // turns yet: without `start`, an end found from this thread's share of the frames
            // is not safe (melt, 2 threads: one frame of the clip replaced, the rest passed
            // through), so the clip passes through from the first sign of another thread.
            if start.is_none() && self.another_thread_renders() {
                return Err(format!("kino_extend: {PARALLEL_EXTEND}"));
            }
            // New footage from this instance's own share of the clip's frames would continue
            // other frames than the one-thread render's (with many threads and a short clip,
            // instances render a frame or two each and never notice one another taking turns).
            if start.is_some_and(|s| seconds >= s - extend::SAME_TIME) && self.another_thread_renders() {
                return Err(format!("kino_extend: {PARALLEL_UNMET}"));
            }
            return self.extend_frame(seconds, input, out, false);
        };
        // The host deals the clip's frames out to several instances (MLT's parallel rendering).
        // Without `start` the clip's end is a freeze found from its frames one after another:
        // dealt out to threads that fall behind under load, not safe enough to replace a user's
        // footage on. With it, the instances taking turns act as one, which takes the frames in
        // time order, starting with those they rendered on their own before they noticed.
        if start.is_none() {
            return Err(format!("kino_extend: {PARALLEL_EXTEND}"));
        }
        // The clip frames this instance kept on its own go to the shared state (a thread may
        // have had the clip to itself for a while, others being busy), in their places.
        let mut handover = None;
        if self.together.as_ref().is_none_or(|(c, _)| *c != cohort.id) {
            let (kind, width, height) = (self.kind, self.width, self.height);
            self.together = Some((cohort.id, threads::in_order(cohort.id, move || Instance::new(kind, width, height))));
            handover = Some(std::mem::take(&mut self.history));
            warn_once("kino_extend: the host renders this clip's frames on several threads (MLT's parallel processing); they are taken in time order");
        }
        let settings = self.settings.clone();
        let together = self.together.as_ref().expect("set above").1.clone();
        let mut scratch = Vec::new();
        together.run(seconds, cohort.members, threads::take_early(group, cohort.id), |one, frame| {
            one.settings = settings.clone();
            if let Some(frames) = handover.take() {
                one.take_history(frames);
            }
            match frame.replay {
                Some(early) => {
                    scratch.resize(early.len(), 0);
                    one.extend_frame(frame.time, early, &mut scratch, frame.late)
                }
                None => one.extend_frame(frame.time, input, out, frame.late),
            }
        })
    }

    /// The extend filter's frame at `seconds`, the frames before it seen (`late`: a later frame
    /// has been seen already; it is not remembered as the clip's).
    fn extend_frame(&mut self, seconds: f64, input: &[u8], out: &mut [u8], late: bool) -> Result<(), String> {
        let start = self.settings.start_seconds()?;
        // Frames read with another model, fit or time unit are not this clip's context any more.
        let read_with = [self.settings.model.clone(), self.settings.fit.clone(), self.settings.time_unit.clone()];
        if self.read_with.as_ref() != Some(&read_with) {
            self.read_with = Some(read_with);
            self.history.clear();
            self.previous_input = None;
            self.freeze = extend::FreezeFinder::new(HISTORY);
            self.seam = None;
        }
        if self.seam.as_ref().is_some_and(|s| s.start != start) {
            self.seam = None;
        }
        if self.seam.is_none() && late {
            // A clip frame that came after later ones: shown, and put in its place among them.
            out.copy_from_slice(input);
            return self.remember_late(seconds, input);
        }
        if self.seam.is_none() {
            let Some(seam) = self.clip_end(seconds, input, start)? else {
                // Still the clip: it passes through untouched.
                out.copy_from_slice(input);
                return Ok(());
            };
            self.seam = Some(self.make_seam(seam, start)?);
        }
        let footage = self.settings.footage();
        let seam = self.seam.as_mut().expect("set above");
        if seconds < seam.time - extend::SAME_TIME {
            // Before the end (a seek back): the clip itself.
            out.copy_from_slice(input);
            return Ok(());
        }
        // A new prompt, seed, ...: new footage from the same clip frames.
        seam.key.settings = footage;
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

    /// Where the new footage starts, once the frame at `seconds` is at or past the clip's end
    /// (`start`, or the freeze the clip ends on); `None` while it is still the clip's own
    /// frame, which is remembered as the continuation's context.
    fn clip_end(&mut self, seconds: f64, input: &[u8], start: Option<f64>) -> Result<Option<f64>, String> {
        match start {
            // A seek straight past `start` (or `start` at the clip's first frame): nothing of
            // the clip seen to continue, so it passes through; said once.
            Some(s) if seconds >= s - START_SLACK && self.history.is_empty() => {
                crate::warn_once(&format!(
                    "kino_extend: no frame of the clip before start ({s} s) was seen, so there is nothing to continue and the clip passes through; set start after the clip's first frames, or play from before it"
                ));
                Ok(None)
            }
            Some(s) if seconds >= s - START_SLACK => {
                // The first frame at or after `start`; after a seek past it, `start` itself.
                let contiguous = self.freeze.last_time().is_some_and(|t| seconds - t <= 1.5 * self.clip_step(seconds - t));
                Ok(Some(if contiguous { seconds } else { s }))
            }
            Some(_) => {
                if self.freeze.see(seconds, false) != extend::Verdict::Again {
                    self.remember(seconds, input)?;
                }
                Ok(None)
            }
            None => {
                let same = self.previous_input.as_deref().is_some_and(|p| extend::same_picture(p, input));
                match self.freeze.see(seconds, same) {
                    extend::Verdict::Again => Ok(None),
                    extend::Verdict::Clip => {
                        self.remember(seconds, input)?;
                        if self.freeze.one_picture_from_start().is_some_and(|span| span >= STILL_SECONDS) {
                            warn_once("kino_extend: the clip has shown one picture since its first frame (a still, or a one-frame clip held), so it has no end to find and passes through; set start to where new footage should begin, or use kino_animate on a still");
                        }
                        Ok(None)
                    }
                    extend::Verdict::Ended { seam } => {
                        // The clip's frames are those before the seam (not the copies of its
                        // last frame shown since).
                        self.history.retain(|(t, _)| *t < seam - extend::SAME_TIME);
                        if self.history.is_empty() {
                            return Ok(None);
                        }
                        // Found on a later copy (a clip whose frames repeat), the new footage
                        // shows from the frame it is found at.
                        let from = if seconds - seam > extend::SAME_TIME { format!(", shown from {seconds:.3} s") } else { String::new() };
                        warn_once(&format!(
                            "kino_extend: the clip ends on a freeze at {seam:.3} s (host time); new footage starts there{from} (set start to choose another time)"
                        ));
                        Ok(Some(seam))
                    }
                }
            }
        }
    }

    /// Seconds per unit of the host's frame times. A `time_unit` that is not the one the host
    /// is known to use (ffmpeg's milliseconds, MLT's and GStreamer's seconds) is followed, and
    /// said once: every frame would be from another time than the host's.
    fn time_scale(&self) -> Result<f64, String> {
        let known = self.settings.time_scale(host_counts_seconds())?;
        let auto = Settings::default().time_scale(host_counts_seconds())?;
        if known != auto {
            let host = if host_counts_seconds() {
                "MLT or GStreamer, which count seconds"
            } else {
                "not MLT or GStreamer (ffmpeg counts milliseconds)"
            };
            warn_once(&format!(
                "time_unit {} is not the unit this host uses (it is {host}): every frame is taken from 1000 times {} in the footage; leave time_unit at auto unless the host is another one",
                self.settings.time_unit.trim(),
                if known > auto { "later" } else { "earlier" },
            ));
        }
        Ok(known)
    }

    /// Whether the host deals the bridge's frames out to several instances ([`threads`]).
    fn frames_shared(&mut self, seconds: f64) -> bool {
        let group = self.sharing_group();
        self.sharing.turns(group, seconds, None).is_some()
    }

    /// Whether, in MLT or GStreamer, an instance of this one's group renders on another thread
    /// now (dealt frames out, not yet seen taking turns). ffmpeg's threads are filter graphs of
    /// their own (two outputs of one clip), never a share.
    fn another_thread_renders(&self) -> bool {
        host_counts_seconds() && self.sharing.others_rendering()
    }

    /// The instances that may take turns with this one: the same kind and frame size, and the
    /// settings that decide what a frame is taken as (a new prompt or seed mid-render is new
    /// footage from the same frames).
    fn sharing_group(&self) -> u64 {
        let s = &self.settings;
        threads::group_of(&(self.kind, self.width, self.height, &s.model, &s.fit, &s.time_unit, &s.start))
    }

    /// The clip's frame step as the remembered frames space it (`fallback` when they are too
    /// few to tell).
    fn clip_step(&self, fallback: f64) -> f64 {
        match (self.history.front(), self.history.back()) {
            (Some(a), Some(b)) if self.history.len() > 1 => (b.0 - a.0) / (self.history.len() - 1) as f64,
            _ => fallback,
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

    /// Takes clip frames another instance kept (model size), each in its place among these, as
    /// long as the clip has not ended.
    fn take_history(&mut self, frames: VecDeque<(f64, RgbFrame)>) {
        if self.seam.is_none() {
            for (t, frame) in frames {
                self.keep_in_place(t, frame);
            }
        }
    }

    /// Keeps the clip frame at `seconds` that came after later ones, in its place among them
    /// (the freeze finder, which compares neighbours as they come, does not see it).
    fn remember_late(&mut self, seconds: f64, input: &[u8]) -> Result<(), String> {
        if !self.remembers(seconds) {
            let frame = self.model_frame(input)?;
            self.keep_in_place(seconds, frame);
        }
        Ok(())
    }

    /// Puts a clip frame among the remembered ones by its time, unless one is at that time.
    fn keep_in_place(&mut self, seconds: f64, frame: RgbFrame) {
        if self.remembers(seconds) {
            return;
        }
        let at = self.history.iter().position(|(t, _)| *t > seconds).unwrap_or(self.history.len());
        self.history.insert(at, (seconds, frame));
        if self.history.len() > HISTORY {
            self.history.pop_front();
        }
    }

    /// Whether a clip frame at `seconds` is among the remembered ones.
    fn remembers(&self, seconds: f64) -> bool {
        self.history.iter().any(|(t, _)| (t - seconds).abs() <= extend::SAME_TIME)
    }

    /// A clip frame (host size, RGBA) at the model's size, read through the window the
    /// footage is shown in (the inverse of fit).
    fn model_frame(&self, input: &[u8]) -> Result<RgbFrame, String> {
        let p = jobs::pipeline(&self.settings)?;
        let req = self.settings.request(&p)?;
        let fit = self.settings.fit()?.inverse();
        from_rgba(input, self.width, self.height).try_fitted(req.width, req.height, fit).map_err(|e| e.to_string())
    }

    /// Keeps the clip frame at `seconds` (after a seek back, in place of those it rewinds).
    fn remember(&mut self, seconds: f64, input: &[u8]) -> Result<(), String> {
        self.history.retain(|(t, _)| *t < seconds - extend::SAME_TIME);
        let frame = self.model_frame(input)?;
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
    fn make_seam(&self, t_seam: f64, start: Option<f64>) -> Result<Seam, String> {
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
            start,
            time: t_seam,
            clip_fps,
            host_step: 1.0 / clip_fps,
            measured: false,
            key: JobKey { settings: self.settings.footage(), start: Start::After(ctx) },
        })
    }
}

/// When an animated clip starts, and from which frame: the earliest start, within a second
/// before `t0`, of the same clip in any instance of the same `group` (model, fit, frame size).
/// MLT's parallel rendering gives each render thread an instance of its own, and those first see
/// the clip a frame or more after its start; without this each would start the footage at its
/// own first frame (a stutter, and on a moving clip footage animated from different frames). A
/// start is the same clip's when it was seen within the last two seconds (the render threads
/// start together; an earlier clip's start is older) and its frame is the same picture as
/// `first` or a neighbouring frame of it; among equally early ones, the closest picture.
fn shared_start(group: u64, t0: f64, first: Arc<RgbFrame>) -> (f64, Arc<RgbFrame>) {
    type Starts = Mutex<std::collections::HashMap<u64, Vec<(f64, std::sync::Weak<RgbFrame>, std::time::Instant)>>>;
    static STARTS: OnceLock<Starts> = OnceLock::new();
    const RECENT: std::time::Duration = std::time::Duration::from_secs(2);
    let starts = STARTS.get_or_init(Default::default);
    let earliest = |register: bool| {
        let mut starts = starts.lock().unwrap_or_else(|e| e.into_inner());
        // Starts whose instances have all gone are forgotten (their frames with them).
        starts.retain(|_, seen| {
            seen.retain(|(_, f, _)| f.strong_count() > 0);
            !seen.is_empty()
        });
        let seen = starts.entry(group).or_default();
        let new = !seen.iter().any(|(t, f, _)| (t - t0).abs() <= extend::SAME_TIME && f.upgrade().is_some_and(|f| Arc::ptr_eq(&f, &first)));
        if register && new {
            seen.push((t0, Arc::downgrade(&first), std::time::Instant::now()));
        }
        let found = seen
            .iter()
            .filter_map(|(t, f, when)| {
                let f = f.upgrade()?;
                if Arc::ptr_eq(&f, &first) {
                    return Some((*t, 0, f));
                }
                if !(*t < t0 - extend::SAME_TIME && t0 - t <= 1.0 && when.elapsed() < RECENT) {
                    return None;
                }
                let difference = picture_difference(&f, &first).filter(|d| *d < NEIGHBOURING_LEVELS)?;
                Some((*t, difference, f))
            })
            .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)))
            .map_or((t0, first.clone()), |(t, _, f)| (t, f));
        (new, found)
    };
    let (new, found) = earliest(true);
    if new && host_is_mlt() {
        // The instance that renders the clip's first frame may not have got here yet (its
        // thread was started a moment later): give it that moment, once per clip start.
        std::thread::sleep(std::time::Duration::from_millis(150));
        return earliest(false).1;
    }
    found
}

/// A clip's neighbouring frames differ by less than this mean (levels, of a sample of samples);
/// different shots by far more.
const NEIGHBOURING_LEVELS: u64 = 12;

/// The mean difference of a sample of two frames' samples, in levels (none for frames of
/// different sizes).
fn picture_difference(a: &RgbFrame, b: &RgbFrame) -> Option<u64> {
    if (a.width, a.height) != (b.width, b.height) || a.data.len() != b.data.len() {
        return None;
    }
    let (sum, n) = a.data.iter().zip(&b.data).step_by(7).fold((0u64, 0u64), |(s, n), (x, y)| (s + x.abs_diff(*y) as u64, n + 1));
    Some(sum / n.max(1))
}

/// Where the extend filter's new footage starts.
struct Seam {
    /// The `start` setting it was found with (none: the clip's freeze).
    start: Option<f64>,
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

/// Seconds of one picture from a clip's start after which the extend filter says it finds no end.
const STILL_SECONDS: f64 = 2.0;

/// How much earlier than `start` a frame may come and still be the first new one: hosts round
/// times to whole milliseconds (ffmpeg's Matroska clones of a 24 fps clip's end land at 1.999 s
/// for a `start` of 2), far under the 4 ms between frames at 240 fps.
const START_SLACK: f64 = 0.0015;

/// Each distinct error once per process: hosts call every frame. Through the plugin's logger
/// (`kino frei0r: error: ...`), so `KINO_LOG=off` silences it as it does the rest.
pub fn log_once(msg: &str) {
    if first_time(msg) {
        words::install();
        log::error!("{msg}");
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
    *SECONDS.get_or_init(|| host_is_mlt() || host_is_gstreamer())
}

/// MLT is the host (its library is in the process); looked up once, since finding it may read
/// the process's maps.
fn host_is_mlt() -> bool {
    static MLT: OnceLock<bool> = OnceLock::new();
    *MLT.get_or_init(ffi::process_has_symbol_mlt)
}

/// ffmpeg (`frei0r_src`, `frei0r`) is the host: its libavfilter is in the process, MLT's and
/// GStreamer's are not (MLT may link ffmpeg's libraries too).
fn host_is_ffmpeg() -> bool {
    static FFMPEG: OnceLock<bool> = OnceLock::new();
    *FFMPEG.get_or_init(|| ffi::process_has_symbol_avfilter() && !host_counts_seconds())
}

/// ffmpeg's `frei0r_src` (5.1) hands the plugin its frame buffer, whose rows it pads to 64 bytes,
/// as if the rows were packed: at a width that is not a multiple of 16 pixels every row after the
/// first lands shifted and the picture shears (its own test pattern plugins shear the same way).
/// kino cannot know the padding, so it says what to ask for instead.
fn ffmpeg_source_width_warning(width: u32) -> String {
    let w = width.div_ceil(16) * 16;
    format!(
        "ffmpeg's frei0r_src shears frames whose width is not a multiple of 16 pixels (here {width}): ask for size={w}x... and crop=w={width} after it, or use the kino command"
    )
}

/// GStreamer's frei0r wrapper is the host.
pub(crate) fn host_is_gstreamer() -> bool {
    static GST: OnceLock<bool> = OnceLock::new();
    // Never in an MLT host: GStreamer's way of passing strings must not apply there.
    *GST.get_or_init(|| ffi::process_has_symbol_gstreamer() && !host_is_mlt())
}

/// Seconds of footage the source may be asked for: kino makes at most an hour of footage in one
/// run (`MAX_LONG_FRAMES` at 30 fps). The source's time is its footage's; the filters' and the
/// transition's footage starts where the clip or the transition does, so their host time may be
/// later (a clip an hour into a long recording, a live stream).
const MAX_HOST_SECONDS: f64 = MAX_LONG_FRAMES as f64 / 30.0;

/// A host time past this is no time at all (GStreamer's "no time", 1.8e10 s, for a stream
/// without a frame rate; ffmpeg's, scaled), never a frame's: about 32 years.
const NO_TIME_SECONDS: f64 = 1e9;

/// The host's frame time in seconds, when it is one kino can serve.
fn host_seconds(time: f64, scale: f64, width: u32) -> Result<f64, String> {
    let seconds = time * scale;
    if !seconds.is_finite() {
        return Err(format!("host time {time} is not a number"));
    }
    if seconds < -NO_TIME_SECONDS {
        // ffmpeg's "no time stamp" (INT64_MIN) scaled. ffmpeg's frei0r filter loses a frame's
        // time when it copies the frame into a buffer with unpadded rows, which it does (ffmpeg
        // 5.1) for widths that are not a multiple of 64 pixels.
        return Err(format!(
            "the host passed no frame time, so kino cannot tell which frame is which. ffmpeg's frei0r filter drops the time of frames whose width is not a multiple of 64 pixels (here {width}): pad or scale to such a width before the filter (e.g. pad={}:ih), or use the kino command",
            width.div_ceil(64) * 64
        ));
    }
    if seconds > NO_TIME_SECONDS {
        return Err(format!("host time {seconds:.0} s is not a frame's time (no time stamp); does the stream have a frame rate?"));
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

    /// A filter's clip may lie hours into the host's timeline (a long recording, a live stream):
    /// only "no time" is refused; the source's own footage is limited to what kino makes.
    #[test]
    fn host_times_past_an_hour_are_frame_times() {
        assert_eq!(host_seconds(4000.0, 1.0, 64), Ok(4000.0));
        assert_eq!(host_seconds(4_000_000.0, 0.001, 64), Ok(4000.0), "ffmpeg's milliseconds");
        assert!(host_seconds(1.8e10, 1.0, 64).unwrap_err().contains("no time stamp"), "GStreamer's no time");
        assert!(host_seconds(i64::MIN as f64, 0.001, 64).unwrap_err().contains("no frame time"), "ffmpeg's no time");
        let mut source = Instance::new(Kind::Generate, 16, 16);
        source.settings.prompt = "a red circle moving left".into();
        source.settings.time_unit = "s".into();
        let mut out = vec![0; 16 * 16 * 4];
        let err = source.render(4000.0, None, &mut out).unwrap_err();
        assert!(err.contains("past the longest footage"), "{err}");
    }

    #[test]
    fn bad_settings_give_an_error_frame_not_a_panic() {
        let mut inst = Instance::new(Kind::Generate, 16, 16);
        inst.settings.time_unit = "fortnights".into();
        let mut out = vec![0; 16 * 16 * 4];
        inst.update(0.0, None, &mut out);
        assert_eq!(&out[..4], &[200, 20, 20, 255]);
    }

    /// A setting changed in the middle of an animated clip (an editor's panel) animates the same
    /// first frame from the same start: the frames are those of the new settings played from the
    /// clip's start, not a new animation from the frame under the playhead.
    #[test]
    fn animate_keeps_its_start_when_a_setting_changes() {
        let model = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/kino-shapes");
        let input: Vec<u8> = (0..64 * 64)
            .flat_map(|i| {
                let (x, y) = (i % 64, i / 64);
                if (20..40).contains(&x) && (20..40).contains(&y) {
                    [230, 230, 230, 255]
                } else {
                    [20, 20, 25, 255]
                }
            })
            .collect();
        let instance = |seed: &str| {
            let mut inst = Instance::new(Kind::Animate, 64, 64);
            inst.settings.model = model.to_string_lossy().into_owned();
            inst.settings.time_unit = "s".into();
            inst.settings.prompt = "a white square moving right".into();
            inst.settings.seed = seed.into();
            inst
        };
        let frame = |inst: &mut Instance, t: f64| {
            let mut out = vec![0; input.len()];
            inst.update(t, Some(&input), &mut out);
            out
        };
        let mut changed = instance("1");
        for i in 0..4 {
            frame(&mut changed, i as f64 / 8.0);
        }
        changed.settings.seed = "2".into();
        let after: Vec<Vec<u8>> = (8..11).map(|i| frame(&mut changed, i as f64 / 8.0)).collect();
        let mut fresh = instance("2");
        frame(&mut fresh, 0.0);
        let want: Vec<Vec<u8>> = (8..11).map(|i| frame(&mut fresh, i as f64 / 8.0)).collect();
        assert!(want.iter().all(|f| f[..4] != [200, 20, 20, 255]), "frames, not errors");
        assert!(after == want, "the new seed's frames at the clip's own times");
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
