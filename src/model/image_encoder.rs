//! The image encoder: a frame's centre square -> image tokens, for models that see the given
//! frames as images besides the text (Wan2.1 I2V / FLF2V's CLIP vision tower,
//! `conditioning.image_frames`). The graph does the model's own resizing and normalisation.

use ndarray::{s, Array3, Array4, ArrayView3, Axis, Ix3};

use super::components::required;
use crate::error::{Error, Result};
use crate::frame::RgbFrame;
use crate::model::manifest::ImageEncoderSpec;
use crate::model::ModelPackage;
use crate::runtime::{Device, Input, OnnxSession, RuntimeOptions};

/// A frame -> image tokens `[1, tokens, dim]`.
pub struct ImageEncoder {
    session: OnnxSession,
    spec: ImageEncoderSpec,
    image: String,
    embeds: String,
}

impl ImageEncoder {
    /// `None` for a package without an image encoder.
    pub fn load(pkg: &ModelPackage, device: Device, opts: &RuntimeOptions) -> Result<Option<Self>> {
        let Some(spec) = pkg.manifest.image_encoder.clone() else { return Ok(None) };
        let f = "image_encoder";
        Ok(Some(ImageEncoder {
            image: required(pkg, f, &spec.graph, true, "image")?.to_string(),
            embeds: required(pkg, f, &spec.graph, false, "image_embeds")?.to_string(),
            session: pkg.open_graph(f, &spec.graph, device, opts)?,
            spec,
        }))
    }

    pub fn sessions(&self) -> Vec<&OnnxSession> {
        vec![&self.session]
    }

    /// The tokens of `frame`'s centre square (an image processor's shortest-edge resize and
    /// centre crop, in the other order: the crop is exact in pixels, the graph resizes).
    pub fn encode(&self, frame: &RgbFrame) -> Result<Array3<f32>> {
        let fail =
            |reason: String| Error::Inference { component: "image encoder".into(), file: self.session.file.display().to_string(), reason };
        let input = centre_square(frame).map_err(fail)?;
        let out = self.session.run("image encoder", &[(self.image.as_str(), Input::f32(input.view().into_dyn()))], &[&self.embeds])?;
        let e = out[0].view().into_dimensionality::<Ix3>().map_err(|_| fail(format!("image tokens of shape {:?}", out[0].shape())))?;
        if e.dim() != (1, self.spec.tokens, self.spec.dim) {
            return Err(fail(format!(
                "image tokens of shape {:?}; kino.json says [1, {}, {}]",
                e.shape(),
                self.spec.tokens,
                self.spec.dim
            )));
        }
        Ok(e.to_owned())
    }
}

/// `[1, 3, S, S]` in [-1, 1]: the centre square of `frame`, `S` its shorter side.
pub fn centre_square(frame: &RgbFrame) -> std::result::Result<Array4<f32>, String> {
    let (w, h) = (frame.width as usize, frame.height as usize);
    let side = w.min(h);
    let (x0, y0) = ((w - side) / 2, (h - side) / 2);
    let planar = frame.to_planar();
    let planes = ArrayView3::from_shape((3, h, w), &planar).map_err(|e| format!("a {w}x{h} frame's pixels: {e}"))?;
    Ok(planes.slice(s![.., y0..y0 + side, x0..x0 + side]).insert_axis(Axis(0)).as_standard_layout().into_owned())
}

/// Image tokens of several images, one after another along the token axis: `[1, n * tokens, dim]`.
pub fn join_images(parts: &[Array3<f32>]) -> Result<Array3<f32>> {
    let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
    ndarray::concatenate(Axis(1), &views).map_err(|e| Error::Inference {
        component: "image encoder".into(),
        file: String::new(),
        reason: format!("joining image tokens: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn centre_square_of_a_landscape_frame_is_its_middle() {
        // 4x2: columns 1..3 are the middle square; values by column.
        let data: Vec<u8> = (0..2).flat_map(|_| (0..4u8).flat_map(|x| [x * 60, 0, 255])).collect();
        let frame = RgbFrame { width: 4, height: 2, data };
        let sq = centre_square(&frame).unwrap();
        assert_eq!(sq.shape(), &[1, 3, 2, 2]);
        assert_eq!(sq[[0, 0, 0, 0]], 60.0 / 127.5 - 1.0);
        assert_eq!(sq[[0, 0, 1, 1]], 120.0 / 127.5 - 1.0);
        assert_eq!(sq[[0, 2, 0, 0]], 1.0);
    }
}
