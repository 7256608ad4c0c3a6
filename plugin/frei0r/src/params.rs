//! The plugins' parameters. All are frei0r strings: frei0r doubles are specified as 0..1, which
//! fits neither a seed nor a step count, and ffmpeg passes strings through as typed.

use std::ffi::CStr;

use kino::{GenerateRequest, Pipeline};

/// Which plugin this library is, chosen by the name it is installed under.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `kino`: a source that generates from the prompt.
    Generate,
    /// `kino_extend`: a filter that passes the clip through and replaces frames after its end.
    Extend,
    /// `kino_animate`: a filter that animates the first frame it is given.
    Animate,
    /// `kino_bridge`: a mixer2 (MLT's transitions) whose frames lead from its first input to
    /// its second.
    Bridge,
}

impl Kind {
    /// From the installed file name (`kino.so`, `kino_extend.so`, `kino_animate.so`).
    pub fn from_file_stem(stem: &str) -> Kind {
        let s = stem.to_ascii_lowercase();
        if s.contains("extend") {
            Kind::Extend
        } else if s.contains("animate") {
            Kind::Animate
        } else if s.contains("bridge") {
            Kind::Bridge
        } else {
            Kind::Generate
        }
    }

    pub fn name(self) -> &'static CStr {
        match self {
            Kind::Generate => c"kino",
            Kind::Extend => c"kino_extend",
            Kind::Animate => c"kino_animate",
            Kind::Bridge => c"kino_bridge",
        }
    }

    pub fn explanation(self) -> &'static CStr {
        match self {
            Kind::Generate => c"Text-to-video generation with kino (params: prompt|seed|steps|guidance|model|device|negative_prompt|time_unit|fit|storyboard|guidance_interval|sampler)",
            Kind::Extend => c"Continues a clip with generated footage: frames from `start` (empty: where the clip ends on a freeze, as tpad's clones or a clip held past its end make) are replaced",
            Kind::Animate => c"Animates the first input frame with kino: every output frame is generated, starting from it",
            Kind::Bridge => c"A transition that fills its length with footage from the first clip's frame at its start to the second clip's at its end (bridged from the second time it is played; the first time shows the first clip)",
        }
    }

    /// This plugin's parameters, in the order hosts number them: the common ones, then
    /// (extend) `start`, then `fit`, then (generate) `storyboard` (appended, so positional
    /// settings from before stay valid), then `guidance_interval`, then `sampler`.
    pub fn params(self) -> Vec<&'static ParamInfo> {
        self.param_slots().iter().map(|&i| &PARAMS[i]).collect()
    }

    /// For each of this plugin's parameters, its place in [`PARAMS`] (and [`Settings::slot`]).
    pub fn param_slots(self) -> &'static [usize] {
        match self {
            Kind::Extend => &[0, 1, 2, 3, 4, 5, 6, 7, START, FIT, GUIDANCE_INTERVAL, SAMPLER],
            Kind::Generate => &[0, 1, 2, 3, 4, 5, 6, 7, FIT, STORYBOARD, GUIDANCE_INTERVAL, SAMPLER],
            Kind::Animate | Kind::Bridge => &[0, 1, 2, 3, 4, 5, 6, 7, FIT, GUIDANCE_INTERVAL, SAMPLER],
        }
    }
}

pub struct ParamInfo {
    pub name: &'static CStr,
    pub explanation: &'static CStr,
    pub default: &'static str,
}

const START: usize = 8;
const FIT: usize = 9;
const STORYBOARD: usize = 10;
const GUIDANCE_INTERVAL: usize = 11;
const SAMPLER: usize = 12;

/// Every parameter of the three plugins; [`Kind::params`] says which each has.
pub static PARAMS: [ParamInfo; 13] = [
    ParamInfo { name: c"prompt", explanation: c"What the video shows, e.g. a red circle moving left", default: "" },
    ParamInfo { name: c"seed", explanation: c"Random seed (a whole number); the same seed gives the same frames", default: "0" },
    ParamInfo { name: c"steps", explanation: c"Denoising steps (empty: the model's default)", default: "" },
    ParamInfo { name: c"guidance", explanation: c"Classifier-free guidance scale (empty: the model's default)", default: "" },
    ParamInfo { name: c"model", explanation: c"Model package folder or name (empty: the shipped kino-shapes)", default: "" },
    ParamInfo { name: c"device", explanation: c"cpu, cuda[:N], tensorrt[:N] or auto", default: "cpu" },
    ParamInfo { name: c"negative_prompt", explanation: c"What the video should not show (empty: the model's default)", default: "" },
    ParamInfo { name: c"time_unit", explanation: c"Unit of the host's frame times: auto (MLT and GStreamer seconds, ffmpeg milliseconds), s or ms", default: "auto" },
    ParamInfo { name: c"start", explanation: c"Extend: time in seconds where generated footage begins (empty: where the clip ends on a freeze)", default: "" },
    ParamInfo {
        name: c"fit",
        explanation: c"How the model's frames fit a frame of another shape, never stretched: letterbox (black bars; the default) or crop (fills, cuts the overflow; kino_animate's default); filters read their input through the same window",
        default: "letterbox",
    },
    ParamInfo {
        name: c"storyboard",
        explanation: c"Prompts on a timeline, replacing prompt: TIME PROMPT entries separated by ; or new lines, the first at 0s (0s a red circle moving left; 4s a red circle moving up); a prompt starting with [cut] starts a new shot",
        default: "",
    },
    ParamInfo {
        name: c"guidance_interval",
        explanation: c"LOW,HIGH: guide only the steps whose noise level lies between them (0..1), the others run once, faster (empty: the model's default, usually every step)",
        default: "",
    },
    ParamInfo {
        name: c"sampler",
        explanation: c"deterministic or stochastic: how each denoising step moves (stochastic: the model's clean estimate noised afresh at every step, flow-match Euler models; empty or default: the model's)",
        default: "",
    },
];

/// Every parameter's current value, as set by the host.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Settings {
    pub prompt: String,
    pub seed: String,
    pub steps: String,
    pub guidance: String,
    pub model: String,
    pub device: String,
    pub negative_prompt: String,
    pub time_unit: String,
    pub start: String,
    pub fit: String,
    pub storyboard: String,
    pub guidance_interval: String,
    pub sampler: String,
}

impl Default for Settings {
    fn default() -> Self {
        let d = |i: usize| PARAMS[i].default.to_string();
        Settings {
            prompt: d(0),
            seed: d(1),
            steps: d(2),
            guidance: d(3),
            model: d(4),
            device: d(5),
            negative_prompt: d(6),
            time_unit: d(7),
            start: d(START),
            fit: d(FIT),
            storyboard: d(STORYBOARD),
            guidance_interval: d(GUIDANCE_INTERVAL),
            sampler: d(SAMPLER),
        }
    }
}

impl Settings {
    /// The settings a new instance of `kind` starts with. kino_animate crops: its first frame
    /// is the user's still, whole (letterboxed, bars would cover its sides), as `kino animate`.
    pub fn for_kind(kind: Kind) -> Self {
        let mut s = Settings::default();
        if kind == Kind::Animate {
            s.fit = "crop".into();
        }
        s
    }

    /// Parameter `index` of [`PARAMS`].
    pub fn slot(&mut self, index: usize) -> Option<&mut String> {
        Some(match index {
            0 => &mut self.prompt,
            1 => &mut self.seed,
            2 => &mut self.steps,
            3 => &mut self.guidance,
            4 => &mut self.model,
            5 => &mut self.device,
            6 => &mut self.negative_prompt,
            7 => &mut self.time_unit,
            START => &mut self.start,
            FIT => &mut self.fit,
            STORYBOARD => &mut self.storyboard,
            GUIDANCE_INTERVAL => &mut self.guidance_interval,
            SAMPLER => &mut self.sampler,
            _ => return None,
        })
    }

    /// The settings that decide the footage (the time unit and start only decide which frame
    /// is shown when, fit how it is placed and the frames it starts from, which are part of
    /// the footage's key), so instances that differ only in those share it.
    pub fn footage(&self) -> Settings {
        Settings { time_unit: String::new(), start: String::new(), fit: String::new(), ..self.clone() }
    }

    /// How frames fit the host's frame (empty: letterbox).
    pub fn fit(&self) -> Result<kino::Fit, String> {
        match self.fit.trim() {
            "" => Ok(kino::Fit::Letterbox),
            f => f.parse().map_err(|e: kino::Error| e.to_string()),
        }
    }

    /// The sampler asked for (empty or `default`: the model's).
    pub fn sampler(&self) -> Result<Option<kino::pipeline::Sampler>, String> {
        match self.sampler.trim() {
            "" | "default" => Ok(None),
            s => s.parse().map(Some).map_err(|e: String| format!("the sampler parameter: {e}")),
        }
    }

    /// The request these settings stand for, on the pipeline's defaults.
    pub fn request(&self, p: &Pipeline) -> Result<GenerateRequest, String> {
        // Hosts show a frame before the user has typed anything (Kdenlive's generator dialog
        // does): an empty prompt is one not set yet, not a request for whatever the model likes.
        if self.prompt.trim().is_empty() && self.storyboard.trim().is_empty() {
            return Err("the prompt is empty: set the prompt parameter to what the video should show".into());
        }
        let mut req = GenerateRequest::defaults_for(&p.package, self.prompt.clone());
        req.seed = parse(&self.seed, "seed").map_err(|e| format!("{e}: set the seed parameter to a whole number, 0 or more"))?.unwrap_or(0);
        if let Some(s) =
            parse::<usize>(&self.steps, "steps").map_err(|e| format!("{e}: set the steps parameter to a whole number from 1 to 1000"))?
        {
            req.steps = s;
        }
        if let Some(g) =
            parse::<f32>(&self.guidance, "guidance").map_err(|e| format!("{e}: set the guidance parameter to a number from 0 to 50"))?
        {
            req.set_guidance(g);
        }
        if !self.negative_prompt.is_empty() {
            req.negative_prompt = Some(self.negative_prompt.clone());
        }
        if !self.guidance_interval.trim().is_empty() {
            let interval = kino::pipeline::GuidanceInterval::parse(self.guidance_interval.trim(), "the guidance_interval parameter");
            req.guidance_interval = Some(interval.map_err(|e| e.to_string())?);
        }
        req.sampler = self.sampler()?;
        if !self.storyboard.trim().is_empty() {
            // One line per entry in a file; hosts' text fields are one line, so `;` separates too.
            let text = self.storyboard.replace(';', "\n");
            let board = kino::pipeline::parse_storyboard(&text, p.package.manifest.video.fps).map_err(|e| e.to_string())?;
            req.prompt = board[0].prompt.clone();
            req.storyboard = board[1..].to_vec();
            // The footage is long (made window by window); only the order of times is checked here.
            req.frames = kino::pipeline::MAX_LONG_FRAMES;
        }
        req.validate(&p.package).map_err(|e| e.to_string())?;
        Ok(req)
    }

    /// Seconds per unit of the host's time argument; `host_seconds`: the host counts in seconds
    /// (MLT, GStreamer), else in milliseconds (ffmpeg).
    pub fn time_scale(&self, host_seconds: bool) -> Result<f64, String> {
        match self.time_unit.trim() {
            "" | "auto" => Ok(if host_seconds { 1.0 } else { 0.001 }),
            "s" | "seconds" => Ok(1.0),
            "ms" | "milliseconds" => Ok(0.001),
            other => Err(format!("time_unit {}: use auto, s or ms", kino::error::quoted(other))),
        }
    }

    /// The extend filter's start time in seconds, if given.
    pub fn start_seconds(&self) -> Result<Option<f64>, String> {
        // `2s` as the storyboard writes times, or a bare number of seconds.
        let trimmed = self.start.trim();
        let bare = trimmed.strip_suffix(['s', 'S']).filter(|n| !n.trim().is_empty()).unwrap_or(trimmed);
        let v: Option<f64> =
            parse(bare, "start").map_err(|_| format!("start {:?}: use a time in seconds (2.5 or 2.5s), 0 or more", self.start))?;
        match v {
            Some(x) if !(x.is_finite() && x >= 0.0) => Err(format!("start {x}: use a time in seconds, 0 or more")),
            v => Ok(v),
        }
    }
}

fn parse<T: std::str::FromStr>(s: &str, what: &str) -> Result<Option<T>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    s.parse().map(Some).map_err(|_| format!("{what} {} is not a valid number", kino::error::quoted(s)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_follow_the_installed_name() {
        assert_eq!(Kind::from_file_stem("kino"), Kind::Generate);
        assert_eq!(Kind::from_file_stem("kino_extend"), Kind::Extend);
        assert_eq!(Kind::from_file_stem("kino_animate"), Kind::Animate);
        assert_eq!(Kind::from_file_stem("kino_bridge"), Kind::Bridge);
        let names = |k: Kind| k.params().iter().map(|p| p.name.to_str().unwrap()).collect::<Vec<_>>();
        assert_eq!(names(Kind::Generate).len(), 12);
        assert_eq!(names(Kind::Animate)[..9], names(Kind::Generate)[..9]);
        assert_eq!(names(Kind::Generate)[9], "storyboard");
        // Extend's start keeps its place (ffmpeg sets parameters by position); new ones come last.
        assert_eq!(names(Kind::Extend)[8..], ["start", "fit", "guidance_interval", "sampler"]);
        for k in [Kind::Generate, Kind::Animate, Kind::Bridge] {
            assert_eq!(names(k)[names(k).len() - 2..], ["guidance_interval", "sampler"]);
        }
        assert_eq!(names(Kind::Generate)[8], "fit");
        for k in [Kind::Generate, Kind::Extend, Kind::Animate, Kind::Bridge] {
            assert!(k.params().iter().zip(k.param_slots()).all(|(p, &i)| std::ptr::eq(*p, &PARAMS[i])));
        }
    }

    #[test]
    fn numbers_parse_or_say_which_is_wrong() {
        let mut s = Settings::default();
        *s.slot(8).unwrap() = "2.5".into();
        assert_eq!(s.start_seconds(), Ok(Some(2.5)));
        s.start = " 2.5s ".into();
        assert_eq!(s.start_seconds(), Ok(Some(2.5)), "seconds as the storyboard writes them");
        s.start = "soon".into();
        assert!(s.start_seconds().unwrap_err().contains("start \"soon\""));
        assert_eq!(s.time_scale(true), Ok(1.0));
        assert_eq!(s.time_scale(false), Ok(0.001));
        s.time_unit = "s".into();
        assert_eq!(s.time_scale(false), Ok(1.0));
        s.time_unit = "hours".into();
        assert!(s.time_scale(false).is_err());
        assert!(s.slot(PARAMS.len()).is_none());
        assert_eq!(s.sampler(), Ok(None));
        *s.slot(SAMPLER).unwrap() = "stochastic".into();
        assert_eq!(s.sampler(), Ok(Some(kino::pipeline::Sampler::Stochastic)));
        s.sampler = "default".into();
        assert_eq!(s.sampler(), Ok(None));
        s.sampler = "ancestral".into();
        assert!(s.sampler().unwrap_err().contains("sampler parameter"));
        assert_eq!(s.fit(), Ok(kino::Fit::Letterbox));
        *s.slot(FIT).unwrap() = "crop".into();
        assert_eq!(s.fit(), Ok(kino::Fit::Crop));
        s.fit = "stretch".into();
        assert!(s.fit().unwrap_err().contains("letterbox or crop"));
    }
}
