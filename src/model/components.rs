//! What the model's components share: the manifest's tensor roles, and the latent-tensor
//! helpers the VAE and the pipeline use.

use crate::error::{Error, Result};
use crate::model::manifest::GraphSpec;
use crate::model::ModelPackage;
use crate::runtime::Output;

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

/// Copies latent frames `[start, start+n)` of a `[1, C, F, h, w]` tensor into a new `[1, C, n, h, w]` buffer.
pub(crate) fn latent_frames(latents: &[f32], shape: [usize; 5], start: usize, n: usize) -> Vec<f32> {
    let [_, c, f, h, w] = shape;
    let plane = h * w;
    let mut out = Vec::with_capacity(c * n * plane);
    for ch in 0..c {
        let base = ch * f * plane + start * plane;
        out.extend_from_slice(&latents[base..base + n * plane]);
    }
    out
}

/// Concatenates `[1, C, n_i, h, w]` chunks from `component` along frames.
pub(crate) fn concat_frames(component: &str, parts: &[Output]) -> Result<(Vec<usize>, Vec<f32>)> {
    let Some(first) = parts.first() else {
        return Err(Error::Inference { component: component.into(), file: String::new(), reason: "produced no chunks".into() });
    };
    if first.shape.len() != 5 || parts.iter().any(|p| p.shape.len() != 5 || p.shape[1] != first.shape[1] || p.shape[3..] != first.shape[3..]) {
        let shapes: Vec<&Vec<usize>> = parts.iter().map(|p| &p.shape).collect();
        return Err(Error::Inference { component: component.into(), file: String::new(), reason: format!("chunks of mismatched shapes {shapes:?}") });
    }
    let (c, plane) = (first.shape[1], first.shape[3] * first.shape[4]);
    let total: usize = parts.iter().map(|p| p.shape[2]).sum();
    let mut data = Vec::with_capacity(c * total * plane);
    for ch in 0..c {
        for p in parts {
            let n = p.shape[2];
            data.extend_from_slice(&p.data[ch * n * plane..(ch + 1) * n * plane]);
        }
    }
    Ok((vec![1, c, total, first.shape[3], first.shape[4]], data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concat_frames_joins_along_time_per_channel() {
        let part = |n: usize, base: f32| Output { shape: vec![1, 2, n, 1, 1], data: (0..2 * n).map(|i| base + i as f32).collect() };
        // [c0: 0], [c1: 1] and [c0: 10, 11], [c1: 12, 13]
        let (shape, data) = concat_frames("test", &[part(1, 0.0), part(2, 10.0)]).unwrap();
        assert_eq!(shape, vec![1, 2, 3, 1, 1]);
        assert_eq!(data, vec![0.0, 10.0, 11.0, 1.0, 12.0, 13.0]);
    }

    #[test]
    fn latent_frames_slices_channel_major_layout() {
        // [1, C=2, F=3, 1, 2]
        let lat: Vec<f32> = (0..12).map(|x| x as f32).collect();
        assert_eq!(latent_frames(&lat, [1, 2, 3, 1, 2], 1, 2), vec![2.0, 3.0, 4.0, 5.0, 8.0, 9.0, 10.0, 11.0]);
        assert_eq!(latent_frames(&lat, [1, 2, 3, 1, 2], 0, 1), vec![0.0, 1.0, 6.0, 7.0]);
    }
}
