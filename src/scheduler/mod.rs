//! Noise schedules and solver steps. Knows nothing of ONNX or models: sigmas in, samples out.
//!
//! Semantics follow diffusers' `FlowMatchEulerDiscreteScheduler.set_timesteps(N)` (including
//! its quirk of shifting `sigma_min` twice), so parity tests against diffusers hold.

mod flow_match_euler;

pub use flow_match_euler::FlowMatchEuler;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SchedulerKind {
    FlowMatchEuler,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum TimeShiftType {
    #[default]
    Exponential,
    Linear,
}

/// The manifest's `scheduler` object.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SchedulerConfig {
    pub kind: SchedulerKind,
    #[serde(default = "default_train_steps")]
    pub num_train_timesteps: usize,
    #[serde(default = "default_shift")]
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
    #[serde(default)]
    pub shift_terminal: Option<f64>,
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

impl SchedulerConfig {
    /// Problems a manifest author must fix, as one message.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if self.num_train_timesteps == 0 {
            return Err("scheduler.num_train_timesteps must be > 0".into());
        }
        if !(self.shift.is_finite() && self.shift > 0.0) {
            return Err(format!("scheduler.shift must be a positive number, got {}", self.shift));
        }
        if let Some(t) = self.shift_terminal {
            if !(0.0..1.0).contains(&t) {
                return Err(format!("scheduler.shift_terminal must be in [0, 1), got {t}"));
            }
        }
        if self.use_dynamic_shifting && self.max_image_seq_len <= self.base_image_seq_len {
            return Err("scheduler.max_image_seq_len must exceed base_image_seq_len".into());
        }
        Ok(())
    }
}

/// A sampler over a fixed sigma schedule.
pub trait Scheduler: Send {
    /// Timesteps fed to the model (`sigma * num_train_timesteps`), one per step.
    fn timesteps(&self) -> &[f32];
    /// Sigmas, one per step plus the terminal one.
    fn sigmas(&self) -> &[f32];
    /// Advances `sample` in place from step `step_index` to the next, given the model's velocity.
    fn step(&mut self, model_output: &[f32], sample: &mut [f32], step_index: usize);
}

/// `mu` for resolution-dependent shifting: a line through (base_seq, base_shift) and
/// (max_seq, max_shift), extrapolated beyond.
pub fn calculate_shift(image_seq_len: usize, base_seq_len: usize, max_seq_len: usize, base_shift: f64, max_shift: f64) -> f64 {
    let m = (max_shift - base_shift) / (max_seq_len as f64 - base_seq_len as f64);
    let b = base_shift - m * base_seq_len as f64;
    image_seq_len as f64 * m + b
}

pub fn build_scheduler(cfg: &SchedulerConfig, num_steps: usize, image_seq_len: usize) -> Result<Box<dyn Scheduler>> {
    cfg.validate().map_err(Error::InvalidRequest)?;
    if num_steps == 0 {
        return Err(Error::InvalidRequest("steps must be at least 1".into()));
    }
    match cfg.kind {
        SchedulerKind::FlowMatchEuler => Ok(Box::new(FlowMatchEuler::new(cfg, num_steps, image_seq_len))),
    }
}
