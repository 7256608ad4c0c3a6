//! What to generate: [`GenerateRequest`], its checks against a model package, and the parsers
//! the front doors share for the values people type (sizes).

use crate::error::{Error, Result};
use crate::model::ModelPackage;

use super::candidates::MAX_CANDIDATES;
use super::ContextMode;

/// Largest width or height anyone may ask for, whatever the manifest says (guards allocation).
pub const ABSOLUTE_MAX_SIZE: u32 = crate::limits::MAX_INPUT_SIDE;
/// Longest clip made window by window (an hour at 30 fps).
pub const MAX_LONG_FRAMES: u32 = 108_000;

/// What to generate.
#[derive(Clone, Debug, PartialEq)]
pub struct GenerateRequest {
    pub prompt: String,
    /// `None` uses the package's default negative prompt.
    pub negative_prompt: Option<String>,
    pub width: u32,
    pub height: u32,
    /// Frames to make. Up to the model's `max_frames` this is one window and must follow the
    /// model's frame rule (`1 + 4k`); longer clips are made window by window, any length.
    pub frames: u32,
    pub steps: usize,
    /// Classifier-free guidance scale; 1.0 (or less) runs the prompt alone.
    pub guidance: f32,
    /// Guidance for windows whose footage goes from given frames into the user's or remixes a
    /// clip at strength 0.5 or less; `None`: `guidance` there too. From the package's `defaults.guidance_given_frames`;
    /// [`GenerateRequest::set_guidance`] (a user's explicit guidance) clears it.
    pub guidance_given_frames: Option<f32>,
    /// The noise levels at which guidance runs; `None`: every step.
    pub guidance_interval: Option<GuidanceInterval>,
    pub seed: u64,
    /// How the scheduler's steps move; `None`: as the model's manifest says.
    pub sampler: Option<Sampler>,
    /// How context frames steer generation; `None` picks the model's best.
    pub context_mode: Option<ContextMode>,
    /// Prompts on a timeline: from each entry's frame on, windows follow its prompt instead
    /// (`prompt` holds until the first). Frames strictly increasing, within the clip.
    pub storyboard: Vec<PromptAt>,
    /// Draws of each window whose new footage arrives at given frames (extend backwards,
    /// bridges, loops, footage into a keyframe), 1 to [`MAX_CANDIDATES`]: the draw whose decode
    /// of the given frames comes nearest to them is kept. From the package's
    /// `defaults.candidates` (1 when absent).
    pub candidates: usize,
}

/// How each denoising step moves (flow-match Euler models): along the model's velocity, or to
/// the model's clean estimate noised afresh to the next level (`scheduler.stochastic_sampling`).
/// Chosen, it applies to every window; left to the package, windows going from given frames into
/// the user's follow the manifest's `stochastic_given_frames`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Sampler {
    Deterministic,
    Stochastic,
}

impl std::str::FromStr for Sampler {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "deterministic" => Ok(Sampler::Deterministic),
            "stochastic" => Ok(Sampler::Stochastic),
            _ => Err(format!("unknown sampler {s:?}: use deterministic or stochastic")),
        }
    }
}

impl Sampler {
    /// The package's scheduler with this sampler applied (`None`: as it is).
    pub fn apply(sampler: Option<Sampler>, cfg: &crate::scheduler::SchedulerConfig) -> crate::scheduler::SchedulerConfig {
        let mut cfg = cfg.clone();
        cfg.stochastic_sampling = Self::is_stochastic(sampler, &cfg);
        cfg
    }

    /// Whether steps are stochastic with this sampler on this package's scheduler (`None`: where
    /// the package allows; `stochastic_given_frames` decides for windows between given frames).
    pub fn is_stochastic(sampler: Option<Sampler>, cfg: &crate::scheduler::SchedulerConfig) -> bool {
        sampler.map_or(cfg.stochastic_sampling, |s| s == Sampler::Stochastic)
    }

    /// Whether windows whose footage goes from given frames into the user's step as the others do: a chosen
    /// sampler applies everywhere; left to the package, its `stochastic_given_frames` decides.
    pub fn applies_into_given(sampler: Option<Sampler>, cfg: &crate::scheduler::SchedulerConfig) -> bool {
        sampler.is_some() || cfg.stochastic_given_frames
    }

    /// How the steps move, for a job's start line: "" (deterministic), ", stochastic", or
    /// ", stochastic except between given frames" where windows whose footage goes from given
    /// frames into the user's stay deterministic.
    pub fn describe(sampler: Option<Sampler>, cfg: &crate::scheduler::SchedulerConfig) -> &'static str {
        match (Self::is_stochastic(sampler, cfg), Self::applies_into_given(sampler, cfg)) {
            (false, _) => "",
            (true, true) => ", stochastic",
            (true, false) => ", stochastic except between given frames",
        }
    }
}

/// The noise levels, `low..=high` (0 clean, 1 pure noise), at which classifier-free guidance
/// runs. Guidance decides layout and motion at high noise; at low noise it mostly sharpens, and
/// there the prompt alone (one model run per step instead of two) is cheaper and can draw fewer
/// artefacts ("Applying Guidance in a Limited Interval", Kynkäänniemi et al. 2024).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
#[serde(into = "[f32; 2]")]
pub struct GuidanceInterval {
    pub low: f32,
    pub high: f32,
}

/// `[low, high]`, as a package's `defaults.guidance_interval` and `kino bench --json` write it.
impl From<GuidanceInterval> for [f32; 2] {
    fn from(g: GuidanceInterval) -> Self {
        [g.low, g.high]
    }
}

impl GuidanceInterval {
    /// `0 <= low < high <= 1`, else a message naming the valid range.
    pub fn new(low: f32, high: f32) -> std::result::Result<Self, String> {
        if !(low.is_finite() && high.is_finite() && 0.0 <= low && low < high && high <= 1.0) {
            return Err(format!("noise levels {low},{high}: give LOW,HIGH with 0 <= LOW < HIGH <= 1 (0 clean, 1 pure noise)"));
        }
        Ok(GuidanceInterval { low, high })
    }

    /// Parses `LOW,HIGH` (`0.5,1`); `what` names the value in messages (a flag or a panel label).
    pub fn parse(s: &str, what: &str) -> Result<Self> {
        let bad = |why: String| Error::InvalidRequest(format!("{what} {}: {why}", crate::error::quoted(s)));
        let (low, high) = s.split_once(',').ok_or_else(|| bad("give LOW,HIGH, e.g. 0.5,1".into()))?;
        let num = |v: &str| v.trim().parse::<f32>().map_err(|_| bad(format!("{} is not a number; give LOW,HIGH, e.g. 0.5,1", v.trim())));
        GuidanceInterval::new(num(low)?, num(high)?).map_err(bad)
    }

    /// The guidance scale as people read it: `4`, or `4 at noise 0.5-1` with an interval.
    pub fn describe(scale: f32, interval: Option<GuidanceInterval>) -> String {
        match interval {
            Some(g) => format!("{scale} at noise {}-{}", g.low, g.high),
            None => format!("{scale}"),
        }
    }

    /// Whether a step at noise level `sigma` is guided.
    pub fn contains(&self, sigma: f32) -> bool {
        (self.low..=self.high).contains(&sigma)
    }
}

/// A prompt that takes over from frame `frame` of a clip (a storyboard line): the windows from
/// there continue the frames before them, or, with `cut`, a new shot starts from the prompt alone.
#[derive(Clone, Debug, PartialEq)]
pub struct PromptAt {
    pub frame: u32,
    pub prompt: String,
    pub cut: bool,
    /// Where it was typed, for messages (`storyboard line 3`, `--prompt-at 2`); empty: its
    /// place in the storyboard names it.
    pub place: String,
}

impl PromptAt {
    /// A storyboard entry as typed at `place` (a line, a flag): a prompt starting with `[cut]`
    /// starts a new shot.
    pub fn typed(frame: u32, text: &str, place: impl Into<String>) -> PromptAt {
        let text = text.trim();
        let cut = text.get(..5).is_some_and(|p| p.eq_ignore_ascii_case("[cut]"));
        let prompt = if cut { text[5..].trim() } else { text };
        PromptAt { frame, prompt: prompt.to_string(), cut, place: place.into() }
    }

    /// How messages name this entry: where it was typed, else its `number` in the storyboard.
    fn named(&self, number: usize) -> String {
        if self.place.is_empty() {
            format!("storyboard entry {number}")
        } else {
            self.place.clone()
        }
    }
}

impl GenerateRequest {
    /// The package's defaults, with this prompt.
    pub fn defaults_for(pkg: &ModelPackage, prompt: impl Into<String>) -> Self {
        let m = &pkg.manifest;
        GenerateRequest {
            prompt: prompt.into(),
            negative_prompt: None,
            width: m.video.default_width,
            height: m.video.default_height,
            frames: m.video.default_frames,
            steps: m.defaults.steps,
            guidance: m.defaults.guidance,
            guidance_given_frames: m.defaults.guidance_given_frames,
            guidance_interval: m.defaults.guidance_interval.and_then(|[low, high]| GuidanceInterval::new(low, high).ok()),
            seed: 0,
            sampler: None,
            context_mode: None,
            storyboard: Vec::new(),
            candidates: m.defaults.candidates.unwrap_or(1),
        }
    }

    /// Guidance `g` for every window, as a user's explicit setting is.
    pub fn set_guidance(&mut self, g: f32) {
        self.guidance = g;
        self.guidance_given_frames = None;
    }

    /// The step a remix at `strength` starts from (diffusers' img2img: the last
    /// round(steps x strength) steps of the schedule are run).
    pub fn remix_first_step(&self, strength: f32) -> usize {
        self.steps - ((self.steps as f32 * strength).round() as usize).min(self.steps)
    }

    /// Whether a window renoised to `first_step` keeps its clip's layout and motion (half the
    /// schedule or less redone): it is then made as footage into given frames is, with their
    /// guidance and sampler.
    pub fn keeps_layout(&self, first_step: usize) -> bool {
        2 * first_step >= self.steps
    }

    /// This request as every window of it runs when each goes into given frames (a remix that
    /// keeps the layout): the guidance and sampler those windows use, for saying what was run.
    pub fn as_run_into_given(&self, cfg: &crate::scheduler::SchedulerConfig) -> GenerateRequest {
        let stochastic = Sampler::is_stochastic(self.sampler, cfg) && Sampler::applies_into_given(self.sampler, cfg);
        let mut run = self.clone();
        run.set_guidance(self.guidance_for(true));
        run.sampler = Some(if stochastic { Sampler::Stochastic } else { Sampler::Deterministic });
        run
    }

    /// Guidance for a window: `into_given` when its footage goes from given frames into the
    /// user's or remixes a clip at strength 0.5 or less.
    pub fn guidance_for(&self, into_given: bool) -> f32 {
        match self.guidance_given_frames {
            Some(g) if into_given => g,
            _ => self.guidance,
        }
    }

    /// Whether any window runs classifier-free guidance (the negative prompt is encoded).
    pub fn guided(&self) -> bool {
        self.guidance > 1.0 || self.guidance_given_frames.is_some_and(|g| g > 1.0)
    }

    /// Checks the request for `generate` against the package, with messages that name the valid values.
    pub fn validate(&self, pkg: &ModelPackage) -> Result<()> {
        self.validate_settings(pkg)?;
        self.validate_storyboard()?;
        let m = &pkg.manifest;
        let v = &m.video;
        if self.frames > v.max_frames {
            if self.frames > MAX_LONG_FRAMES {
                return Err(Error::InvalidRequest(format!(
                    "{} frames is too long: kino makes at most {MAX_LONG_FRAMES} frames in one run",
                    self.frames
                )));
            }
            if m.vae_encoder.is_none() {
                return Err(Error::InvalidRequest(format!(
                    "{} frames is longer than one window of model {} (up to {} frames), and the model has no VAE encoder to chain windows",
                    self.frames, m.name, v.max_frames
                )));
            }
            return Ok(());
        }
        if !v.frames_valid(&m.latent, self.frames) {
            let near = m.latent.nearest_valid_frames(self.frames as f64).min(v.max_frames);
            return Err(Error::InvalidRequest(format!(
                "{} frames is not supported by model {}: frame counts are 1 + {}*k up to {}, or any count above {} (made window by window); nearest: {near}",
                self.frames, m.name, m.latent.temporal_compression, v.max_frames, v.max_frames
            )));
        }
        Ok(())
    }

    /// The storyboard's frames rise, lie within the clip, and each prompt fits the limits.
    pub fn validate_storyboard(&self) -> Result<()> {
        let mut last: Option<u32> = None;
        for (i, p) in self.storyboard.iter().enumerate() {
            // The clip's first prompt is entry 1; the changes follow it.
            let name = p.named(i + 2);
            if p.frame >= self.frames {
                return Err(Error::InvalidRequest(format!(
                    "{name}: its time (frame {}) is past the clip's end: the clip has {} frames",
                    p.frame, self.frames
                )));
            }
            if let Some(l) = last.filter(|&l| p.frame <= l) {
                return Err(Error::InvalidRequest(format!(
                    "{name}: its time (frame {}) is not after the prompt before it (frame {l}): list prompts in time order",
                    p.frame
                )));
            }
            if p.prompt.chars().count() > crate::text::MAX_PROMPT_CHARS {
                return Err(Error::InvalidRequest(format!(
                    "{name}: the prompt is longer than {} characters",
                    crate::text::MAX_PROMPT_CHARS
                )));
            }
            last = Some(p.frame);
        }
        Ok(())
    }

    /// Size, steps and guidance (everything but the frame count).
    pub fn validate_settings(&self, pkg: &ModelPackage) -> Result<()> {
        let m = &pkg.manifest;
        let v = &m.video;
        for (what, size) in [("width", self.width), ("height", self.height)] {
            if size == 0 || size > ABSOLUTE_MAX_SIZE || size < v.min_size || size > v.max_size || size % v.size_multiple != 0 {
                if v.min_size == v.max_size {
                    return Err(Error::InvalidRequest(format!(
                        "{what} {size} is not supported by model {}: it was trained at {}x{} only and draws no other size",
                        m.name, v.min_size, v.min_size
                    )));
                }
                return Err(Error::InvalidRequest(format!(
                    "{what} {size} is not supported by model {}: use a multiple of {} between {} and {} (default {}x{})",
                    m.name, v.size_multiple, v.min_size, v.max_size, v.default_width, v.default_height
                )));
            }
        }
        for (what, text) in [("prompt", Some(&self.prompt)), ("negative prompt", self.negative_prompt.as_ref())] {
            let chars = text.map_or(0, |t| t.chars().count());
            if chars > crate::text::MAX_PROMPT_CHARS {
                return Err(Error::InvalidRequest(format!(
                    "the {what} is {chars} characters long; the limit is {} (model {} reads at most {} tokens)",
                    crate::text::MAX_PROMPT_CHARS,
                    m.name,
                    m.tokenizer.max_length
                )));
            }
        }
        if self.steps == 0 || self.steps > 1000 {
            return Err(Error::InvalidRequest(format!("steps must be between 1 and 1000, got {}", self.steps)));
        }
        if self.sampler == Some(Sampler::Stochastic) && m.scheduler.kind != crate::scheduler::SchedulerKind::FlowMatchEuler {
            return Err(Error::InvalidRequest(format!(
                "the stochastic sampler needs a flow-match Euler scheduler; model {} uses UniPC: leave the sampler at the model's",
                m.name
            )));
        }
        if !self.guidance.is_finite() || !(0.0..=50.0).contains(&self.guidance) {
            return Err(Error::InvalidRequest(format!("guidance must be a number between 0 and 50, got {}", self.guidance)));
        }
        if !(1..=MAX_CANDIDATES).contains(&self.candidates) {
            return Err(Error::InvalidRequest(format!(
                "candidates must be between 1 and {MAX_CANDIDATES} draws of a window, got {}",
                self.candidates
            )));
        }
        Ok(())
    }
}

/// Parses `WIDTHxHEIGHT` (`64x64`, `96 X 64`): two whole numbers, each at most
/// [`ABSOLUTE_MAX_SIZE`]. `what` names the value in messages (a flag or a panel label).
pub fn parse_size(s: &str, what: &str) -> Result<(u32, u32)> {
    let bad = |why: &str| Error::InvalidRequest(format!("{what} {}: {why}; use WIDTHxHEIGHT, e.g. 64x64", crate::error::quoted(s)));
    let lower = s.to_ascii_lowercase();
    let (w, h) = lower.split_once('x').ok_or_else(|| bad("no x between width and height"))?;
    let side = |v: &str, name: &str| -> Result<u32> {
        let v = v.trim();
        if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad(&format!("{name} is not a whole number")));
        }
        // Digits only, so a failed parse is an overflow: too big, like any n over the cap.
        let n: u32 = v.parse().unwrap_or(u32::MAX);
        if n == 0 || n > ABSOLUTE_MAX_SIZE {
            return Err(bad(&format!("{name} must be from 1 to {ABSOLUTE_MAX_SIZE}")));
        }
        Ok(n)
    };
    Ok((side(w, "width")?, side(h, "height")?))
}

impl GenerateRequest {
    /// Every frame given is at the request's size; else an error naming `what` (`the still`,
    /// `a context frame`) and both sizes.
    pub fn check_frame_sizes<'a>(&self, frames: impl IntoIterator<Item = &'a crate::frame::RgbFrame>, what: &str) -> Result<()> {
        match frames.into_iter().find(|f| (f.width, f.height) != (self.width, self.height)) {
            Some(f) => {
                Err(Error::InvalidRequest(format!("{what} is {}x{}, the request {}x{}", f.width, f.height, self.width, self.height)))
            }
            None => Ok(()),
        }
    }
}

impl GenerateRequest {
    /// A rough upper estimate of the memory this request needs, in bytes: the package's graphs
    /// as ONNX Runtime holds them (weights plus a third for optimised copies and arenas) and one
    /// window's frames in every form the pipeline keeps them (float planes, RGB, the encoder's
    /// queue). `extra` adds what the caller holds (an input still, a clip's context frames).
    /// Front doors compare it with the memory available before any work starts.
    pub fn estimated_memory(&self, pkg: &ModelPackage, extra: u64) -> u64 {
        let weights: u64 = pkg
            .files()
            .iter()
            .map(|f| pkg.dir.join(f))
            .flat_map(|p| {
                let data = p.with_file_name(format!("{}.data", p.file_name().map(|n| n.to_string_lossy()).unwrap_or_default()));
                [p, data]
            })
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum();
        let v = &pkg.manifest.video;
        let window = u64::from(self.frames.min(v.max_frames).max(1));
        let pixels = u64::from(self.width) * u64::from(self.height);
        // Float planes (4 bytes) for the decoded window and its context, RGB copies, the queue.
        let frames = window * pixels * 3 * (4 * 2 + 2) + (96 << 20);
        weights + weights / 3 + frames + extra + (64 << 20)
    }
}

#[cfg(test)]
mod tests {
    use super::{PromptAt, Sampler};
    use crate::scheduler::SchedulerConfig;

    fn euler(extra: &str) -> SchedulerConfig {
        serde_json::from_str(&format!(r#"{{"kind": "flow_match_euler"{extra}}}"#)).unwrap()
    }

    #[test]
    fn the_sampler_overrides_the_package_and_the_start_line_says_where_it_applies() {
        let (plain, sto, text_only) = (
            euler(""),
            euler(r#", "stochastic_sampling": true"#),
            euler(r#", "stochastic_sampling": true, "stochastic_given_frames": false"#),
        );
        assert!(!Sampler::is_stochastic(None, &plain) && Sampler::is_stochastic(None, &sto));
        assert!(Sampler::is_stochastic(Some(Sampler::Stochastic), &plain));
        assert!(!Sampler::is_stochastic(Some(Sampler::Deterministic), &sto));
        assert!(!Sampler::apply(Some(Sampler::Deterministic), &sto).stochastic_sampling);
        assert_eq!(Sampler::describe(None, &plain), "");
        assert_eq!(Sampler::describe(None, &sto), ", stochastic");
        assert_eq!(Sampler::describe(None, &text_only), ", stochastic except between given frames");
        assert_eq!(Sampler::describe(Some(Sampler::Deterministic), &text_only), "");
        assert_eq!(Sampler::describe(Some(Sampler::Stochastic), &text_only), ", stochastic", "a chosen sampler applies everywhere");
    }

    #[test]
    fn guidance_beside_given_frames_holds_until_the_user_sets_guidance() {
        let pkg = crate::model::ModelPackage::load(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/kino-shapes")).unwrap();
        let mut req = super::GenerateRequest::defaults_for(&pkg, "a red circle");
        assert_eq!((req.guidance_for(false), req.guidance_for(true)), (2.0, 4.0), "kino-shapes: 2 from text, 4 between given frames");
        assert!(req.guided());
        // A remix at 0.5 or less runs every window as footage into given frames: guidance 4,
        // deterministic steps (kino-shapes keeps stochastic steps for footage from text).
        assert!(req.keeps_layout(req.remix_first_step(0.4)) && req.keeps_layout(req.remix_first_step(0.5)));
        assert!(!req.keeps_layout(req.remix_first_step(0.6)));
        let run = req.as_run_into_given(&pkg.manifest.scheduler);
        assert_eq!((run.guidance_for(false), run.sampler), (4.0, Some(Sampler::Deterministic)));
        req.set_guidance(3.0);
        assert_eq!((req.guidance_for(false), req.guidance_for(true)), (3.0, 3.0), "an explicit guidance applies everywhere");
        req.set_guidance(1.0);
        assert!(!req.guided(), "guidance 1 everywhere: no negative prompt to encode");
    }

    #[test]
    fn storyboard_errors_name_where_the_entry_was_typed() {
        let pkg = crate::model::ModelPackage::load(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/kino-shapes")).unwrap();
        let mut req = super::GenerateRequest::defaults_for(&pkg, "a red circle");
        req.frames = 64;
        let board = super::super::parse_storyboard("0s a red circle\n\n# later\n9s a blue circle\n", 8.0).unwrap();
        req.storyboard = board[1..].to_vec();
        let e = req.validate_storyboard().unwrap_err().to_string();
        assert!(e.starts_with("storyboard line 4: its time (frame 72) is past the clip's end"), "{e}");
        req.storyboard = vec![PromptAt::typed(40, "a", "--prompt-at \"5s=a\""), PromptAt::typed(32, "b", "--prompt-at \"4s=b\"")];
        let e = req.validate_storyboard().unwrap_err().to_string();
        assert!(e.starts_with("--prompt-at \"4s=b\": its time (frame 32) is not after the prompt before it (frame 40)"), "{e}");
        // Built by a program: its number in the storyboard, the clip's prompt being the first.
        req.storyboard = vec![PromptAt::typed(8, &"x".repeat(crate::text::MAX_PROMPT_CHARS + 1), "")];
        let e = req.validate_storyboard().unwrap_err().to_string();
        assert!(e.starts_with("storyboard entry 2: the prompt is longer than"), "{e}");
    }
}
