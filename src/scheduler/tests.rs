//! Parity with diffusers 0.42.1 (fixtures written by
//! `exporter/kino_export/reference/schedulers.py`) and the reference values in the research notes.

use std::path::PathBuf;

use serde::Deserialize;

use super::*;

fn config(json: serde_json::Value) -> SchedulerConfig {
    serde_json::from_value(json).unwrap()
}

fn euler(shift: f64) -> SchedulerConfig {
    config(serde_json::json!({"kind": "flow_match_euler", "shift": shift}))
}

fn ltx() -> SchedulerConfig {
    config(serde_json::json!({
        "kind": "flow_match_euler", "use_dynamic_shifting": true, "base_shift": 0.95, "max_shift": 2.05,
        "base_image_seq_len": 1024, "max_image_seq_len": 4096, "shift_terminal": 0.1,
        "sigma_schedule": "linspace_1_to_1_over_n"}))
}

fn wan(shift: f64) -> SchedulerConfig {
    config(serde_json::json!({"kind": "unipc_flow", "flow_shift": shift}))
}

fn assert_close(got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for (a, b) in got.iter().zip(want) {
        assert!((a - b).abs() <= tol, "{got:?} vs {want:?}");
    }
}

/// The fake model of the fixtures: `v[i] = 0.3 x[i] + 0.1 cos(step + i)`, in float32.
fn fake_model(x: &[f32], step: usize) -> Vec<f32> {
    x.iter().enumerate().map(|(i, &xi)| 0.3f32 * xi + (0.1 * ((step + i) as f64).cos()) as f32).collect()
}

#[derive(Deserialize)]
struct Fixture {
    case: String,
    config: SchedulerConfig,
    steps: usize,
    image_seq_len: usize,
    sigmas: Vec<f32>,
    timesteps: Vec<f32>,
    x0: Vec<f32>,
    /// The sample after each step; `None` where diffusers' value is not finite.
    trajectory: Vec<Vec<Option<f32>>>,
}

fn fixtures() -> Vec<Fixture> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scheduler");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .collect()
}

#[test]
fn matches_diffusers_fixtures() {
    let fixtures = fixtures();
    assert!(fixtures.len() >= 20, "expected the committed fixtures, found {}", fixtures.len());
    let (mut worst_sigma, mut worst_t, mut worst_x) = (0.0f32, 0.0f32, 0.0f32);
    let mut failures = Vec::new();
    for f in &fixtures {
        let mut s = build_scheduler(&f.config, f.steps, f.image_seq_len).unwrap_or_else(|e| panic!("{}: {e}", f.case));
        assert_eq!(s.sigmas().len(), f.steps + 1, "{}", f.case);
        assert_eq!(s.timesteps().len(), f.steps, "{}", f.case);
        assert_eq!(f.sigmas.len(), f.steps + 1, "{}", f.case);

        let e_sigma = s.sigmas().iter().zip(&f.sigmas).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        let e_t = s.timesteps().iter().zip(&f.timesteps).map(|(a, b)| (a - b).abs() / b.abs().max(1.0)).fold(0.0, f32::max);
        let mut e_x = 0.0f32;
        let mut x = f.x0.clone();
        for (k, want) in f.trajectory.iter().enumerate() {
            let v = fake_model(&x, k);
            s.step(&v, &mut x, k, None).unwrap();
            let scale = want.iter().flatten().fold(1.0f32, |m, w| m.max(w.abs()));
            for (a, b) in x.iter().zip(want) {
                if let Some(b) = b {
                    e_x = e_x.max((a - b).abs() / scale);
                }
            }
        }
        eprintln!("{:45} sigma {e_sigma:.1e}  timestep(rel) {e_t:.1e}  trajectory(rel) {e_x:.1e}", f.case);
        if e_sigma > 1e-6 || e_t > 1e-6 || e_x > 1e-5 || x.iter().any(|v| !v.is_finite()) {
            failures.push(f.case.clone());
        }
        worst_sigma = worst_sigma.max(e_sigma);
        worst_t = worst_t.max(e_t);
        worst_x = worst_x.max(e_x);
    }
    eprintln!("worst: sigma {worst_sigma:.1e}, timestep {worst_t:.1e}, trajectory {worst_x:.1e}");
    assert!(failures.is_empty(), "differ from diffusers: {failures:?}");
}

// Reference values printed by diffusers 0.42.1:
// FlowMatchEulerDiscreteScheduler(shift=s).set_timesteps(4).sigmas
#[test]
fn static_shift_matches_diffusers() {
    assert_close(FlowMatchEuler::new(&euler(1.0), 4, 0).sigmas(), &[1.0, 0.6670, 0.3340, 0.0010, 0.0], 1e-4);
    let s = FlowMatchEuler::new(&euler(3.0), 4, 0);
    // sigma_min is shifted twice: 3*0.002994 / (1 + 2*0.002994) = 0.0089286, not 0.002994.
    assert_close(s.sigmas(), &[1.0, 0.857_692_3, 0.602_150_56, 0.008_928_572, 0.0], 1e-7);
    assert_close(s.timesteps(), &[1000.0, 857.692_3, 602.150_6, 8.928_572], 1e-4);
}

// Research notes 3.6: 768x512x121 -> seq 6144, mu = 2.7833.
#[test]
fn calculate_shift_matches_ltx_reference() {
    let mu = calculate_shift(6144, 1024, 4096, 0.95, 2.05);
    assert!((mu - 2.783_333_333).abs() < 1e-6, "{mu}");
    assert!((calculate_shift(1024, 1024, 4096, 0.95, 2.05) - 0.95).abs() < 1e-12);
    assert!((calculate_shift(4096, 1024, 4096, 0.95, 2.05) - 2.05).abs() < 1e-12);
}

// Research notes 3.6: LTX N = 8.
#[test]
fn ltx_sigmas_match_research_notes() {
    let s = build_scheduler(&ltx(), 8, 6144).unwrap();
    assert_close(s.sigmas(), &[1.0, 0.9739, 0.9398, 0.8934, 0.8265, 0.7217, 0.5338, 0.1, 0.0], 1e-4);
    // shift_terminal lands on 0.1 up to diffusers' float32 rounding (LTX's sigmas are float32).
    assert_eq!(s.sigmas()[7], 0.100_000_024);
}

// Research notes 3.2/3.6: Wan UniPC, shift 5, N = 10 (the first sigma is 1 - 1e-6).
#[test]
fn wan_unipc_sigmas_match_research_notes() {
    let s = build_scheduler(&wan(5.0), 10, 0).unwrap();
    let want = [1.0, 0.9783, 0.9524, 0.9212, 0.8825, 0.8336, 0.7697, 0.6825, 0.5568, 0.3594, 0.0];
    assert_close(s.sigmas(), &want, 1e-4);
    assert_eq!(s.sigmas()[0], 0.999_999);
    // diffusers hands Wan whole-number timesteps (int64, truncated).
    assert_close(&s.timesteps()[..4], &[999.0, 978.0, 952.0, 921.0], 0.0);
}

#[test]
fn euler_step_moves_by_sigma_difference() {
    let mut s = FlowMatchEuler::new(&euler(1.0), 2, 0);
    let mut x = vec![1.0f32, 2.0];
    s.step(&[1.0, -1.0], &mut x, 0, None).unwrap();
    let dt = s.sigmas()[1] - s.sigmas()[0];
    assert_close(&x, &[1.0 + dt, 2.0 - dt], 1e-7);
}

#[test]
fn shift_terminal_pins_last_sigma() {
    for schedule in ["linspace_train", "linspace_1_to_1_over_n"] {
        for kind in ["flow_match_euler", "unipc_flow"] {
            let c = config(serde_json::json!({
                "kind": kind, "use_dynamic_shifting": true, "base_shift": 0.95, "max_shift": 2.05,
                "base_image_seq_len": 1024, "max_image_seq_len": 4096, "shift_terminal": 0.1,
                "sigma_schedule": schedule}));
            let s = build_scheduler(&c, 8, 6144).unwrap();
            let sig = s.sigmas();
            assert!((sig[7] - 0.1).abs() < 1e-6 && sig[8] == 0.0, "{kind} {schedule}: {sig:?}");
            assert!(sig.windows(2).all(|w| w[0] > w[1]), "{sig:?}");
        }
    }
}

/// diffusers' bh1 into a zero final sigma computes `alpha * B(h) * 0` with `B(h) = -inf` and
/// returns NaN (the fixture holds nulls there); the last step is first order, so its result is
/// the clean estimate `x - sigma * v` (checked with the corrector off, so `x` is known).
#[test]
fn unipc_bh1_last_step_is_the_clean_estimate() {
    let c = config(serde_json::json!({"kind": "unipc_flow", "shift": 5.0, "solver_type": "bh1", "disable_corrector": [8]}));
    let mut s = build_scheduler(&c, 10, 0).unwrap();
    let mut x: Vec<f32> = (0..16).map(|i| (i as f32 * 0.37).sin()).collect();
    for k in 0..9 {
        let v = fake_model(&x, k);
        s.step(&v, &mut x, k, None).unwrap();
    }
    let v = fake_model(&x, 9);
    let sigma = s.sigmas()[9];
    let want: Vec<f32> = x.iter().zip(&v).map(|(x, v)| x - sigma * v).collect();
    s.step(&v, &mut x, 9, None).unwrap();
    assert_eq!(x, want);
}

/// A second generation with the same scheduler (step 0 again) starts a fresh history.
#[test]
fn unipc_restarts_when_stepping_from_the_start_again() {
    let mut s = build_scheduler(&wan(3.0), 12, 0).unwrap();
    let run = |s: &mut Box<dyn Scheduler>| {
        let mut x: Vec<f32> = (0..16).map(|i| (i as f32 * 0.7 + 0.2).sin()).collect();
        for k in 0..12 {
            let v = fake_model(&x, k);
            s.step(&v, &mut x, k, None).unwrap();
        }
        x
    };
    let first = run(&mut s);
    let second = run(&mut s);
    assert_eq!(first, second);
}

#[test]
fn parses_manifest_forms() {
    let demo = config(serde_json::json!({"kind": "flow_match_euler", "num_train_timesteps": 1000, "shift": 1.0}));
    assert_eq!(demo.kind, SchedulerKind::FlowMatchEuler);
    assert_eq!(demo.sigma_schedule, SigmaSchedule::LinspaceTrain);
    assert_eq!((demo.solver_order, demo.solver_type, demo.lower_order_final), (2, SolverType::Bh2, true));
    let w = wan(3.0);
    assert_eq!((w.kind, w.shift), (SchedulerKind::UnipcFlow, 3.0));
    // Round trip.
    let back: SchedulerConfig = serde_json::from_str(&serde_json::to_string(&ltx()).unwrap()).unwrap();
    assert_eq!(back, ltx());
}

#[test]
fn rejects_bad_configs() {
    let mut c = euler(1.0);
    c.shift = -1.0;
    assert!(c.validate().is_err());
    let mut c = euler(1.0);
    c.shift_terminal = Some(1.0);
    assert!(c.validate().is_err());
    let mut c = ltx();
    c.max_image_seq_len = c.base_image_seq_len;
    assert!(c.validate().is_err());
    let mut c = wan(3.0);
    c.solver_order = 4;
    assert!(c.validate().is_err());
    let mut c = wan(3.0);
    c.lower_order_final = false;
    assert!(c.validate().is_err(), "order 2 into sigma 0 divides by zero");
    c.final_sigmas_type = FinalSigmasType::SigmaMin;
    assert!(c.validate().is_ok());
    for bad in [
        serde_json::json!({"kind": "ddim"}),
        serde_json::json!({"kind": "unipc_flow", "solver_type": "bh3"}),
        serde_json::json!({"kind": "flow_match_euler", "time_shift_type": "cosine"}),
        serde_json::json!({"kind": "flow_match_euler", "sigma_schedule": "karras"}),
        serde_json::json!({"kind": "flow_match_euler", "shfit": 3.0}),
    ] {
        assert!(serde_json::from_value::<SchedulerConfig>(bad.clone()).is_err(), "{bad}");
    }
}

#[test]
fn build_rejects_bad_requests() {
    assert!(build_scheduler(&euler(1.0), 0, 0).is_err());
    assert!(build_scheduler(&ltx(), 1, 6144).is_err(), "shift_terminal needs two steps");
    // A linear time shift with mu <= 0 (tiny latents here) gives sigmas outside [0, 1].
    let mut c = ltx();
    c.time_shift_type = TimeShiftType::Linear;
    c.base_shift = -0.5;
    c.shift_terminal = None;
    assert!(build_scheduler(&c, 8, 16).is_err());
    for steps in [1, 2, 3] {
        assert!(build_scheduler(&euler(3.0), steps, 0).is_ok());
        assert!(build_scheduler(&wan(3.0), steps, 0).is_ok());
    }
}

/// A step past the schedule or a model output of the wrong length is an error, not a panic.
#[test]
fn steps_outside_the_schedule_are_errors() {
    for kind in ["flow_match_euler", "unipc_flow"] {
        let cfg = config(serde_json::json!({ "kind": kind }));
        let mut s = build_scheduler(&cfg, 4, 256).unwrap();
        let mut x = vec![0.5f32; 3];
        assert!(s.step(&[0.1; 3], &mut x, 4, None).is_err(), "{kind}: step 4 of 4");
        assert!(s.step(&[0.1; 2], &mut x, 0, None).is_err(), "{kind}: short model output");
        assert!(s.step(&[0.1; 3], &mut x, 0, None).is_ok(), "{kind}: a good step");
    }
}

/// `stochastic_sampling`: the clean estimate `x - sigma v`, noised afresh to the next sigma with
/// the noise handed in (diffusers' step with its `randn_tensor` draw given); noise of the wrong
/// length is an error, and the last step (next sigma 0) lands on the clean estimate.
#[test]
fn stochastic_euler_renoises_the_clean_estimate() {
    let c = config(serde_json::json!({"kind": "flow_match_euler", "shift": 3.0, "stochastic_sampling": true}));
    let mut s = build_scheduler(&c, 4, 0).unwrap();
    assert!(s.wants_noise() && !build_scheduler(&euler(3.0), 4, 0).unwrap().wants_noise());
    let sig = s.sigmas().to_vec();
    let (mut x, v, e) = (vec![0.3f32, -1.2, 2.0], [0.5f32, 0.1, -0.7], [1.5f32, -0.2, 0.0]);
    assert!(s.step(&v, &mut x.clone(), 0, Some(&e[..2])).is_err());
    // No noise: the deterministic step (windows leading into given frames, stochastic_given_frames false).
    let mut y = x.clone();
    s.step(&v, &mut y, 0, None).unwrap();
    let euler_step: Vec<f32> = x.iter().zip(&v).map(|(x, v)| x + (sig[1] - sig[0]) * v).collect();
    assert_eq!(y, euler_step);
    let want: Vec<f32> = x.iter().zip(&v).zip(&e).map(|((x, v), e)| (1.0 - sig[1]) * (x - sig[0] * v) + sig[1] * e).collect();
    s.step(&v, &mut x, 0, Some(&e)).unwrap();
    assert_eq!(x, want);
    let clean: Vec<f32> = x.iter().zip(&v).map(|(x, v)| x - sig[3] * v).collect();
    s.step(&v, &mut x, 3, Some(&e)).unwrap();
    assert_close(&x, &clean, 1e-7);
    let unipc = config(serde_json::json!({"kind": "unipc_flow", "stochastic_sampling": true}));
    assert!(build_scheduler(&unipc, 4, 0).is_err());
}
