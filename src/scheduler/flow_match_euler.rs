//! Flow-matching Euler: `x_{i+1} = x_i + (sigma_{i+1} - sigma_i) * v`, or with
//! `stochastic_sampling` `x_{i+1} = (1 - sigma_{i+1}) (x_i - sigma_i v) + sigma_{i+1} e` with fresh
//! noise `e` at each step.

use super::{check_step, linear_quadratic_sigmas, np_linspace, shift_sigmas, Real, Scheduler, SchedulerConfig, SigmaSchedule};
use crate::error::{Error, Result};

/// diffusers' `FlowMatchEulerDiscreteScheduler`, deterministic or with `stochastic_sampling`.
pub struct FlowMatchEuler {
    sigmas: Vec<f32>,
    timesteps: Vec<f32>,
    stochastic: bool,
}

impl FlowMatchEuler {
    /// The schedule of `set_timesteps` for `num_steps` steps (see the module docs for which call).
    pub fn new(cfg: &SchedulerConfig, num_steps: usize, image_seq_len: usize) -> Self {
        let n_train = cfg.num_train_timesteps as f64;
        let n_train_f32 = n_train as f32;
        // Timesteps handed to set_timesteps are kept as given (not recomputed from shifted sigmas).
        let mut given_timesteps: Option<Vec<f32>> = None;
        let mut sigmas: Vec<f32> = match cfg.sigma_schedule {
            SigmaSchedule::LinspaceTrain => {
                // Interpolate between the ends of the training schedule, in float64 (numpy).
                let (sigma_max, sigma_min) = training_sigma_range(cfg);
                let mut s: Vec<f64> =
                    np_linspace(sigma_max * n_train, sigma_min * n_train, num_steps).into_iter().map(|t| t / n_train).collect();
                shift_sigmas(cfg, image_seq_len, &mut s);
                s.into_iter().map(|x| x as f32).collect()
            }
            SigmaSchedule::Linspace1To1OverN => {
                // Custom sigmas are cast to float32 first; the shift then runs in float32.
                let mut s: Vec<f32> = np_linspace(1.0, 1.0 / num_steps as f64, num_steps).into_iter().map(|x| x as f32).collect();
                shift_sigmas(cfg, image_seq_len, &mut s);
                s
            }
            SigmaSchedule::LinearQuadratic => {
                // torch float32 sigmas * 1000 -> numpy float32 timesteps -> timesteps / T.
                let t: Vec<f32> = linear_quadratic_sigmas(num_steps, 0.025).into_iter().map(|x| x as f32 * 1000.0).collect();
                let mut s: Vec<f32> = t.iter().map(|t| t / n_train_f32).collect();
                shift_sigmas(cfg, image_seq_len, &mut s);
                given_timesteps = Some(t);
                s
            }
        };
        let timesteps = given_timesteps.unwrap_or_else(|| sigmas.iter().map(|s| s * n_train_f32).collect());
        sigmas.push(0.0);
        FlowMatchEuler { sigmas, timesteps, stochastic: cfg.stochastic_sampling }
    }
}

/// `(sigma_max, sigma_min)` of the training schedule the scheduler builds at construction
/// (float32 in torch). With a static shift these are already shifted, and `set_timesteps`
/// shifts the interpolated schedule again: diffusers shifts `sigma_min` twice, and so do we.
fn training_sigma_range(cfg: &SchedulerConfig) -> (f64, f64) {
    // Training sigmas are t / T for t = T, ..., 1 (float32).
    let ends = [1.0f32, 1.0 / cfg.num_train_timesteps as f32];
    let shifted = ends.map(|s| {
        if cfg.use_dynamic_shifting {
            s
        } else {
            let (a, b) = (f32::from_f64(cfg.shift), f32::from_f64(cfg.shift - 1.0));
            a * s / (1.0 + b * s)
        }
    });
    (shifted[0] as f64, shifted[1] as f64)
}

impl Scheduler for FlowMatchEuler {
    fn timesteps(&self) -> &[f32] {
        &self.timesteps
    }

    fn sigmas(&self) -> &[f32] {
        &self.sigmas
    }

    fn step(&mut self, model_output: &[f32], sample: &mut [f32], step_index: usize, noise: Option<&[f32]>) -> Result<()> {
        check_step(model_output, sample, step_index, self.timesteps.len().min(self.sigmas.len().saturating_sub(1)))?;
        let (sigma, next) = (self.sigmas[step_index], self.sigmas[step_index + 1]);
        if let Some(noise) = noise.filter(|_| self.stochastic) {
            if noise.len() != sample.len() {
                return Err(Error::InvalidRequest(format!(
                    "a stochastic scheduler step got {} values of fresh noise for a sample of {}",
                    noise.len(),
                    sample.len()
                )));
            }
            // The clean estimate, noised afresh to the next level.
            for ((x, v), e) in sample.iter_mut().zip(model_output).zip(noise) {
                let x0 = *x - sigma * v;
                *x = (1.0 - next) * x0 + next * e;
            }
        } else {
            let dt = next - sigma;
            for (x, v) in sample.iter_mut().zip(model_output) {
                *x += dt * v;
            }
        }
        Ok(())
    }

    fn wants_noise(&self) -> bool {
        self.stochastic
    }
}
