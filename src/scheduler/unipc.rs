//! UniPC (Zhao et al. 2023, "UniPC: A Unified Predictor-Corrector Framework for Fast Sampling of
//! Diffusion Models") on flow-matching sigmas, in its data-prediction form.
//!
//! With `alpha = 1 - sigma` and `lambda = ln(alpha / sigma)`, each step turns the velocity into a
//! clean-sample estimate `m_k = x_k - sigma_k v_k`, then
//!
//! * corrects `x_k` (the predictor's result from the previous step) with `m_k` and the history
//!   (UniC, skipped on the first step), and
//! * predicts `x_{k+1}` from the corrected `x_k`, `m_k` and up to `order - 1` older estimates
//!   (UniP), an exponential-integrator step of length `h = lambda_{k+1} - lambda_k`.
//!
//! The solver coefficients are scalars computed in float32 as diffusers' 0-dim torch tensors
//! are; the history lives in this struct, so one `UniPc` serves one generation.

use std::collections::VecDeque;

use super::{
    check_step, linear_quadratic_sigmas, np_linspace, shift_sigmas, FinalSigmasType, Scheduler, SchedulerConfig, SigmaSchedule, SolverType,
};
use crate::error::Result;

/// diffusers' `UniPCMultistepScheduler` with `use_flow_sigmas=True`,
/// `prediction_type="flow_prediction"`, `predict_x0=True`.
pub struct UniPc {
    sigmas: Vec<f32>,
    timesteps: Vec<f32>,
    /// `lambda = ln(1 - sigma) - ln(sigma)` per sigma (`+inf` at sigma 0).
    lambdas: Vec<f32>,
    solver_order: usize,
    solver_type: SolverType,
    lower_order_final: bool,
    disable_corrector: Vec<usize>,
    /// Clean-sample estimates of the latest steps, oldest first, at most `solver_order`.
    history: VecDeque<Vec<f32>>,
    /// The corrected sample the last prediction started from (`None` before the first step).
    last_sample: Option<Vec<f32>>,
    /// How many steps the history has seen, capped at `solver_order` (the order warms up).
    warm_steps: usize,
    /// The order of the last prediction; the next correction uses the same.
    last_order: usize,
    /// The step `step` expects next; another index restarts the history.
    next_step: usize,
    /// A spare buffer for the next estimate.
    scratch: Vec<f32>,
}

impl UniPc {
    /// The schedule of `set_timesteps` for `num_steps` steps (see the module docs for which call).
    pub fn new(cfg: &SchedulerConfig, num_steps: usize, image_seq_len: usize) -> Self {
        let n_train = cfg.num_train_timesteps as f64;
        // The flow-sigma branch of set_timesteps runs in float64 throughout.
        let mut s: Vec<f64> = match cfg.sigma_schedule {
            SigmaSchedule::LinspaceTrain => {
                let mut s = np_linspace(1.0, 1.0 / n_train, num_steps + 1);
                s.pop();
                s
            }
            SigmaSchedule::Linspace1To1OverN => np_linspace(1.0, 1.0 / num_steps as f64, num_steps),
            // Refused by SchedulerConfig::validate (no diffusers reference); defined for totality.
            SigmaSchedule::LinearQuadratic => linear_quadratic_sigmas(num_steps, 0.025),
        };
        shift_sigmas(cfg, image_seq_len, &mut s);
        // Keep the first sigma off 1, where alpha = 0 and lambda = -inf.
        const EPS: f64 = 1e-6;
        if (s[0] - 1.0).abs() < EPS {
            s[0] -= EPS;
        }
        // diffusers stores these timesteps as int64: truncated.
        let timesteps = s.iter().map(|x| (x * n_train).trunc() as f32).collect();
        let last = match cfg.final_sigmas_type {
            FinalSigmasType::Zero => 0.0,
            FinalSigmasType::SigmaMin => s[s.len() - 1],
        };
        s.push(last);
        let sigmas: Vec<f32> = s.into_iter().map(|x| x as f32).collect();
        let lambdas = sigmas.iter().map(|&sigma| (1.0 - sigma).ln() - sigma.ln()).collect();
        UniPc {
            sigmas,
            timesteps,
            lambdas,
            solver_order: cfg.solver_order,
            solver_type: cfg.solver_type,
            lower_order_final: cfg.lower_order_final,
            disable_corrector: cfg.disable_corrector.clone(),
            history: VecDeque::with_capacity(cfg.solver_order + 1),
            last_sample: None,
            warm_steps: 0,
            last_order: 0,
            next_step: 0,
            scratch: Vec::new(),
        }
    }

    fn restart(&mut self) {
        self.history.clear();
        self.last_sample = None;
        self.warm_steps = 0;
        self.last_order = 0;
    }

    /// Coefficients of a step from sigma index `s0` to `t`, of order `order`, whose older
    /// estimates sit at sigma indices `s0 - 1, s0 - 2, ...`.
    fn coefficients(&self, s0: usize, t: usize, order: usize) -> StepCoefficients {
        let lambda_s0 = self.lambdas[s0];
        let h = self.lambdas[t] - lambda_s0;
        // Data prediction integrates over -h.
        let hh = -h;
        let h_phi_1 = hh.exp_m1();
        let b_h = match self.solver_type {
            SolverType::Bh1 => hh,
            SolverType::Bh2 => hh.exp_m1(),
        };
        // rk: where each older estimate sits, relative to this step's length.
        let rks: Vec<f32> = (1..order).map(|i| (self.lambdas[s0 - i] - lambda_s0) / h).collect();
        // b_i = i! * hh * phi_{i+1}(hh) / B(h); h_phi_k holds hh * phi_{k+1}(hh), by its recurrence.
        let mut b = Vec::with_capacity(order);
        let mut h_phi_k = h_phi_1 / hh - 1.0;
        let mut factorial: u64 = 1;
        for i in 1..=order as u64 {
            b.push(h_phi_k * factorial as f32 / b_h);
            factorial *= i + 1;
            h_phi_k = h_phi_k / hh - (1.0 / factorial as f64) as f32;
        }
        StepCoefficients {
            sigma_ratio: self.sigmas[t] / self.sigmas[s0],
            alpha_h_phi_1: (1.0 - self.sigmas[t]) * h_phi_1,
            alpha_b_h: (1.0 - self.sigmas[t]) * b_h,
            rks,
            b,
        }
    }

    /// UniP: `x_{k+1}` from the corrected `x_k` (in `last_sample`) and the history.
    fn predict(&self, step: usize, order: usize, out: &mut [f32]) {
        let c = self.coefficients(step, step + 1, order);
        // Weights of the differences to older estimates: none at order 1, 1/2 at order 2
        // (as diffusers fixes it), else the solution of the Vandermonde-like system in the rks.
        let rhos: Vec<f32> = match order {
            1 => Vec::new(),
            2 => vec![0.5],
            _ => solve(&powers(&c.rks, order - 1), &c.b[..order - 1]),
        };
        let x = self.last_sample.as_deref().expect("predict runs after last_sample is set");
        let m0 = &self.history[self.history.len() - 1];
        let older: Vec<&[f32]> = (1..order).map(|i| self.history[self.history.len() - 1 - i].as_slice()).collect();
        for j in 0..out.len() {
            let base = c.sigma_ratio * x[j] - c.alpha_h_phi_1 * m0[j];
            out[j] = if order == 1 {
                // diffusers subtracts alpha * B(h) * 0, which is NaN when B(h) = -inf (bh1 into sigma 0).
                base
            } else {
                let mut res = 0.0f32;
                for (k, m) in older.iter().enumerate() {
                    res += rhos[k] * ((m[j] - m0[j]) / c.rks[k]);
                }
                base - c.alpha_b_h * res
            };
        }
    }

    /// UniC: corrects `x_k` given `m_k`, the estimate at the new point, before it joins the history.
    fn correct(&self, step: usize, order: usize, model_t: &[f32], out: &mut [f32]) {
        let c = self.coefficients(step - 1, step, order);
        let rhos: Vec<f32> = if order == 1 {
            vec![0.5]
        } else {
            let mut rks = c.rks.clone();
            rks.push(1.0);
            solve(&powers(&rks, order), &c.b)
        };
        let x = self.last_sample.as_deref().expect("correct runs after a prediction");
        let m0 = &self.history[self.history.len() - 1];
        let older: Vec<&[f32]> = (1..order).map(|i| self.history[self.history.len() - 1 - i].as_slice()).collect();
        let rho_t = rhos[order - 1];
        for j in 0..out.len() {
            let base = c.sigma_ratio * x[j] - c.alpha_h_phi_1 * m0[j];
            let mut res = 0.0f32;
            for (k, m) in older.iter().enumerate() {
                res += rhos[k] * ((m[j] - m0[j]) / c.rks[k]);
            }
            out[j] = base - c.alpha_b_h * (res + rho_t * (model_t[j] - m0[j]));
        }
    }
}

struct StepCoefficients {
    /// `sigma_t / sigma_s0`
    sigma_ratio: f32,
    /// `alpha_t * (e^{-h} - 1)`
    alpha_h_phi_1: f32,
    /// `alpha_t * B(-h)`
    alpha_b_h: f32,
    rks: Vec<f32>,
    b: Vec<f32>,
}

/// `R[i][k] = r_k^i` for `i < n`, `k < r.len()` (the first `n` columns of `r`).
fn powers(r: &[f32], n: usize) -> Vec<Vec<f32>> {
    (0..n).map(|i| r[..n].iter().map(|&x| x.powi(i as i32)).collect()).collect()
}

/// Solves `a x = b` (n <= 3) by Gaussian elimination with partial pivoting, in float32.
fn solve(a: &[Vec<f32>], b: &[f32]) -> Vec<f32> {
    let n = b.len();
    let mut m: Vec<Vec<f32>> = a.iter().zip(b).map(|(row, &bi)| row.iter().copied().chain([bi]).collect()).collect();
    for col in 0..n {
        let pivot = (col..n).fold(col, |p, r| if m[r][col].abs() > m[p][col].abs() { r } else { p });
        m.swap(col, pivot);
        let (upper, lower) = m.split_at_mut(col + 1);
        let pivot_row = &upper[col];
        for row in lower {
            let l = row[col] / pivot_row[col];
            for (x, p) in row[col..].iter_mut().zip(&pivot_row[col..]) {
                *x -= l * p;
            }
        }
    }
    let mut x = vec![0.0f32; n];
    for r in (0..n).rev() {
        let s: f32 = (r + 1..n).map(|c| m[r][c] * x[c]).sum();
        x[r] = (m[r][n] - s) / m[r][r];
    }
    x
}

impl Scheduler for UniPc {
    fn timesteps(&self) -> &[f32] {
        &self.timesteps
    }

    fn sigmas(&self) -> &[f32] {
        &self.sigmas
    }

    fn step(&mut self, model_output: &[f32], sample: &mut [f32], step_index: usize, _noise: Option<&[f32]>) -> Result<()> {
        let steps = self.timesteps.len();
        check_step(model_output, sample, step_index, steps.min(self.sigmas.len().saturating_sub(1)))?;
        if step_index != self.next_step || self.last_sample.as_ref().is_some_and(|x| x.len() != sample.len()) {
            self.restart();
        }

        // The clean-sample estimate at this step, from the uncorrected sample.
        let sigma = self.sigmas[step_index];
        let mut m_t = std::mem::take(&mut self.scratch);
        m_t.clear();
        m_t.extend(sample.iter().zip(model_output).map(|(x, v)| x - sigma * v));

        let use_corrector = step_index > 0 && self.last_sample.is_some() && !self.disable_corrector.contains(&(step_index - 1));
        if use_corrector {
            self.correct(step_index, self.last_order, &m_t, sample);
        }

        // The new estimate joins the history; the oldest leaves it (its buffer is reused).
        if self.history.len() == self.solver_order {
            self.scratch = self.history.pop_front().unwrap_or_default();
        }
        self.history.push_back(m_t);
        let mut order = self.solver_order;
        if self.lower_order_final {
            order = order.min(steps - step_index);
        }
        order = order.min(self.warm_steps + 1);
        self.last_order = order;
        match &mut self.last_sample {
            Some(last) => last.copy_from_slice(sample),
            None => self.last_sample = Some(sample.to_vec()),
        }
        self.predict(step_index, order, sample);
        self.warm_steps = (self.warm_steps + 1).min(self.solver_order);
        self.next_step = step_index + 1;
        Ok(())
    }
}
