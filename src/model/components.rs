//! What the model's components share: the manifest's tensor roles, and the latent-tensor
//! helpers the VAE and the pipeline use.

use ndarray::{s, Array5, ArrayView5, ArrayViewD, Axis, Ix5};

use crate::error::{Error, Result};
use crate::model::manifest::GraphSpec;
use crate::model::ModelPackage;

pub(super) fn role<'a>(spec: &'a GraphSpec, side_inputs: bool, role: &str) -> Option<&'a str> {
    let map = if side_inputs { &spec.inputs } else { &spec.outputs };
    map.get(role).map(|t| t.name.as_str())
}

pub(super) fn required<'a>(pkg: &ModelPackage, field: &str, spec: &'a GraphSpec, side_inputs: bool, r: &str) -> Result<&'a str> {
    role(spec, side_inputs, r).ok_or_else(|| {
        let side = if side_inputs { "inputs" } else { "outputs" };
        Error::package_file(&pkg.dir, "kino.json", format!("field `{field}.{side}` lacks the role `{r}`"))
    })
}

/// Frames `[start, start+n)` of a `[B, C, F, h, w]` tensor, copied into a new standard-layout
/// array (ONNX Runtime reads contiguous tensors only).
pub(crate) fn latent_frames(latents: ArrayView5<'_, f32>, start: usize, n: usize) -> Array5<f32> {
    latents.slice(s![.., .., start..start + n, .., ..]).as_standard_layout().into_owned()
}

/// A `[B, C, F, h, w]` output of `component`, or an error naming the shape it has instead.
pub(crate) fn five_d<'a>(component: &str, file: &std::path::Path, a: ArrayViewD<'a, f32>) -> Result<ArrayView5<'a, f32>> {
    let shape = a.shape().to_vec();
    a.into_dimensionality::<Ix5>().map_err(|_| Error::Inference {
        component: component.into(),
        file: file.display().to_string(),
        reason: format!("output of shape {shape:?}; expected five dimensions [B, C, F, H, W]"),
    })
}

/// `output` of `component`, refused when any value is not a number (NaN or infinite): damaged
/// weights or a float16 graph that overflowed would otherwise come out as black frames, or as
/// footage that ignores its context, with nothing said.
pub(crate) fn finite<'a>(component: &str, file: &std::path::Path, output: ArrayView5<'a, f32>) -> Result<ArrayView5<'a, f32>> {
    if output.iter().all(|v| v.is_finite()) {
        return Ok(output);
    }
    Err(Error::Inference {
        component: component.into(),
        file: file.display().to_string(),
        reason: "its output holds values that are not numbers (NaN or infinite): the graph's weights are damaged, or it overflowed in float16; re-export the package (as float32 where float16 overflows)".into(),
    })
}

/// Concatenates `[1, C, n_i, h, w]` chunks from `component` along frames.
pub(crate) fn concat_frames(component: &str, parts: &[ArrayView5<'_, f32>]) -> Result<Array5<f32>> {
    if parts.is_empty() {
        return Err(Error::Inference { component: component.into(), file: String::new(), reason: "produced no chunks".into() });
    }
    ndarray::concatenate(Axis(2), parts).map_err(|_| {
        let shapes: Vec<&[usize]> = parts.iter().map(|p| p.shape()).collect();
        Error::Inference { component: component.into(), file: String::new(), reason: format!("chunks of mismatched shapes {shapes:?}") }
    })
}

#[cfg(test)]
mod tests {
    use ndarray::Array;

    use super::*;

    #[test]
    fn concat_frames_joins_along_time_per_channel() {
        let part = |n: usize, base: f32| Array::from_shape_vec((1, 2, n, 1, 1), (0..2 * n).map(|i| base + i as f32).collect()).unwrap();
        // [c0: 0], [c1: 1] and [c0: 10, 11], [c1: 12, 13]
        let (a, b) = (part(1, 0.0), part(2, 10.0));
        let joined = concat_frames("test", &[a.view(), b.view()]).unwrap();
        assert_eq!(joined.shape(), &[1, 2, 3, 1, 1]);
        assert_eq!(joined.iter().copied().collect::<Vec<_>>(), vec![0.0, 10.0, 11.0, 1.0, 12.0, 13.0]);
        let odd = Array5::<f32>::zeros((1, 3, 1, 1, 1));
        assert!(concat_frames("test", &[a.view(), odd.view()]).is_err());
        assert!(concat_frames("test", &[]).is_err());
    }

    #[test]
    fn latent_frames_slices_channel_major_layout() {
        // [1, C=2, F=3, 1, 2]
        let lat = Array::from_shape_vec((1, 2, 3, 1, 2), (0..12).map(|x| x as f32).collect()).unwrap();
        let flat = |a: Array5<f32>| a.as_slice().map(<[f32]>::to_vec);
        assert_eq!(flat(latent_frames(lat.view(), 1, 2)), Some(vec![2.0, 3.0, 4.0, 5.0, 8.0, 9.0, 10.0, 11.0]));
        assert_eq!(flat(latent_frames(lat.view(), 0, 1)), Some(vec![0.0, 1.0, 6.0, 7.0]));
    }
}
