//! Execution providers: which device a session runs on, and each provider's options.

use ort::ep::ExecutionProvider;

use super::library::{ensure_loaded, loaded_library};
use super::{Device, RuntimeOptions, ShapeProfile};
use crate::error::{Error, Result};

/// Whether ONNX Runtime was built with the provider this device needs.
fn provider_available(device: Device) -> bool {
    match device {
        Device::Cpu | Device::Auto => true,
        Device::Cuda(_) => <ort::ep::CUDA as ExecutionProvider>::is_available().unwrap_or(false),
        Device::TensorRt(_) => <ort::ep::TensorRT as ExecutionProvider>::is_available().unwrap_or(false),
    }
}

/// Resolves `Auto` and checks the provider exists, so a missing GPU is a clear error up front.
pub fn resolve_device(opts: &RuntimeOptions) -> Result<Device> {
    ensure_loaded(opts)?;
    let library = loaded_library().map(|p| p.display().to_string()).unwrap_or_default();
    match opts.device {
        Device::Auto => {
            for d in [Device::TensorRt(0), Device::Cuda(0)] {
                if provider_available(d) {
                    log::info!("--device auto chose {d}");
                    return Ok(d);
                }
            }
            log::warn!("--device auto: no CUDA or TensorRT provider in {library}; running on CPU");
            Ok(Device::Cpu)
        }
        d if provider_available(d) => Ok(d),
        d => Err(Error::ProviderUnavailable {
            provider: d.to_string(),
            library,
            hint: "install the GPU build (`python3 -m pip install onnxruntime-gpu==1.32.0`) on a machine with an NVIDIA driver".into(),
        }),
    }
}

/// The CUDA provider's options for device `i`.
pub(super) fn cuda_provider(i: u32, opts: &RuntimeOptions) -> ort::ep::CUDA {
    ort::ep::CUDA::default().with_device_id(i as i32).with_cuda_graph(opts.cuda_graph)
}

/// The TensorRT provider's options: fp16, engine and timing caches, and the shape profile.
pub(super) fn tensorrt_provider(i: u32, opts: &RuntimeOptions, profile: Option<&ShapeProfile>) -> ort::ep::TensorRT {
    let mut trt = ort::ep::TensorRT::default().with_device_id(i as i32).with_fp16(true).with_cuda_graph(opts.cuda_graph);
    // Without a cache folder TensorRT builds its engines again in every process.
    if let Some(cache) = opts.cache_dir.clone().or_else(|| opts.cache_root.as_ref().map(|r| r.join("trt"))) {
        trt = trt
            .with_engine_cache(true)
            .with_engine_cache_path(cache.display().to_string())
            .with_timing_cache(true)
            .with_timing_cache_path(cache.display().to_string());
    }
    if let Some(p) = profile {
        trt = trt.with_profile_min_shapes(&p.min).with_profile_opt_shapes(&p.opt).with_profile_max_shapes(&p.max);
    }
    trt
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    /// The GPU providers' options as ONNX Runtime will receive them (they build on any machine;
    /// only registering them needs the GPU library).
    #[test]
    fn gpu_provider_options() {
        let plain = RuntimeOptions::default();
        let graphs = RuntimeOptions { cuda_graph: true, cache_dir: Some(PathBuf::from("/tmp/kino-trt")), ..Default::default() };
        let cuda = format!("{:?}", cuda_provider(1, &graphs));
        assert!(cuda.contains(r#""device_id": "1""#), "{cuda}");
        assert!(cuda.contains(r#""enable_cuda_graph": "true""#), "{cuda}");
        assert!(format!("{:?}", cuda_provider(0, &plain)).contains(r#""enable_cuda_graph": "false""#));

        let mut profile = ShapeProfile::default();
        profile.push("latents", &[1, 16, 1, 4, 4], &[2, 16, 5, 8, 8], &[2, 16, 9, 16, 16]);
        let trt = format!("{:?}", tensorrt_provider(0, &graphs, Some(&profile)));
        for want in [
            r#""trt_fp16_enable": "true""#,
            r#""trt_engine_cache_enable": "true""#,
            r#""trt_engine_cache_path": "/tmp/kino-trt""#,
            r#""trt_timing_cache_enable": "true""#,
            r#""trt_cuda_graph_enable": "true""#,
            r#""trt_profile_min_shapes": "latents:1x16x1x4x4""#,
            r#""trt_profile_opt_shapes": "latents:2x16x5x8x8""#,
            r#""trt_profile_max_shapes": "latents:2x16x9x16x16""#,
        ] {
            assert!(trt.contains(want), "{want} missing from {trt}");
        }
        assert!(!format!("{:?}", tensorrt_provider(0, &plain, None)).contains("trt_profile_min_shapes"));
    }

    #[test]
    fn cuda_on_a_cpu_build_is_a_clear_error() {
        let opts = RuntimeOptions { device: Device::Cuda(0), ..RuntimeOptions::from_env() };
        match resolve_device(&opts) {
            Err(Error::ProviderUnavailable { provider, hint, .. }) => {
                assert_eq!(provider, "cuda:0");
                assert!(hint.contains("onnxruntime-gpu"));
            }
            // A machine with the GPU wheel and a driver may legitimately have CUDA.
            Ok(Device::Cuda(0)) => {}
            other => panic!("unexpected: {other:?}"),
        }
        let auto = RuntimeOptions { device: Device::Auto, ..RuntimeOptions::from_env() };
        assert!(resolve_device(&auto).is_ok());
    }
}
