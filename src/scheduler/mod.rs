//! Noise schedules and solver steps. Knows nothing of ONNX or models: sigmas in, samples out.
//!
//! Two solvers over flow-matching sigmas (`x_sigma = (1 - sigma) x_0 + sigma noise`, the model
//! predicts the velocity `v = noise - x_0`):
//!
//! * [`FlowMatchEuler`] (`kind: "flow_match_euler"`): diffusers' `FlowMatchEulerDiscreteScheduler`
//!   (the kino demo model, LTX-Video).
//! * [`UniPc`] (`kind: "unipc_flow"`): diffusers' `UniPCMultistepScheduler` with
//!   `use_flow_sigmas=True, prediction_type="flow_prediction", predict_x0=True` (Wan 2.1/2.2).
//!
//! Both reproduce diffusers 0.42.1 `set_timesteps` and `step` value for value, float32 where
//! diffusers computes in float32 and float64 where it computes in float64, quirks included; the
//! fixtures in `tests/fixtures/scheduler` (written by `exporter/kino_export/reference/
//! schedulers.py`) hold diffusers' numbers. Which `set_timesteps` call a config stands for:
//!
//! | `sigma_schedule` | diffusers call | used by |
//! |---|---|---|
//! | `"linspace_train"` (default) | `set_timesteps(N)`, plus `mu=` with dynamic shifting | Wan, the kino demo |
//! | `"linspace_1_to_1_over_n"` | `set_timesteps(sigmas=np.linspace(1.0, 1/N, N))`, plus `mu=` | `LTXPipeline` |
//!
//! With `use_dynamic_shifting`, `mu = calculate_shift(image_seq_len, base_image_seq_len,
//! max_image_seq_len, base_shift, max_shift)`, as `LTXPipeline` computes it.

mod flow_match_euler;
mod unipc;

pub use flow_match_euler::FlowMatchEuler;
pub use unipc::UniPc;

use std::ops::{Add, Div, Mul, Sub};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SchedulerKind {
    /// First-order flow-matching Euler.
    FlowMatchEuler,
    /// UniPC multistep predictor-corrector on flow sigmas.
    UnipcFlow,
}

/// How a dynamic (resolution-dependent) shift bends the schedule, given `mu`.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum TimeShiftType {
    /// `sigma' = e^mu / (e^mu + 1/sigma - 1)`
    #[default]
    Exponential,
    /// `sigma' = mu / (mu + 1/sigma - 1)`
    Linear,
}

/// The unshifted sigmas the schedule starts from (see the module docs for the diffusers calls).
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, Default)]
pub enum SigmaSchedule {
    /// The scheduler's own `set_timesteps(N)` spacing over the training range: for
    /// `flow_match_euler` `linspace(sigma_max, sigma_min, N)` of its (shifted) training sigmas,
    /// for `unipc_flow` `linspace(1, 1/num_train_timesteps, N + 1)[:-1]`.
    #[default]
    #[serde(rename = "linspace_train")]
    LinspaceTrain,
    /// `linspace(1, 1/N, N)`, handed to `set_timesteps(sigmas=...)` (LTX-Video).
    #[serde(rename = "linspace_1_to_1_over_n")]
    Linspace1To1OverN,
    /// `LTXConditionPipeline`'s `linear_quadratic_schedule(N)` (threshold noise 0.025, half the
    /// steps linear), handed to `set_timesteps(timesteps=sigmas * 1000)`: the timesteps are used as
    /// given and the sigmas are `timesteps / 1000`, shifted (flow_match_euler only).
    #[serde(rename = "linear_quadratic")]
    LinearQuadratic,
}

/// `1 - s` for the linear-quadratic noise levels `s` of `LTXConditionPipeline`, in float64 as
/// Python computes them: `N/2` linear steps up to `threshold`, then a quadratic to 1.
pub fn linear_quadratic_sigmas(num_steps: usize, threshold: f64) -> Vec<f64> {
    if num_steps < 2 {
        return vec![1.0];
    }
    let linear_steps = num_steps / 2;
    let (l, n) = (linear_steps as f64, num_steps as f64);
    let mut levels: Vec<f64> = (0..linear_steps).map(|i| i as f64 * threshold / l).collect();
    let step_diff = l - threshold * n;
    let quadratic_steps = (num_steps - linear_steps) as f64;
    let quadratic_coef = step_diff / (l * quadratic_steps.powi(2));
    let linear_coef = threshold / l - 2.0 * step_diff / quadratic_steps.powi(2);
    let constant = quadratic_coef * l.powi(2);
    levels.extend((linear_steps..num_steps).map(|i| {
        let i = i as f64;
        quadratic_coef * (i * i) + linear_coef * i + constant
    }));
    levels.into_iter().map(|x| 1.0 - x).collect()
}

/// UniPC's `B(h)`: `bh1` is `B(h) = h`, `bh2` is `B(h) = e^h - 1`.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum SolverType {
    #[default]
    Bh2,
    Bh1,
}

/// UniPC's terminal sigma: `zero` (diffusers' default, Wan) or the last scheduled sigma.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum FinalSigmasType {
    #[default]
    Zero,
    SigmaMin,
}

/// The manifest's `scheduler` object. Field names follow diffusers' scheduler configs; every
/// field but `kind` has diffusers' default.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SchedulerConfig {
    pub kind: SchedulerKind,
    #[serde(default = "default_train_steps")]
    pub num_train_timesteps: usize,
    /// Static shift `s`: `sigma' = s*sigma / (1 + (s-1)*sigma)`; UniPC calls it `flow_shift`.
    #[serde(default = "default_shift", alias = "flow_shift")]
    pub shift: f64,
    #[serde(default)]
    pub use_dynamic_shifting: bool,
    #[serde(default = "default_base_shift")]
    pub base_shift: f64,
    #[serde(default = "default_max_shift")]
    pub max_shift: f64,
    #[serde(default = "default_base_seq")]
    pub base_image_seq_len: usize,
    #[serde(default = "default_max_seq")]
    pub max_image_seq_len: usize,
    #[serde(default)]
    pub time_shift_type: TimeShiftType,
    /// Stretch the schedule so its last (non-terminal) sigma equals this; `None` or 0 leaves it.
    #[serde(default)]
    pub shift_terminal: Option<f64>,
    #[serde(default)]
    pub sigma_schedule: SigmaSchedule,
    /// UniPC only: the multistep order (1 to 3).
    #[serde(default = "default_solver_order")]
    pub solver_order: usize,
    /// UniPC only.
    #[serde(default)]
    pub solver_type: SolverType,
    /// UniPC only: drop to lower orders over the last steps.
    #[serde(default = "default_true")]
    pub lower_order_final: bool,
    /// UniPC only.
    #[serde(default)]
    pub final_sigmas_type: FinalSigmasType,
    /// flow_match_euler only: each step predicts the clean sample and noises it afresh to the
    /// next level (`x' = (1 - sigma') x0 + sigma' noise`, diffusers' `stochastic_sampling`)
    /// instead of following the velocity. The fresh noise re-decides what a deterministic step
    /// carries along, such as a faint second copy of an object the model hesitated over.
    #[serde(default)]
    pub stochastic_sampling: bool,
    /// With `stochastic_sampling`: whether windows whose footage goes from given frames into the
    /// user's (bridge, loop, keyframes) or remixes a clip at strength 0.5 or less
    /// step stochastically too (kino's field; true, the default, is diffusers' behaviour). False
    /// keeps their steps deterministic: fresh noise at every step lets the frames beside given
    /// ones drift from them (seams) and a remix drift from its clip's layout. Windows that only
    /// continue from the user's frames (animate, extend forwards) or the job's own (a long
    /// clip's later windows), and remix above 0.5, step as windows from text do either way; a
    /// sampler the user chooses applies everywhere.
    #[serde(default = "default_true")]
    pub stochastic_given_frames: bool,
    /// UniPC only: steps whose prediction is left uncorrected (the correction at step k is skipped
    /// when k - 1 is listed), as diffusers' `disable_corrector`.
    #[serde(default)]
    pub disable_corrector: Vec<usize>,
}

fn default_train_steps() -> usize {
    1000
}
fn default_shift() -> f64 {
    1.0
}
fn default_base_shift() -> f64 {
    0.5
}
fn default_max_shift() -> f64 {
    1.15
}
fn default_base_seq() -> usize {
    256
}
fn default_max_seq() -> usize {
    4096
}
fn default_solver_order() -> usize {
    2
}
fn default_true() -> bool {
    true
}

/// The ranges of the scheduler's numbers (docs/model-package.md): wide enough for every
/// diffusers config kino knows (Wan's shift 3 to 12, LTX's dynamic shift 0.95 to 2.05 over 1024
/// to 4096 tokens), narrow enough that no schedule overflows.
pub const TRAIN_TIMESTEPS: std::ops::RangeInclusive<usize> = 1..=100_000;
pub const SHIFT: std::ops::RangeInclusive<f64> = 1e-3..=1000.0;
/// `base_shift` and `max_shift` are `mu` (an exponent with the exponential time shift).
pub const MU: std::ops::RangeInclusive<f64> = -20.0..=20.0;
pub const IMAGE_SEQ_LEN: std::ops::RangeInclusive<usize> = 1..=(1 << 24);
/// `disable_corrector` entries are step indices (steps are at most 1000).
pub const DISABLE_CORRECTOR_MAX: usize = 1000;

impl SchedulerConfig {
    /// Problems a manifest author must fix, as one message naming the field.
    pub fn validate(&self) -> std::result::Result<(), String> {
        fn range<T: PartialOrd + std::fmt::Display>(field: &str, v: T, r: std::ops::RangeInclusive<T>) -> std::result::Result<(), String> {
            if r.contains(&v) {
                Ok(())
            } else {
                Err(format!("field `scheduler.{field}`: {v} must be within [{}, {}]", r.start(), r.end()))
            }
        }
        range("num_train_timesteps", self.num_train_timesteps, TRAIN_TIMESTEPS)?;
        range("shift", self.shift, SHIFT)?;
        range("base_shift", self.base_shift, MU)?;
        range("max_shift", self.max_shift, MU)?;
        range("base_image_seq_len", self.base_image_seq_len, IMAGE_SEQ_LEN)?;
        range("max_image_seq_len", self.max_image_seq_len, IMAGE_SEQ_LEN)?;
        if let Some(t) = self.shift_terminal {
            if !(0.0..1.0).contains(&t) {
                return Err(format!("field `scheduler.shift_terminal`: {t} must be within [0, 1)"));
            }
        }
        range("solver_order", self.solver_order, 1..=3)?;
        if self.disable_corrector.len() > DISABLE_CORRECTOR_MAX {
            return Err(format!(
                "field `scheduler.disable_corrector`: {} entries; at most {DISABLE_CORRECTOR_MAX}",
                self.disable_corrector.len()
            ));
        }
        if let Some(&step) = self.disable_corrector.iter().find(|&&s| s >= DISABLE_CORRECTOR_MAX) {
            range("disable_corrector[]", step, 0..=DISABLE_CORRECTOR_MAX - 1)?;
        }
        if self.use_dynamic_shifting && self.max_image_seq_len <= self.base_image_seq_len {
            return Err(format!(
                "field `scheduler.max_image_seq_len`: {} must exceed base_image_seq_len ({})",
                self.max_image_seq_len, self.base_image_seq_len
            ));
        }
        if self.kind == SchedulerKind::UnipcFlow {
            if self.stochastic_sampling {
                return Err("field `scheduler.stochastic_sampling`: true goes with kind \"flow_match_euler\" only".into());
            }
            if self.sigma_schedule == SigmaSchedule::LinearQuadratic {
                return Err(
                    "field `scheduler.sigma_schedule`: \"linear_quadratic\" goes with kind \"flow_match_euler\" (LTXConditionPipeline)"
                        .into(),
                );
            }
            if !self.lower_order_final && self.solver_order > 1 && self.final_sigmas_type == FinalSigmasType::Zero {
                return Err("field `scheduler.lower_order_final`: false with final_sigmas_type \"zero\" divides by zero on the last \
                            step (diffusers returns -inf); set lower_order_final to true"
                    .into());
            }
        }
        Ok(())
    }
}

/// A sampler over a fixed sigma schedule.
pub trait Scheduler: Send {
    /// Timesteps fed to the model (`sigma * num_train_timesteps`; whole numbers, truncated, for
    /// UniPC as diffusers does), one per step.
    fn timesteps(&self) -> &[f32];
    /// Sigmas, one per step plus the terminal one.
    fn sigmas(&self) -> &[f32];
    /// Advances `sample` in place from step `step_index` to the next, given the model's velocity
    /// for that step. Steps are taken in order; a multistep solver that is handed a step other
    /// than the one after its last starts its history afresh there (diffusers' `begin_index`).
    /// An error if `step_index >= steps` or the slices differ in length.
    ///
    /// `noise` is the fresh standard normal noise a stochastic step mixes in (one value per
    /// sample value); see [`Scheduler::wants_noise`]. Without it a stochastic scheduler takes the
    /// deterministic step; deterministic schedulers ignore it.
    fn step(&mut self, model_output: &[f32], sample: &mut [f32], step_index: usize, noise: Option<&[f32]>) -> Result<()>;
    /// Whether [`Scheduler::step`] takes fresh noise (diffusers' `stochastic_sampling`); the
    /// caller draws it from the generation's seed.
    fn wants_noise(&self) -> bool {
        false
    }
}

/// The inputs of one [`Scheduler::step`] checked: a step within the schedule, and a model output
/// the length of the sample.
fn check_step(model_output: &[f32], sample: &[f32], step_index: usize, steps: usize) -> Result<()> {
    if model_output.len() != sample.len() {
        return Err(Error::InvalidRequest(format!(
            "scheduler step: a model output of {} values for a sample of {}",
            model_output.len(),
            sample.len()
        )));
    }
    if step_index >= steps {
        return Err(Error::InvalidRequest(format!("scheduler step {step_index} of a {steps}-step schedule")));
    }
    Ok(())
}

/// `mu` for resolution-dependent shifting: a line through (base_seq, base_shift) and
/// (max_seq, max_shift), extrapolated beyond.
pub fn calculate_shift(image_seq_len: usize, base_seq_len: usize, max_seq_len: usize, base_shift: f64, max_shift: f64) -> f64 {
    let m = (max_shift - base_shift) / (max_seq_len as f64 - base_seq_len as f64);
    let b = base_shift - m * base_seq_len as f64;
    image_seq_len as f64 * m + b
}

/// The scheduler a manifest's `scheduler` object describes, set for `num_steps` steps over a
/// latent of `image_seq_len` tokens (used only with `use_dynamic_shifting`).
pub fn build_scheduler(cfg: &SchedulerConfig, num_steps: usize, image_seq_len: usize) -> Result<Box<dyn Scheduler>> {
    cfg.validate().map_err(Error::InvalidRequest)?;
    if num_steps == 0 {
        return Err(Error::InvalidRequest("steps must be at least 1".into()));
    }
    if num_steps < 2 && cfg.shift_terminal.is_some_and(|t| t != 0.0) {
        return Err(Error::InvalidRequest("this model's schedule (shift_terminal) needs at least 2 steps".into()));
    }
    let scheduler: Box<dyn Scheduler> = match cfg.kind {
        SchedulerKind::FlowMatchEuler => Box::new(FlowMatchEuler::new(cfg, num_steps, image_seq_len)),
        SchedulerKind::UnipcFlow => Box::new(UniPc::new(cfg, num_steps, image_seq_len)),
    };
    let sigmas = scheduler.sigmas();
    if sigmas.iter().any(|s| !s.is_finite() || *s < 0.0 || *s > 1.0) {
        return Err(Error::InvalidRequest(format!(
            "the scheduler config gives invalid sigmas for {num_steps} steps at sequence length {image_seq_len} \
             (a linear time shift needs mu > 0): {sigmas:?}"
        )));
    }
    Ok(scheduler)
}

/// `mu` for a config at a sequence length (only meaningful with `use_dynamic_shifting`).
fn config_mu(cfg: &SchedulerConfig, image_seq_len: usize) -> f64 {
    calculate_shift(image_seq_len, cfg.base_image_seq_len, cfg.max_image_seq_len, cfg.base_shift, cfg.max_shift)
}

/// The float type a schedule is computed in: diffusers computes some schedules in float64
/// (numpy defaults) and some in float32 (after `astype(np.float32)` or in torch). Python float
/// constants meet float32 arrays as float32 (NumPy 2 "weak scalar" promotion), which is what
/// `from_f64` models.
trait Real: Copy + Add<Output = Self> + Sub<Output = Self> + Mul<Output = Self> + Div<Output = Self> {
    fn from_f64(x: f64) -> Self;
}

impl Real for f32 {
    fn from_f64(x: f64) -> Self {
        x as f32
    }
}

impl Real for f64 {
    fn from_f64(x: f64) -> Self {
        x
    }
}

/// `numpy.linspace(start, stop, n)` value for value: `start + i * ((stop - start) / (n - 1))`,
/// the last element exactly `stop`.
fn np_linspace(start: f64, stop: f64, n: usize) -> Vec<f64> {
    if n == 1 {
        return vec![start];
    }
    let step = (stop - start) / (n - 1) as f64;
    let mut y: Vec<f64> = (0..n).map(|i| i as f64 * step + start).collect();
    y[n - 1] = stop;
    y
}

/// The shift and terminal stretch `set_timesteps` applies to unshifted sigmas (steps 2 and 3 of
/// diffusers' `set_timesteps`), in the float type diffusers uses for that schedule.
fn shift_sigmas<T: Real>(cfg: &SchedulerConfig, image_seq_len: usize, sigmas: &mut [T]) {
    let one = T::from_f64(1.0);
    if cfg.use_dynamic_shifting {
        let mu = config_mu(cfg, image_seq_len);
        // diffusers' time_shift(mu, 1.0, t); `(1/t - 1) ** 1.0` is exact.
        let num = T::from_f64(match cfg.time_shift_type {
            TimeShiftType::Exponential => mu.exp(),
            TimeShiftType::Linear => mu,
        });
        for s in sigmas.iter_mut() {
            *s = num / (num + (one / *s - one));
        }
    } else {
        let (a, b) = (T::from_f64(cfg.shift), T::from_f64(cfg.shift - 1.0));
        for s in sigmas.iter_mut() {
            *s = a * *s / (one + b * *s);
        }
    }
    if let Some(terminal) = cfg.shift_terminal.filter(|t| *t != 0.0) {
        // Scale 1 - sigma so that the last sigma lands on `terminal`.
        let Some(&last) = sigmas.last() else { return };
        let scale = (one - last) / T::from_f64(1.0 - terminal);
        for s in sigmas.iter_mut() {
            *s = one - (one - *s) / scale;
        }
    }
}

#[cfg(test)]
mod tests;
