//! Flow-matching Euler: `x_{i+1} = x_i + (sigma_{i+1} - sigma_i) * v`.

use super::{calculate_shift, Scheduler, SchedulerConfig, TimeShiftType};

pub struct FlowMatchEuler {
    sigmas: Vec<f32>,
    timesteps: Vec<f32>,
}

impl FlowMatchEuler {
    pub fn new(cfg: &SchedulerConfig, num_steps: usize, image_seq_len: usize) -> Self {
        let n_train = cfg.num_train_timesteps as f64;
        let static_shift = |s: f64| cfg.shift * s / (1.0 + (cfg.shift - 1.0) * s);
        // The training schedule's ends; with a static shift diffusers shifts these at
        // construction and shifts the interpolated schedule again below (the "twice" quirk).
        let (sigma_max, sigma_min) = if cfg.use_dynamic_shifting { (1.0, 1.0 / n_train) } else { (static_shift(1.0), static_shift(1.0 / n_train)) };
        let mut sigmas: Vec<f64> = linspace(sigma_max * n_train, sigma_min * n_train, num_steps).into_iter().map(|t| t / n_train).collect();
        if cfg.use_dynamic_shifting {
            let mu = calculate_shift(image_seq_len, cfg.base_image_seq_len, cfg.max_image_seq_len, cfg.base_shift, cfg.max_shift);
            sigmas = sigmas.into_iter().map(|s| time_shift(cfg.time_shift_type, mu, s)).collect();
        } else {
            sigmas = sigmas.into_iter().map(static_shift).collect();
        }
        if let Some(terminal) = cfg.shift_terminal {
            let one_minus: Vec<f64> = sigmas.iter().map(|s| 1.0 - s).collect();
            let scale = one_minus.last().copied().unwrap_or(0.0) / (1.0 - terminal);
            if scale != 0.0 {
                sigmas = one_minus.iter().map(|z| 1.0 - z / scale).collect();
            }
        }
        let timesteps = sigmas.iter().map(|s| (s * n_train) as f32).collect();
        let mut sigmas: Vec<f32> = sigmas.into_iter().map(|s| s as f32).collect();
        sigmas.push(0.0);
        FlowMatchEuler { sigmas, timesteps }
    }
}

fn linspace(a: f64, b: f64, n: usize) -> Vec<f64> {
    if n == 1 {
        return vec![a];
    }
    (0..n).map(|i| a + (b - a) * i as f64 / (n - 1) as f64).collect()
}

fn time_shift(kind: TimeShiftType, mu: f64, s: f64) -> f64 {
    match kind {
        TimeShiftType::Exponential => mu.exp() / (mu.exp() + (1.0 / s - 1.0)),
        TimeShiftType::Linear => mu / (mu + (1.0 / s - 1.0)),
    }
}

impl Scheduler for FlowMatchEuler {
    fn timesteps(&self) -> &[f32] {
        &self.timesteps
    }

    fn sigmas(&self) -> &[f32] {
        &self.sigmas
    }

    fn step(&mut self, model_output: &[f32], sample: &mut [f32], step_index: usize) {
        let dt = self.sigmas[step_index + 1] - self.sigmas[step_index];
        for (x, v) in sample.iter_mut().zip(model_output) {
            *x += dt * v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::SchedulerKind;

    fn cfg(shift: f64) -> SchedulerConfig {
        serde_json::from_value(serde_json::json!({"kind": "flow_match_euler", "shift": shift})).unwrap()
    }

    fn close(a: &[f32], b: &[f32]) {
        assert_eq!(a.len(), b.len(), "{a:?} vs {b:?}");
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-4, "{a:?} vs {b:?}");
        }
    }

    // Reference values printed by diffusers 0.42.1:
    // FlowMatchEulerDiscreteScheduler(shift=s).set_timesteps(4).sigmas
    #[test]
    fn static_shift_matches_diffusers() {
        close(FlowMatchEuler::new(&cfg(1.0), 4, 0).sigmas(), &[1.0, 0.6670, 0.3340, 0.0010, 0.0]);
        close(FlowMatchEuler::new(&cfg(3.0), 4, 0).sigmas(), &[1.0, 0.8577, 0.6022, 0.0089, 0.0]);
        let s = FlowMatchEuler::new(&cfg(3.0), 4, 0);
        close(s.timesteps(), &[1000.0, 857.692_3, 602.150_6, 8.928_572]);
        assert_eq!(cfg(1.0).kind, SchedulerKind::FlowMatchEuler);
    }

    // LTX-Video: dynamic exponential shift with shift_terminal 0.1; 768x512x121 -> seq 6144,
    // mu = 2.7833; N = 8 (research notes, recomputed from diffusers' formulas). diffusers' LTX
    // pipeline passes sigmas = linspace(1, 1/N, N) explicitly, which a later issue adds.
    #[test]
    fn calculate_shift_matches_ltx_reference() {
        let mu = calculate_shift(6144, 1024, 4096, 0.95, 2.05);
        assert!((mu - 2.7833).abs() < 1e-3, "{mu}");
    }

    #[test]
    fn euler_step_moves_by_sigma_difference() {
        let mut s = FlowMatchEuler::new(&cfg(1.0), 2, 0);
        let mut x = vec![1.0f32, 2.0];
        s.step(&[1.0, -1.0], &mut x, 0);
        let dt = s.sigmas()[1] - s.sigmas()[0];
        close(&x, &[1.0 + dt, 2.0 - dt]);
    }

    #[test]
    fn shift_terminal_pins_last_sigma() {
        let c: SchedulerConfig = serde_json::from_value(serde_json::json!({
            "kind": "flow_match_euler", "use_dynamic_shifting": true, "base_shift": 0.95, "max_shift": 2.05,
            "base_image_seq_len": 1024, "max_image_seq_len": 4096, "shift_terminal": 0.1})).unwrap();
        let s = FlowMatchEuler::new(&c, 8, 6144);
        let sig = s.sigmas();
        assert!((sig[7] - 0.1).abs() < 1e-6 && sig[8] == 0.0, "{sig:?}");
        assert!(sig.windows(2).all(|w| w[0] >= w[1]));
    }

    #[test]
    fn rejects_bad_configs() {
        let mut c = cfg(1.0);
        c.shift = -1.0;
        assert!(c.validate().is_err());
        let bad: Result<SchedulerConfig, _> = serde_json::from_value(serde_json::json!({"kind": "ddim"}));
        assert!(bad.is_err());
    }
}
