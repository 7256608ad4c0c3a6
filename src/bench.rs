//! `kino bench`: where a generation's time goes. Loads a package cold (empty optimised-graph
//! cache) and warm, then times whole generations, each ONNX Runtime run per component, and each
//! denoising step, and reports the share of wall time spent outside ONNX Runtime: the engine's
//! own cost (scheduler, guidance, copies, frame conversion).
//!
//! Under [`Residency::LowMemory`] (`kino bench --low-memory`) every generation runs as
//! `kino generate --low-memory` does: each component is loaded when needed and released after,
//! the text encoder streamed one graph at a time. Then the loads happen inside the generations
//! (the cold ones in the first, with an empty cache), and since no session outlives its use,
//! ONNX Runtime's runs are not timed per component.

use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use crate::error::Result;
use crate::pipeline::{GenerateRequest, Pipeline, Stage};
use crate::runtime::{EmbeddingCache, OptimizedModels, Residency, RuntimeOptions};

/// Median, min and max of a series.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Stat {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub count: usize,
}

impl Stat {
    pub fn of(xs: &[f64]) -> Stat {
        if xs.is_empty() {
            return Stat::default();
        }
        let mut v = xs.to_vec();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 { v[n / 2] } else { 0.5 * (v[n / 2 - 1] + v[n / 2]) };
        Stat { median, min: v[0], max: v[n - 1], count: n }
    }
}

/// One component's ONNX Runtime runs, in milliseconds per run.
#[derive(Clone, Debug, Serialize)]
pub struct ComponentTimes {
    pub name: String,
    pub run_ms: Stat,
    /// Runs per generation.
    pub runs_per_generation: f64,
}

/// One component's load, cold and warm, in seconds.
#[derive(Clone, Debug, Serialize)]
pub struct ComponentLoadTimes {
    pub name: String,
    pub cold_s: f64,
    pub warm_s: f64,
    /// A streamed text encoder: its load is the time its encode spent opening its graphs.
    pub streamed: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    pub model: String,
    pub device: String,
    pub threads: usize,
    /// The denoiser ran through IoBinding (the default; `--unbound-runs` turns it off).
    pub io_binding: bool,
    /// CUDA graphs were asked for (`--cuda-graph`).
    pub cuda_graph: bool,
    pub width: u32,
    pub height: u32,
    pub frames: u32,
    pub steps: usize,
    pub guidance: f32,
    /// Noise levels `[low, high]` at which guidance ran (`None`: every step).
    pub guidance_interval: Option<crate::pipeline::GuidanceInterval>,
    pub runs: usize,
    /// Each generation ran under low memory (`--low-memory`): components loaded when needed and
    /// released, the load times below measured inside the first generation of each pipeline.
    pub low_memory: bool,
    /// Loading the package with an empty optimised-graph cache, then with it filled.
    pub load_cold_s: f64,
    pub load_warm_s: f64,
    /// Each component's share of the cold and warm loads.
    pub component_loads: Vec<ComponentLoadTimes>,
    /// Per-component ONNX Runtime runs (empty under low memory: no session outlives its use).
    pub components: Vec<ComponentTimes>,
    /// Wall time of each denoising step (model runs, guidance, scheduler).
    pub step_ms: Stat,
    pub end_to_end_s: Stat,
    /// Seconds inside ONNX Runtime per generation (`None` under low memory: not timed).
    pub ort_s: Option<Stat>,
    /// Share of all generations' wall time spent outside ONNX Runtime runs, in percent.
    pub outside_ort_pct: Option<f64>,
    /// Peak resident memory of the process (VmHWM), MB.
    pub peak_rss_mb: f64,
}

/// Peak resident set size of this process in MB (Linux), 0 where unknown.
pub fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// One generation of `req`: from text, or, for a model that makes video only from given frames
/// (`conditioning.context_channels`, Wan2.1 I2V / FLF2V), what it was made for: animating a
/// mid-grey still, or bridging it to itself (as many new frames as one window makes, at most
/// `req.frames`).
fn make(pipe: &Pipeline, req: &GenerateRequest, on_progress: &mut dyn FnMut(crate::pipeline::Progress) -> bool) -> Result<()> {
    let c = &pipe.package.manifest.conditioning;
    if !c.context_channels {
        return pipe.generate(req, on_progress, &mut |_| Ok(()));
    }
    let still = crate::RgbFrame { width: req.width, height: req.height, data: vec![128; (req.width * req.height * 3) as usize] };
    if c.image_frames.contains(&crate::model::manifest::ImageFrame::Last) {
        let clip = [still.clone()];
        let count = (req.frames as usize).min(pipe.bridge_in_one_window());
        pipe.bridge(req, &clip, &clip, count, on_progress, &mut |_| Ok(()))
    } else {
        pipe.animate(req, &still, on_progress, &mut |_| Ok(()))
    }
}

/// Benchmarks `runs` generations of `req` (after one warm-up) with the package in `model_dir`.
pub fn run(model_dir: &Path, opts: &RuntimeOptions, req: &GenerateRequest, runs: usize, note: &mut dyn FnMut(&str)) -> Result<BenchReport> {
    // Cold and warm loads share a fresh cache folder, so "cold" includes graph optimisation; it
    // stays until the end, as low memory loads again in every generation.
    let cache = TempDir(std::env::temp_dir().join(format!("kino-bench-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&cache.0);
    // Every component loaded up front and kept, every prompt encoded: the engine's steady state;
    // or, under low memory, each loaded when needed and released.
    let low_memory = opts.residency == Residency::LowMemory;
    let opts = RuntimeOptions {
        optimized_models: OptimizedModels::Dir(cache.0.clone()),
        residency: if low_memory { Residency::LowMemory } else { Residency::KeepLoaded },
        embedding_cache: EmbeddingCache::Off,
        ..opts.clone()
    };
    // A pipeline, and its components' loads: under low memory those of one generation (which
    // also serves as the warm-up).
    let mut load = |what: &str| -> Result<(Pipeline, f64)> {
        let t = Instant::now();
        let pipe = Pipeline::load(model_dir, &opts)?;
        if low_memory {
            make(&pipe, req, &mut |_| true)?;
            let loads: f64 = pipe.loads().iter().map(|l| l.last_load_s).sum();
            let made = t.elapsed().as_secs_f64() - loads;
            note(&format!("{what}: one generation {made:.2} s besides loading components"));
            return Ok((pipe, loads));
        }
        Ok((pipe, t.elapsed().as_secs_f64()))
    };
    let (cold_pipe, load_cold_s) = load("cold")?;
    let cold = cold_pipe.loads();
    drop(cold_pipe);
    let (pipe, load_warm_s) = load("warm")?;
    let component_loads = cold
        .iter()
        .zip(pipe.loads())
        .filter(|(c, _)| c.loads > 0)
        .map(|(c, w)| ComponentLoadTimes {
            name: c.name.to_string(),
            cold_s: c.last_load_s,
            warm_s: w.last_load_s,
            streamed: low_memory && c.name == "text_encoder",
        })
        .collect();
    note(&format!("loaded {} cold in {load_cold_s:.2} s, warm in {load_warm_s:.2} s", pipe.package.manifest.name));

    let generate_once = |step_times: &mut Vec<f64>| -> Result<f64> {
        let mut last: Option<Instant> = None;
        let started = Instant::now();
        let mut on_progress = |p: crate::pipeline::Progress| {
            if p.stage == Stage::Denoise {
                let now = Instant::now();
                // The first step's time also holds prompt encoding: timed from the second step on.
                if let Some(prev) = last {
                    step_times.push(now.duration_since(prev).as_secs_f64() * 1e3);
                }
                last = Some(now);
            }
            true
        };
        make(&pipe, req, &mut on_progress)?;
        Ok(started.elapsed().as_secs_f64())
    };
    // Warm-up: first-run allocations and thread pools are not the steady state (under low
    // memory the warm load's generation was one).
    if !low_memory {
        generate_once(&mut Vec::new())?;
    }
    for (_, c) in pipe.sessions() {
        c.onnx_sessions().iter().for_each(|s| s.record_runs(true));
    }
    let mut walls = Vec::new();
    let mut steps = Vec::new();
    for i in 0..runs.max(1) {
        walls.push(generate_once(&mut steps)?);
        note(&format!("run {}/{}: {:.3} s", i + 1, runs.max(1), walls[i]));
    }
    let n = walls.len() as f64;
    let mut components = Vec::new();
    let mut ort_total = 0.0;
    for (name, c) in pipe.sessions() {
        let sessions = c.onnx_sessions();
        let times: Vec<f64> = sessions.iter().flat_map(|s| s.take_runs()).collect();
        sessions.iter().for_each(|s| s.record_runs(false));
        if times.is_empty() {
            continue;
        }
        ort_total += times.iter().sum::<f64>();
        let ms: Vec<f64> = times.iter().map(|t| t * 1e3).collect();
        components.push(ComponentTimes { name: name.to_string(), run_ms: Stat::of(&ms), runs_per_generation: times.len() as f64 / n });
    }
    let wall_total: f64 = walls.iter().sum();
    let m = &pipe.package.manifest;
    Ok(BenchReport {
        model: m.name.clone(),
        device: pipe.device.to_string(),
        threads: opts.threads.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)),
        io_binding: !opts.unbound_runs,
        cuda_graph: opts.cuda_graph,
        width: req.width,
        height: req.height,
        frames: req.frames,
        steps: req.steps,
        guidance: req.guidance,
        guidance_interval: req.guidance_interval,
        runs: walls.len(),
        low_memory,
        load_cold_s,
        load_warm_s,
        component_loads,
        components,
        step_ms: Stat::of(&steps),
        end_to_end_s: Stat::of(&walls),
        ort_s: (!low_memory).then(|| Stat::of(&[ort_total / n])),
        outside_ort_pct: (!low_memory).then(|| 100.0 * (1.0 - ort_total / wall_total).max(0.0)),
        peak_rss_mb: peak_rss_mb(),
    })
}

/// A folder removed when the benchmark ends, an error's included.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl BenchReport {
    /// The human table.
    pub fn table(&self) -> String {
        let mut s = format!(
            "model {} on {} ({} threads{}{}{}): {}x{}, {} frames, {} steps, guidance {}, {} runs\n",
            self.model,
            self.device,
            self.threads,
            if self.io_binding { ", IoBinding" } else { ", unbound runs" },
            if self.cuda_graph { ", CUDA graphs" } else { "" },
            if self.low_memory { ", low memory" } else { "" },
            self.width,
            self.height,
            self.frames,
            self.steps,
            crate::pipeline::GuidanceInterval::describe(self.guidance, self.guidance_interval),
            self.runs
        );
        s += &format!(
            "load: cold {:.3} s, warm {:.3} s (warm/cold {:.2})\n",
            self.load_cold_s,
            self.load_warm_s,
            self.load_warm_s / self.load_cold_s.max(1e-9)
        );
        for c in &self.component_loads {
            let how = if c.streamed { " (streamed: its graphs opened while encoding)" } else { "" };
            s += &format!("  {:<20}cold {:.3} s, warm {:.3} s{how}\n", c.name, c.cold_s, c.warm_s);
        }
        s += &format!("{:<22}{:>12}{:>12}{:>12}{:>10}\n", "", "median", "min", "max", "per gen");
        for c in &self.components {
            s += &format!(
                "{:<22}{:>9.3} ms{:>9.3} ms{:>9.3} ms{:>10.1}\n",
                format!("{} run", c.name),
                c.run_ms.median,
                c.run_ms.min,
                c.run_ms.max,
                c.runs_per_generation
            );
        }
        s += &format!("{:<22}{:>9.3} ms{:>9.3} ms{:>9.3} ms\n", "denoising step", self.step_ms.median, self.step_ms.min, self.step_ms.max);
        s += &format!(
            "{:<22}{:>10.3} s{:>10.3} s{:>10.3} s\n",
            "end to end", self.end_to_end_s.median, self.end_to_end_s.min, self.end_to_end_s.max
        );
        match (&self.ort_s, self.outside_ort_pct) {
            (Some(ort), Some(pct)) => {
                s += &format!("inside ONNX Runtime {:.3} s per generation; outside: {pct:.2}% of wall time\n", ort.median)
            }
            _ => s += "ONNX Runtime runs not timed per component: under low memory no session outlives its use\n",
        }
        s += &format!("peak resident memory {:.1} MB\n", self.peak_rss_mb);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_of_odd_and_even_series() {
        assert_eq!(Stat::of(&[3.0, 1.0, 2.0]), Stat { median: 2.0, min: 1.0, max: 3.0, count: 3 });
        assert_eq!(Stat::of(&[4.0, 1.0, 2.0, 3.0]).median, 2.5);
        assert_eq!(Stat::of(&[]).count, 0);
    }

    #[test]
    fn peak_rss_is_read_on_linux() {
        assert!(peak_rss_mb() > 1.0);
    }
}
