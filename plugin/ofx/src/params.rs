//! The generation panel: the parameters every kino effect has, how they are described to the
//! host, and how their values become a [`Settings`].

use std::ffi::CStr;

use kino::model::ModelPackage;

use crate::abi::*;
use crate::suites::{Effect, Props};

pub const PROMPT: &CStr = c"prompt";
pub const NEGATIVE: &CStr = c"negativePrompt";
pub const SEED: &CStr = c"seed";
pub const NEW_SEED: &CStr = c"newSeed";
pub const STEPS: &CStr = c"steps";
pub const GUIDANCE: &CStr = c"guidance";
/// Noise levels (`LOW,HIGH`) of the steps that are guided; empty: the package's default.
pub const GUIDANCE_INTERVAL: &CStr = c"guidanceInterval";
/// How each denoising step moves: the model's default, deterministic or stochastic.
pub const SAMPLER: &CStr = c"sampler";
pub const DURATION: &CStr = c"duration";
pub const MODEL: &CStr = c"model";
pub const DEVICE: &CStr = c"device";
pub const GENERATE: &CStr = c"generate";
pub const STATUS: &CStr = c"status";
/// Extend only: append after the clip or prepend before it.
pub const PLACEMENT: &CStr = c"placement";
/// Extend only: the last source frame kept (append) or the first (prepend); -1: the clip's edge.
pub const SEAM: &CStr = c"seam";
/// Animate only: the source time whose frame is animated.
pub const STILL_TIME: &CStr = c"stillTime";
/// Extend and Animate: where generated footage begins (append: the first frame replaced;
/// prepend: the first source frame kept; Animate: the frame animated); -1: not set.
pub const START: &CStr = c"start";

/// The project's frame rate where the host does not say it (MLT 7.40); 0: the host's.
pub const FRAME_RATE: &CStr = c"frameRate";
/// How generated frames are placed in a frame of another aspect: letterbox or crop.
pub const FIT: &CStr = c"fit";
/// Generate only: prompts on a timeline (`TIME PROMPT` lines), replacing the prompt.
pub const STORYBOARD: &CStr = c"storyboard";

/// Remix only: how far the clip is re-noised, 0 (kept) to 1 (redrawn from noise).
pub const STRENGTH: &CStr = c"strength";
/// Generate only: make a clip whose last frame leads into its first.
pub const LOOP: &CStr = c"loop";
/// Generate only: images the clip passes through (`TIME=IMAGE` entries).
pub const KEYFRAMES: &CStr = c"keyframes";

/// Fit choice options, in order (the choice value is the index).
pub const FITS: [&str; 2] = ["Letterbox", "Crop"];
/// The Sampler choice's options, in order.
pub const SAMPLERS: [&str; 3] = ["The model's default", "Deterministic", "Stochastic"];

/// Device choice options, in order (the choice value is the index).
pub const DEVICES: [&str; 3] = ["cpu", "cuda", "tensorrt"];

/// Everything that decides the footage, as read from the panel at one time.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Settings {
    pub prompt: String,
    pub negative_prompt: String,
    pub seed: u64,
    pub steps: usize,
    /// Guidance as bits (f32), so settings can be hashed.
    pub guidance_bits: u32,
    /// `LOW,HIGH` as typed (empty: the package's default).
    pub guidance_interval: String,
    /// `None`: the model's sampler.
    pub sampler: Option<kino::pipeline::Sampler>,
    /// Duration in milliseconds (rounded), the generated length.
    pub duration_ms: u64,
    pub model: String,
    pub device: String,
    /// Generate's storyboard text (empty: the prompt alone).
    pub storyboard: String,
    /// Generate: a seamless loop.
    pub looped: bool,
    /// Generate's keyframes text (`TIME=IMAGE` entries); the images themselves are part of
    /// the footage's start ([`crate::jobs::Start::Keyframes`]).
    pub keyframes: String,
}

impl Settings {
    pub fn guidance(&self) -> f32 {
        f32::from_bits(self.guidance_bits)
    }

    pub fn seconds(&self) -> f64 {
        self.duration_ms as f64 / 1000.0
    }
}

/// The defaults shown in the panel: the shipped model's (kino-shapes), read once from its manifest.
pub struct Defaults {
    pub steps: i32,
    pub guidance: f64,
    pub seconds: f64,
}

pub fn defaults() -> &'static Defaults {
    static D: std::sync::OnceLock<Defaults> = std::sync::OnceLock::new();
    D.get_or_init(|| match ModelPackage::load(crate::jobs::model_dir("")) {
        Ok(p) => {
            let m = &p.manifest;
            Defaults {
                steps: m.defaults.steps as i32,
                guidance: m.defaults.guidance as f64,
                seconds: m.video.default_frames as f64 / m.video.fps,
            }
        }
        Err(_) => Defaults { steps: 20, guidance: 4.0, seconds: 2.0 },
    })
}

fn common(p: &Props, label: &str, hint: &str) -> Result<(), OfxStatus> {
    p.set_string(kOfxPropLabel, 0, label)?;
    // A tooltip only: some hosts lack the property (openfx-misc's host notes), and a parameter
    // without its tooltip is better than no effect.
    let _ = p.set_string(kOfxParamPropHint, 0, hint);
    Ok(())
}

/// A text parameter, empty by default, that does not animate.
fn text_param(effect: &Effect, name: &CStr, mode: &CStr, label: &str, hint: &str) -> Result<(), OfxStatus> {
    let p = effect.define_param(kOfxParamTypeString, name)?;
    common(&p, label, hint)?;
    p.set_cstr(kOfxParamPropStringMode, 0, mode)?;
    p.set_string(kOfxParamPropDefault, 0, "")?;
    p.set_int(kOfxParamPropAnimates, 0, 0)
}

fn int_range(p: &Props, min: i32, max: i32, default: i32) -> Result<(), OfxStatus> {
    p.set_int(kOfxParamPropDefault, 0, default)?;
    p.set_int(kOfxParamPropMin, 0, min)?;
    p.set_int(kOfxParamPropMax, 0, max)?;
    p.set_int(kOfxParamPropDisplayMin, 0, min)?;
    p.set_int(kOfxParamPropDisplayMax, 0, max)
}

fn double_range(p: &Props, min: f64, max: f64, display: (f64, f64), default: f64) -> Result<(), OfxStatus> {
    p.set_double(kOfxParamPropDefault, 0, default)?;
    p.set_double(kOfxParamPropMin, 0, min)?;
    p.set_double(kOfxParamPropMax, 0, max)?;
    p.set_double(kOfxParamPropDisplayMin, 0, display.0)?;
    p.set_double(kOfxParamPropDisplayMax, 0, display.1)
}

/// Describes the panel on a descriptor (describe-in-context). `extra` adds the effect's own params.
pub fn describe(effect: &Effect, kind: crate::Kind) -> Result<(), OfxStatus> {
    let d = defaults();
    text_param(effect, PROMPT, kOfxParamStringIsMultiLine, "Prompt", "What the video shows, e.g. \"a red circle moving left\"")?;

    let p = effect.define_param(kOfxParamTypeString, NEGATIVE)?;
    common(&p, "Negative prompt", "What the video should not show (empty: the model's default)")?;
    p.set_cstr(kOfxParamPropStringMode, 0, kOfxParamStringIsMultiLine)?;
    p.set_int(kOfxParamPropAnimates, 0, 0)?;

    let p = effect.define_param(kOfxParamTypeInteger, SEED)?;
    common(&p, "Seed", "The same seed and settings give the same frames")?;
    int_range(&p, 0, i32::MAX, 0)?;
    p.set_int(kOfxParamPropAnimates, 0, 0)?;

    let p = effect.define_param(kOfxParamTypePushButton, NEW_SEED)?;
    common(&p, "New seed", "Pick a new random seed")?;

    let p = effect.define_param(kOfxParamTypeInteger, STEPS)?;
    common(&p, "Steps", "Denoising steps: more is slower and usually cleaner")?;
    int_range(&p, 1, 1000, d.steps)?;
    p.set_int(kOfxParamPropDisplayMax, 0, 100)?;
    p.set_int(kOfxParamPropAnimates, 0, 0)?;

    let p = effect.define_param(kOfxParamTypeDouble, GUIDANCE)?;
    common(&p, "Guidance", "How strongly the prompt steers (classifier-free guidance); 1 or less: the prompt alone")?;
    double_range(&p, 0.0, 50.0, (0.0, 15.0), d.guidance)?;
    p.set_double(kOfxParamPropIncrement, 0, 0.5)?;
    p.set_int(kOfxParamPropDigits, 0, 2)?;
    p.set_int(kOfxParamPropAnimates, 0, 0)?;

    text_param(
        effect,
        GUIDANCE_INTERVAL,
        kOfxParamStringIsSingleLine,
        "Guidance interval",
        "LOW,HIGH, e.g. 0.5,1: guide only the steps whose noise level (0 clean, 1 pure noise) lies between them; the others run once, faster. Empty: the model's default (usually every step)",
    )?;

    let p = effect.define_param(kOfxParamTypeChoice, SAMPLER)?;
    common(
        &p,
        "Sampler",
        "How each denoising step moves. Stochastic: the model's clean estimate noised afresh at every step (flow-match Euler models); on the shipped model the footage follows the prompt's direction more often, with fewer stray pixels. The same seed gives the same frames either way",
    )?;
    for (i, name) in SAMPLERS.iter().enumerate() {
        p.set_string(kOfxParamPropChoiceOption, i, name)?;
    }
    p.set_int(kOfxParamPropDefault, 0, 0)?;
    p.set_int(kOfxParamPropAnimates, 0, 0)?;

    let p = effect.define_param(kOfxParamTypeDouble, DURATION)?;
    let what = match kind {
        crate::Kind::Extend => "Seconds of new footage to make past the clip's end (or before its start)",
        crate::Kind::Remix => "Not used: a remix is as long as its clip",
        crate::Kind::Bridge => "Seconds of new footage between the two clips (general context; a transition's own length decides there)",
        _ => "Seconds of footage to make; later frames hold the last one",
    };
    common(&p, "Duration (s)", what)?;
    double_range(&p, 0.125, 3600.0, (0.5, 30.0), d.seconds)?;
    p.set_double(kOfxParamPropIncrement, 0, 0.125)?;
    p.set_int(kOfxParamPropDigits, 0, 3)?;
    p.set_int(kOfxParamPropAnimates, 0, 0)?;

    let p = effect.define_param(kOfxParamTypeString, MODEL)?;
    common(&p, "Model package", "A kino model package folder (with kino.json); empty: the shipped kino-shapes")?;
    p.set_cstr(kOfxParamPropStringMode, 0, kOfxParamStringIsDirectoryPath)?;
    p.set_int(kOfxParamPropStringFilePathExists, 0, 1)?;
    p.set_int(kOfxParamPropAnimates, 0, 0)?;

    let p = effect.define_param(kOfxParamTypeChoice, DEVICE)?;
    common(&p, "Device", "Where the model runs: CPU, CUDA or TensorRT (GPU 0)")?;
    for (i, name) in DEVICES.iter().enumerate() {
        p.set_string(kOfxParamPropChoiceOption, i, name)?;
    }
    p.set_int(kOfxParamPropDefault, 0, 0)?;
    p.set_int(kOfxParamPropAnimates, 0, 0)?;

    let p = effect.define_param(kOfxParamTypeChoice, FIT)?;
    common(&p, "Fit", "How the model's frames fit a frame of another shape, never stretched: Letterbox shows all of it with black bars; Crop fills the frame and cuts the overflow. Extend and Animate read the source through the same window")?;
    for (i, name) in FITS.iter().enumerate() {
        p.set_string(kOfxParamPropChoiceOption, i, name)?;
    }
    // Remix redraws the user's own frames and Animate starts on the user's still: Crop keeps
    // the whole picture (Letterbox would put black bars over the sides of their clip or still),
    // as `kino remix` and `kino animate` do.
    p.set_int(kOfxParamPropDefault, 0, if matches!(kind, crate::Kind::Remix | crate::Kind::Animate) { 1 } else { 0 })?;
    p.set_int(kOfxParamPropAnimates, 0, 0)?;

    let p = effect.define_param(kOfxParamTypeDouble, FRAME_RATE)?;
    common(
        &p,
        "Frame rate (fps)",
        "The project's frame rate, for hosts that do not tell plugins (MLT 7.40): set it to the project's. 0: the host's",
    )?;
    double_range(&p, 0.0, 1000.0, (0.0, 120.0), 0.0)?;
    p.set_int(kOfxParamPropDigits, 0, 3)?;
    p.set_int(kOfxParamPropAnimates, 0, 0)?;

    match kind {
        crate::Kind::Extend => {
            let p = effect.define_param(kOfxParamTypeChoice, PLACEMENT)?;
            common(&p, "Placement", "Append: new footage after the clip's end; prepend: before its start")?;
            p.set_string(kOfxParamPropChoiceOption, 0, "append")?;
            p.set_string(kOfxParamPropChoiceOption, 1, "prepend")?;
            p.set_int(kOfxParamPropDefault, 0, 0)?;
            p.set_int(kOfxParamPropAnimates, 0, 0)?;

            let p = effect.define_param(kOfxParamTypeInteger, SEAM)?;
            common(
                &p,
                "Seam (frame)",
                "Append: the last source frame kept, later ones are replaced (for a clip ending in a held frame); prepend: the first one kept. -1: the clip's end or start",
            )?;
            int_range(&p, -1, i32::MAX, -1)?;
            p.set_int(kOfxParamPropDisplayMax, 0, 10_000)?;
            p.set_int(kOfxParamPropAnimates, 0, 0)?;
            start(
                effect,
                "Append: the first frame replaced by new footage, earlier ones pass through; prepend: the first source frame kept. For hosts that keep a filter as long as its clip (MLT, Kdenlive, Shotcut): lengthen the clip and set Start to the frame after its last real one. -1: use Seam, else the clip's end",
            )?;
        }
        crate::Kind::Animate => {
            let p = effect.define_param(kOfxParamTypeDouble, STILL_TIME)?;
            common(&p, "Still frame", "The source frame (time in frames) that the animation starts from")?;
            double_range(&p, -1e6, 1e6, (0.0, 1000.0), 0.0)?;
            p.set_int(kOfxParamPropDigits, 0, 0)?;
            p.set_int(kOfxParamPropAnimates, 0, 0)?;
            start(effect, "The frame animated, where the animation begins; earlier frames pass through. -1: animate the Still frame, from the clip's start")?;
        }
        crate::Kind::Bridge => {}
        crate::Kind::Remix => {
            let p = effect.define_param(kOfxParamTypeDouble, STRENGTH)?;
            common(&p, "Strength", "How much is redrawn: 0 keeps the clip, 1 redraws it from noise; about 0.3 keeps the layout and motion, 0.9 follows the new prompt")?;
            double_range(&p, 0.0, 1.0, (0.0, 1.0), 0.6)?;
            p.set_double(kOfxParamPropIncrement, 0, 0.05)?;
            p.set_int(kOfxParamPropDigits, 0, 2)?;
            p.set_int(kOfxParamPropAnimates, 0, 0)?;
        }
        crate::Kind::Generate => {
            text_param(
                effect,
                STORYBOARD,
                kOfxParamStringIsMultiLine,
                "Storyboard",
                "Prompts on a timeline, replacing Prompt: one TIME PROMPT line each (or ; between), the first at 0s, e.g. 0s a red circle moving left / 4s a red circle moving up. Each window follows the prompt in effect at its start, continuing the frames before it; a prompt starting with [cut] starts a new shot",
            )?;

            text_param(
                effect,
                KEYFRAMES,
                kOfxParamStringIsMultiLine,
                "Keyframes",
                "Images the clip passes through, exactly: one TIME=IMAGE (or TIME IMAGE) line each (or ; between), e.g. 0s=/path/start.png / 2s=/path/end.png. Footage is made backwards into the first, between each two, and on after the last",
            )?;

            let p = effect.define_param(kOfxParamTypeBoolean, LOOP)?;
            common(&p, "Loop", "Make the clip loop: its last frame leads into its first without a seam")?;
            p.set_int(kOfxParamPropDefault, 0, 0)?;
            p.set_int(kOfxParamPropAnimates, 0, 0)?;
        }
    }

    let p = effect.define_param(kOfxParamTypePushButton, GENERATE)?;
    common(&p, "Generate", "Generate now (with progress); otherwise footage is made when a frame is first rendered")?;

    let p = effect.define_param(kOfxParamTypeString, STATUS)?;
    common(&p, "Status", "Model, progress and the last error")?;
    let host = crate::suites::host_props().and_then(|h| h.string(kOfxPropName, 0).ok());
    p.set_cstr(kOfxParamPropStringMode, 0, status_mode(host.as_deref()))?;
    p.set_int(kOfxParamPropEnabled, 0, 0)?;
    p.set_int(kOfxParamPropPersistant, 0, 0)?;
    p.set_int(kOfxParamPropEvaluateOnChange, 0, 0)?;
    p.set_int(kOfxParamPropAnimates, 0, 0)?;
    Ok(())
}

/// How Status is shown: a label, but in Nuke, whose labels keep the value they had when the
/// effect was created (openfx-misc's host notes), a one-line text field (disabled: not typed in).
fn status_mode(host_name: Option<&str>) -> &'static CStr {
    match host_name {
        Some(name) if name.starts_with("uk.co.thefoundry.nuke") => kOfxParamStringIsSingleLine,
        _ => kOfxParamStringIsLabel,
    }
}

fn start(effect: &Effect, hint: &str) -> Result<(), OfxStatus> {
    let p = effect.define_param(kOfxParamTypeInteger, START)?;
    common(&p, "Start (frame)", hint)?;
    int_range(&p, -1, i32::MAX, -1)?;
    p.set_int(kOfxParamPropDisplayMax, 0, 10_000)?;
    p.set_int(kOfxParamPropAnimates, 0, 0)
}

/// The panel's label for a parameter (messages name what the user sees).
pub fn label(name: &CStr) -> &'static str {
    const LABELS: [(&CStr, &str); 22] = [
        (STRENGTH, "Strength"),
        (LOOP, "Loop"),
        (KEYFRAMES, "Keyframes"),
        (FIT, "Fit"),
        (STORYBOARD, "Storyboard"),
        (FRAME_RATE, "Frame rate (fps)"),
        (PROMPT, "Prompt"),
        (NEGATIVE, "Negative prompt"),
        (SEED, "Seed"),
        (STEPS, "Steps"),
        (GUIDANCE, "Guidance"),
        (GUIDANCE_INTERVAL, "Guidance interval"),
        (SAMPLER, "Sampler"),
        (DURATION, "Duration (s)"),
        (MODEL, "Model package"),
        (DEVICE, "Device"),
        (PLACEMENT, "Placement"),
        (SEAM, "Seam (frame)"),
        (STILL_TIME, "Still frame"),
        (START, "Start (frame)"),
        (STATUS, "Status"),
        (GENERATE, "Generate"),
    ];
    LABELS.iter().find(|(n, _)| *n == name).map_or("a parameter", |(_, l)| l)
}

pub fn err(what: &CStr, status: OfxStatus) -> String {
    format!("could not read {} (host status {status})", label(what))
}

/// The panel's values at `time`.
pub fn read(effect: &Effect, time: f64) -> Result<Settings, String> {
    let s = |name: &CStr| effect.param(name).and_then(|p| p.string_at(time)).map_err(|e| err(name, e));
    let i = |name: &CStr| effect.param(name).and_then(|p| p.int_at(time)).map_err(|e| err(name, e));
    let d = |name: &CStr| effect.param(name).and_then(|p| p.double_at(time)).map_err(|e| err(name, e));
    let seed = i(SEED)?;
    let steps = i(STEPS)?;
    let guidance = d(GUIDANCE)?;
    let duration = d(DURATION)?;
    let device = i(DEVICE)?;
    if seed < 0 {
        return Err(format!("Seed {seed}: use 0 or more"));
    }
    if steps < 1 {
        return Err(format!("Steps {steps}: use 1 or more"));
    }
    if !(duration.is_finite() && duration > 0.0 && duration <= 3600.0) {
        return Err(format!("Duration (s) {duration}: use a length between 0.125 s and an hour"));
    }
    let device = DEVICES.get(device as usize).ok_or_else(|| format!("Device choice {device} is not one of cpu, cuda, tensorrt"))?;
    let sampler = match i(SAMPLER)? {
        0 => None,
        1 => Some(kino::pipeline::Sampler::Deterministic),
        2 => Some(kino::pipeline::Sampler::Stochastic),
        other => return Err(format!("Sampler choice {other} is not one of {}", SAMPLERS.join(", "))),
    };
    Ok(Settings {
        prompt: s(PROMPT)?,
        negative_prompt: s(NEGATIVE)?,
        seed: seed as u64,
        steps: steps as usize,
        guidance_bits: (guidance as f32).to_bits(),
        guidance_interval: s(GUIDANCE_INTERVAL)?.trim().to_string(),
        sampler,
        duration_ms: (duration * 1000.0).round() as u64,
        model: s(MODEL)?.trim().to_string(),
        device: device.to_string(),
        // Only Generate has a storyboard.
        storyboard: effect.param(STORYBOARD).and_then(|p| p.string_at(time)).unwrap_or_default(),
        looped: effect.param(LOOP).and_then(|p| p.int_at(time)).is_ok_and(|v| v != 0),
        keyframes: effect.param(KEYFRAMES).and_then(|p| p.string_at(time)).unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_is_a_label_but_in_nuke() {
        assert_eq!(status_mode(Some("uk.co.thefoundry.nuke")), kOfxParamStringIsSingleLine);
        assert_eq!(status_mode(Some("fr.inria.Natron")), kOfxParamStringIsLabel);
        assert_eq!(status_mode(None), kOfxParamStringIsLabel);
    }
}
