//! Frames as the front doors see them: 8-bit RGB, row-major.

use crate::error::{Error, Result};

/// One RGB24 frame: `data` holds exactly `width * height * 3` bytes. [`RgbFrame::new`] checks
/// that; frames built field by field must keep it, or [`RgbFrame::try_resized`] and
/// [`RgbFrame::try_fitted`] refuse them.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RgbFrame {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

/// Bytes of RGB in a `width` x `height` frame; `None` when that overflows.
fn rgb_len(width: u32, height: u32) -> Option<usize> {
    (width as usize).checked_mul(height as usize)?.checked_mul(3)
}

impl RgbFrame {
    /// A frame of `data` (RGB, row-major), or an error when its length does not match the size.
    pub fn new(width: u32, height: u32, data: Vec<u8>) -> Result<Self> {
        let frame = RgbFrame { width, height, data };
        frame.check()?;
        Ok(frame)
    }

    /// `Err` when `data` does not hold exactly `width * height` RGB pixels.
    pub fn check(&self) -> Result<()> {
        match rgb_len(self.width, self.height) {
            Some(n) if n == self.data.len() => Ok(()),
            _ => Err(Error::Frame(format!(
                "a {}x{} frame holds {} bytes; RGB needs {}",
                self.width,
                self.height,
                self.data.len(),
                3 * self.width as u64 * self.height as u64
            ))),
        }
    }

    /// Converts one frame of a `[3, H, W]` planar float image in `[-1, 1]` (the VAE's output),
    /// or an error when `planes` is not `3 * width * height` long.
    pub fn try_from_planar(width: u32, height: u32, planes: &[f32]) -> Result<Self> {
        let n = match rgb_len(width, height) {
            Some(len) if len == planes.len() => len / 3,
            _ => {
                return Err(Error::Frame(format!(
                    "a {width}x{height} frame needs {} planar values, got {}",
                    3 * width as u64 * height as u64,
                    planes.len()
                )))
            }
        };
        let mut data = vec![0u8; 3 * n];
        for c in 0..3 {
            for (i, v) in planes[c * n..(c + 1) * n].iter().enumerate() {
                data[3 * i + c] = to_u8(*v);
            }
        }
        Ok(RgbFrame { width, height, data })
    }

    /// Planar `[3, H, W]` floats in `[-1, 1]` (the VAE encoder's input).
    pub fn to_planar(&self) -> Vec<f32> {
        let n = (self.width * self.height) as usize;
        let mut out = vec![0f32; 3 * n];
        for i in 0..n {
            for c in 0..3 {
                out[c * n + i] = self.data[3 * i + c] as f32 / 127.5 - 1.0;
            }
        }
        out
    }
}

impl RgbFrame {
    /// This frame scaled to `width` x `height` (Catmull-Rom); a copy when the size is the same.
    /// An error when this frame's data does not match its size.
    pub fn try_resized(&self, width: u32, height: u32) -> Result<RgbFrame> {
        self.check()?;
        if (width, height) == (self.width, self.height) {
            return Ok(self.clone());
        }
        let img = image::RgbImage::from_raw(self.width, self.height, self.data.clone())
            .ok_or_else(|| Error::Frame(format!("a {}x{} frame is too large to resize", self.width, self.height)))?;
        let out = image::imageops::resize(&img, width, height, image::imageops::FilterType::CatmullRom);
        Ok(RgbFrame { width, height, data: out.into_raw() })
    }

    /// This frame placed into a `width` x `height` frame without distortion: scaled by one
    /// factor in both directions (Catmull-Rom) and centred, with black bars
    /// ([`Fit::Letterbox`]) or the overflow cut off ([`Fit::Crop`]). A frame of the same aspect
    /// is simply [`RgbFrame::try_resized`] (bit for bit). An error when this frame's data does not
    /// match its size or a size is 0.
    pub fn try_fitted(&self, width: u32, height: u32, fit: Fit) -> Result<RgbFrame> {
        self.try_fitted_pixels(width, height, fit, PixelAspect::SQUARE, PixelAspect::SQUARE)
    }

    /// [`RgbFrame::try_fitted`] between frames whose pixels are not square (anamorphic footage:
    /// DV, HDV, some broadcast formats): this frame's pixels are `from` wide per unit of height,
    /// the target's `to`; the picture keeps its shape as shown.
    pub fn try_fitted_pixels(&self, width: u32, height: u32, fit: Fit, from: PixelAspect, to: PixelAspect) -> Result<RgbFrame> {
        self.check()?;
        if width == 0 || height == 0 || self.width == 0 || self.height == 0 {
            return Err(Error::Frame(format!("cannot fit a {}x{} frame into {width}x{height}", self.width, self.height)));
        }
        let (sw, sh, w, h) = (self.width as u128, self.height as u128, width as u128, height as u128);
        // Shown aspects compared exactly: (sw * from) / sh against (w * to) / h.
        let (src, dst) = (sw * from.num as u128 * to.den as u128 * h, w * to.num as u128 * from.den as u128 * sh);
        if src == dst {
            return self.try_resized(width, height);
        }
        // This frame's width in target pixels.
        let swe = self.width as f64 * from.ratio() / to.ratio();
        let (sh, w, h) = (self.height as f64, width as f64, height as f64);
        // Scaled size: the side that decides keeps the target's length exactly, the other
        // rounds to the nearest pixel (at least 1).
        let wide = src > dst; // this frame is wider than the target, as shown
        let by_width = matches!((fit, wide), (Fit::Letterbox, true) | (Fit::Crop, false));
        let (iw, ih) = if by_width {
            (width, (sh * w / swe).round().clamp(1.0, u32::MAX as f64) as u32)
        } else {
            ((swe * h / sh).round().clamp(1.0, u32::MAX as f64) as u32, height)
        };
        // A crop of an extreme shape (a 1x8192 still into 64x64) would scale the whole frame to
        // a huge one (64x524288) to keep its middle: cut the source to about the part that is
        // kept first (one pixel more each side for the filter), then fit that.
        if fit == Fit::Crop && iw as u64 * ih as u64 > 4 * width as u64 * height as u64 {
            let (cw, ch) = if by_width {
                (self.width, ((sh * height as f64 / ih as f64).ceil() as u32 + 2).min(self.height))
            } else {
                (((self.width as f64 * width as f64 / iw as f64).ceil() as u32 + 2).min(self.width), self.height)
            };
            if (cw, ch) != (self.width, self.height) {
                return self.centre(cw, ch).try_fitted_pixels(width, height, fit, from, to);
            }
        }
        let scaled = self.try_resized(iw, ih)?;
        let mut out = RgbFrame {
            width,
            height,
            data: vec![0; rgb_len(width, height).ok_or_else(|| Error::Frame(format!("a {width}x{height} frame is too large")))?],
        };
        // Offsets of the scaled frame in the target (letterbox: >= 0) or of the target in the
        // scaled frame (crop: >= 0), centred.
        let (dx, dy) = ((width as i64 - iw as i64) / 2, (height as i64 - ih as i64) / 2);
        for y in 0..height as i64 {
            let sy = y - dy;
            if sy < 0 || sy >= ih as i64 {
                continue;
            }
            let x0 = dx.max(0);
            let x1 = (dx + iw as i64).min(width as i64);
            let (from, to) = ((sy as usize * iw as usize + (x0 - dx) as usize) * 3, (y as usize * width as usize + x0 as usize) * 3);
            let n = (x1 - x0) as usize * 3;
            out.data[to..to + n].copy_from_slice(&scaled.data[from..from + n]);
        }
        Ok(out)
    }

    /// The middle `width` x `height` of this (consistent) frame, at most its size.
    fn centre(&self, width: u32, height: u32) -> RgbFrame {
        let (x0, y0) = ((self.width - width) / 2, (self.height - height) / 2);
        let mut data = Vec::with_capacity(width as usize * height as usize * 3);
        for y in y0..y0 + height {
            let at = (y as usize * self.width as usize + x0 as usize) * 3;
            data.extend_from_slice(&self.data[at..at + width as usize * 3]);
        }
        RgbFrame { width, height, data }
    }

    /// [`RgbFrame::try_fitted`] for a frame known to be consistent and sizes above 0.
    ///
    /// # Panics
    /// When this frame's data does not match its size, or a size is 0.
    pub fn fitted(&self, width: u32, height: u32, fit: Fit) -> RgbFrame {
        self.try_fitted(width, height, fit).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`RgbFrame::try_fitted_pixels`] for a frame known to be consistent and sizes above 0.
    ///
    /// # Panics
    /// When this frame's data does not match its size, or a size is 0.
    pub fn fitted_pixels(&self, width: u32, height: u32, fit: Fit, from: PixelAspect, to: PixelAspect) -> RgbFrame {
        self.try_fitted_pixels(width, height, fit, from, to).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Peak signal-to-noise ratio against another frame of the same size, in dB (infinite when equal).
    pub fn psnr(&self, other: &RgbFrame) -> f64 {
        let mse =
            self.data.iter().zip(&other.data).map(|(&a, &b)| (a as f64 - b as f64).powi(2)).sum::<f64>() / self.data.len().max(1) as f64;
        if mse == 0.0 {
            f64::INFINITY
        } else {
            10.0 * (255.0f64 * 255.0 / mse).log10()
        }
    }

    /// Mean absolute difference per channel value, in 0..=255.
    pub fn mean_abs_diff(&self, other: &RgbFrame) -> f64 {
        self.data.iter().zip(&other.data).map(|(&a, &b)| (a as f64 - b as f64).abs()).sum::<f64>() / self.data.len().max(1) as f64
    }
}

/// The shape of a pixel: its width over its height (a video's sample aspect ratio). Square
/// (1:1) for almost all footage; DV, HDV and some broadcast formats store wider or narrower
/// pixels than they show.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PixelAspect {
    pub num: u32,
    pub den: u32,
}

impl PixelAspect {
    pub const SQUARE: PixelAspect = PixelAspect { num: 1, den: 1 };

    /// `num:den` in lowest terms; square for an unknown (0) or absurd (beyond 1:100 or 100:1)
    /// ratio, as players read it.
    pub fn new(num: u32, den: u32) -> PixelAspect {
        if num == 0 || den == 0 || num as u64 > 100 * den as u64 || den as u64 > 100 * num as u64 {
            return PixelAspect::SQUARE;
        }
        let gcd = |mut a: u32, mut b: u32| {
            while b != 0 {
                (a, b) = (b, a % b);
            }
            a
        };
        let g = gcd(num, den);
        PixelAspect { num: num / g, den: den / g }
    }

    /// The nearest ratio of small whole numbers (denominator up to 1000) to a pixel aspect given
    /// as a number (OpenFX hosts say 0.9, 1.0926, 1.333...); square when it is not a positive
    /// finite number.
    pub fn from_ratio(r: f64) -> PixelAspect {
        if !(r.is_finite() && r > 0.0) {
            return PixelAspect::SQUARE;
        }
        // Continued fraction convergents: the best approximations with small denominators.
        let (mut h0, mut h1, mut k0, mut k1) = (0u64, 1u64, 1u64, 0u64);
        let mut x = r;
        for _ in 0..32 {
            let a = x.floor();
            if a > 1e6 {
                break;
            }
            let (h2, k2) = (a as u64 * h1 + h0, a as u64 * k1 + k0);
            if k2 > 1000 || h2 > u32::MAX as u64 {
                break;
            }
            (h0, h1, k0, k1) = (h1, h2, k1, k2);
            let frac = x - a;
            if frac < 1e-9 || (h1 as f64 / k1 as f64 - r).abs() < 1e-6 * r {
                break;
            }
            x = 1.0 / frac;
        }
        if k1 == 0 {
            return PixelAspect::SQUARE;
        }
        PixelAspect::new(h1 as u32, k1 as u32)
    }

    /// The same pixels turned a quarter: width and height swap.
    pub fn turned(self) -> PixelAspect {
        PixelAspect { num: self.den, den: self.num }
    }

    pub fn is_square(self) -> bool {
        self.num == self.den
    }

    pub fn ratio(self) -> f64 {
        self.num as f64 / self.den as f64
    }
}

impl Default for PixelAspect {
    fn default() -> Self {
        PixelAspect::SQUARE
    }
}

/// How a frame goes into a frame of another aspect ([`RgbFrame::fitted`]). Never stretched.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Fit {
    /// Scaled to fit inside, centred, with black bars (letterbox or pillarbox).
    #[default]
    Letterbox,
    /// Scaled to cover, centred, the overflow cut off.
    Crop,
}

impl Fit {
    /// The mapping back: a target-sized frame taken to the source's size so that the two
    /// agree where both show the picture. Placing with Letterbox shows the whole source in
    /// the middle of the target, so the way back crops to that area; placing with Crop shows
    /// the source's middle, so the way back letterboxes (the cut-off parts are unknown, black).
    pub fn inverse(self) -> Fit {
        match self {
            Fit::Letterbox => Fit::Crop,
            Fit::Crop => Fit::Letterbox,
        }
    }
}

impl Fit {
    /// The name front doors use for it: `letterbox` or `crop`.
    pub fn name(self) -> &'static str {
        match self {
            Fit::Letterbox => "letterbox",
            Fit::Crop => "crop",
        }
    }
}

impl std::str::FromStr for Fit {
    type Err = Error;

    /// `letterbox` or `crop` (any case, surrounding spaces ignored).
    fn from_str(s: &str) -> Result<Fit> {
        match s.trim().to_ascii_lowercase().as_str() {
            "letterbox" => Ok(Fit::Letterbox),
            "crop" => Ok(Fit::Crop),
            _ => Err(Error::InvalidRequest(format!("fit {}: use letterbox or crop", crate::error::quoted(s)))),
        }
    }
}

fn to_u8(v: f32) -> u8 {
    // NaN maps to 0 rather than poisoning the frame.
    let x = ((v.clamp(-1.0, 1.0) + 1.0) * 127.5).round();
    if x.is_nan() {
        0
    } else {
        x as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planar_round_trip_is_exact_for_8_bit_values() {
        let f = RgbFrame { width: 2, height: 1, data: vec![0, 128, 255, 10, 20, 30] };
        let back = RgbFrame::try_from_planar(2, 1, &f.to_planar()).unwrap();
        assert_eq!(back, f);
    }

    #[test]
    fn resize_round_trip_and_metrics() {
        let f = RgbFrame { width: 4, height: 2, data: (0..24).map(|x| (x * 10) as u8).collect() };
        assert_eq!(f.try_resized(4, 2).unwrap(), f);
        let big = f.try_resized(8, 4).unwrap();
        assert_eq!((big.width, big.height, big.data.len()), (8, 4, 96));
        assert_eq!(f.psnr(&f), f64::INFINITY);
        let mut g = f.clone();
        g.data[0] += 24;
        assert_eq!(f.mean_abs_diff(&g), 1.0);
        assert!((f.psnr(&g) - 10.0 * (255.0f64 * 255.0 / 24.0).log10()).abs() < 1e-9);
    }

    #[test]
    fn inconsistent_frames_are_errors() {
        assert!(RgbFrame::new(2, 1, vec![0; 6]).is_ok());
        let e = RgbFrame::new(2, 2, vec![0; 6]).unwrap_err().to_string();
        assert!(e.contains("2x2") && e.contains("6 bytes") && e.contains("12"), "{e}");
        // A size whose byte count overflows is refused, not wrapped.
        assert!(RgbFrame::new(u32::MAX, u32::MAX, vec![]).is_err());
        assert!(RgbFrame::try_from_planar(2, 1, &[0.0; 5]).is_err());
        assert!(RgbFrame::try_from_planar(2, 1, &[0.0; 7]).is_err());
        let short = RgbFrame { width: 4, height: 4, data: vec![1; 10] };
        assert!(short.try_resized(2, 2).is_err());
        assert!(short.try_resized(4, 4).is_err());
    }

    #[test]
    fn planar_round_trip_of_a_checked_frame() {
        let f = RgbFrame::new(5, 3, (0..45).map(|x| (x * 37 % 256) as u8).collect()).unwrap();
        assert_eq!(RgbFrame::try_from_planar(5, 3, &f.to_planar()).unwrap(), f);
    }

    /// A frame of `w` x `h`: a white disc of radius `r` centred on black.
    fn disc(w: u32, h: u32, r: f64) -> RgbFrame {
        let (cx, cy) = (w as f64 / 2.0, h as f64 / 2.0);
        let data = (0..w * h).flat_map(|i| {
            let (x, y) = ((i % w) as f64 + 0.5 - cx, (i / w) as f64 + 0.5 - cy);
            let v = if x * x + y * y <= r * r { 255u8 } else { 0 };
            [v, v, v]
        });
        RgbFrame::new(w, h, data.collect()).unwrap()
    }

    /// The lit box [x0, x1) x [y0, y1) of pixels brighter than half.
    fn lit_box(f: &RgbFrame) -> (u32, u32, u32, u32) {
        let mut b = (u32::MAX, u32::MAX, 0, 0);
        for y in 0..f.height {
            for x in 0..f.width {
                if f.data[3 * (y * f.width + x) as usize] > 127 {
                    b = (b.0.min(x), b.1.min(y), b.2.max(x + 1), b.3.max(y + 1));
                }
            }
        }
        (b.0, b.2, b.1, b.3)
    }

    #[test]
    fn fitting_never_stretches_a_circle() {
        let sq = disc(64, 64, 28.0);
        // Letterbox a square into 4:3 (pillarbox): 48x48 in the middle, 8 px bars each side.
        let lb = sq.fitted(64, 48, Fit::Letterbox);
        assert_eq!((lb.width, lb.height), (64, 48));
        let (x0, x1, y0, y1) = lit_box(&lb);
        assert_eq!(x1 - x0, y1 - y0, "the disc stays round: {:?}", (x0, x1, y0, y1));
        assert_eq!(x0 + x1, 64, "centred horizontally");
        assert_eq!(y0 + y1, 48, "centred vertically");
        for y in 0..48 {
            for x in (0..8).chain(56..64) {
                assert_eq!(&lb.data[3 * (y * 64 + x)..3 * (y * 64 + x) + 3], &[0, 0, 0], "bar at ({x},{y})");
            }
        }
        // Letterbox a square into 16:9 landscape and 9:16 portrait: round both ways.
        for (w, h) in [(160, 90), (90, 160), (100, 75), (75, 100)] {
            let f = sq.fitted(w, h, Fit::Letterbox);
            let (x0, x1, y0, y1) = lit_box(&f);
            assert!((x1 - x0).abs_diff(y1 - y0) <= 1, "{w}x{h}: {:?}", (x0, x1, y0, y1));
        }
        // Crop a square into 4:3: scaled to 64x64 (already) and 8 rows cut top and bottom;
        // the disc (56 px) is cut to 48 rows but keeps its width: it is the square's middle.
        let cr = sq.fitted(64, 48, Fit::Crop);
        assert_eq!(cr.data[..], sq.data[8 * 64 * 3..56 * 64 * 3], "crop of a same-width frame is its middle rows, bit for bit");
        // A 4:3 frame cropped into a square keeps a circle round.
        let wide = disc(80, 60, 20.0);
        let f = wide.fitted(48, 48, Fit::Crop);
        let (x0, x1, y0, y1) = lit_box(&f);
        assert!((x1 - x0).abs_diff(y1 - y0) <= 1 && x0 + x1 == 48 && y0 + y1 == 48, "{:?}", (x0, x1, y0, y1));
    }

    /// A crop of an extreme shape cuts the source first (a 1x8192 still into 64x64 took 45 s
    /// scaling it to 64x524288); the picture is the same as scaling the whole and cutting.
    #[test]
    fn cropping_an_extreme_shape_matches_scaling_the_whole() {
        for (w, h) in [(2, 3000), (3000, 2), (1, 999)] {
            // Smooth in both directions, so the cut's edges are where filters would differ.
            let data = (0..w * h).flat_map(|i| {
                let (x, y) = ((i % w) as f64, (i / w) as f64);
                [(y * 255.0 / h as f64) as u8, (x * 255.0 / w as f64) as u8, ((x + y) % 256.0) as u8]
            });
            let f = RgbFrame::new(w as u32, h as u32, data.collect()).unwrap();
            let fast = f.fitted(16, 16, Fit::Crop);
            // The whole frame scaled, then its middle 16x16.
            let (iw, ih) =
                if w < h { (16, (h as f64 * 16.0 / w as f64).round() as u32) } else { ((w as f64 * 16.0 / h as f64).round() as u32, 16) };
            let whole = f.try_resized(iw, ih).unwrap();
            let slow = whole.centre(16, 16);
            assert_eq!((fast.width, fast.height), (16, 16));
            let worst = fast.data.iter().zip(&slow.data).map(|(a, b)| a.abs_diff(*b)).max().unwrap();
            assert!(worst <= 2, "{w}x{h}: up to {worst} levels from scaling the whole");
        }
    }

    #[test]
    fn fitting_the_same_aspect_is_resizing_bit_for_bit() {
        let f = RgbFrame::new(5, 3, (0..45).map(|x| (x * 37 % 256) as u8).collect()).unwrap();
        for fit in [Fit::Letterbox, Fit::Crop] {
            assert_eq!(f.fitted(5, 3, fit), f);
            assert_eq!(f.fitted(10, 6, fit), f.try_resized(10, 6).unwrap());
        }
        let sq = disc(64, 64, 20.0);
        for fit in [Fit::Letterbox, Fit::Crop] {
            assert_eq!(sq.fitted(256, 256, fit), sq.try_resized(256, 256).unwrap());
            assert_eq!(sq.fitted(32, 32, fit), sq.try_resized(32, 32).unwrap());
        }
        assert!(f.try_fitted(0, 3, Fit::Crop).is_err());
        let short = RgbFrame { width: 4, height: 4, data: vec![1; 10] };
        assert!(short.try_fitted(4, 2, Fit::Letterbox).is_err());
    }

    /// Columns and rows holding any picture (not black).
    fn picture_extent(f: &RgbFrame) -> (usize, usize) {
        let w = f.width as usize;
        let lit = |x: usize, y: usize| f.data[3 * (y * w + x)..3 * (y * w + x) + 3].iter().any(|&c| c > 0);
        let cols = (0..w).filter(|&x| (0..f.height as usize).any(|y| lit(x, y))).count();
        let rows = (0..f.height as usize).filter(|&y| (0..w).any(|x| lit(x, y))).count();
        (cols, rows)
    }

    #[test]
    fn fitting_keeps_the_shape_as_shown_with_pixels_that_are_not_square() {
        let white = RgbFrame::new(64, 64, vec![255; 64 * 64 * 3]).unwrap();
        // 96x72 stored with 4:3 pixels is shown 128x72 (16:9): a square shown 72x72 is 54 pixels
        // wide there (not the 72 of square pixels), centred between bars of 21.
        let anamorphic = PixelAspect::new(4, 3);
        let placed = white.fitted_pixels(96, 72, Fit::Letterbox, PixelAspect::SQUARE, anamorphic);
        assert_eq!(picture_extent(&placed), (54, 72));
        assert_eq!(picture_extent(&white.fitted(96, 72, Fit::Letterbox)), (72, 72));
        // And back: the stored frame read square is shown 128x72; into 64x64 by crop it covers all.
        let read = placed.fitted_pixels(64, 64, Fit::Crop, anamorphic, PixelAspect::SQUARE);
        assert!(read.data.iter().filter(|&&c| c > 200).count() > 64 * 60 * 3, "the square comes back filling the model's frame");
        // Shown aspects equal: a plain resize (720x480 DV widescreen, 32:27 pixels, is 16:9).
        let dv = RgbFrame::new(720, 480, vec![9; 720 * 480 * 3]).unwrap();
        assert_eq!(dv.fitted_pixels(64, 36, Fit::Crop, PixelAspect::new(32, 27), PixelAspect::SQUARE), dv.try_resized(64, 36).unwrap());
        // Ratios in lowest terms; unknown or absurd ones read square, as players do.
        assert_eq!(PixelAspect::new(64, 48), anamorphic);
        assert_eq!(PixelAspect::new(0, 1), PixelAspect::SQUARE);
        assert_eq!(PixelAspect::new(1000, 1), PixelAspect::SQUARE);
        assert_eq!(anamorphic.turned(), PixelAspect::new(3, 4));
        // Hosts that give the ratio as a number (OpenFX).
        assert_eq!(PixelAspect::from_ratio(1.0), PixelAspect::SQUARE);
        assert_eq!(PixelAspect::from_ratio(0.9), PixelAspect::new(9, 10));
        assert_eq!(PixelAspect::from_ratio(4.0 / 3.0), anamorphic);
        assert_eq!(PixelAspect::from_ratio(2.0), PixelAspect::new(2, 1));
        assert_eq!(PixelAspect::from_ratio(32.0 / 27.0), PixelAspect::new(32, 27));
        let ntsc_wide = PixelAspect::from_ratio(1.2121);
        assert!((ntsc_wide.ratio() - 1.2121).abs() < 1e-4 && ntsc_wide.den <= 1000, "{ntsc_wide:?}");
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e-9, 1e9] {
            assert_eq!(PixelAspect::from_ratio(bad), PixelAspect::SQUARE, "{bad}");
        }
    }

    #[test]
    fn the_inverse_fit_reads_back_the_shown_area() {
        // A model-size square placed into 4:3 and read back with the inverse gives the square
        // (nearly: two resamplings); the bars never come back as picture.
        let sq = disc(64, 64, 24.0);
        for fit in [Fit::Letterbox, Fit::Crop] {
            let shown = sq.fitted(128, 96, fit);
            let back = shown.fitted(64, 64, fit.inverse());
            let (x0, x1, y0, y1) = lit_box(&back);
            assert!((x1 - x0).abs_diff(y1 - y0) <= 1, "{fit:?}: {:?}", (x0, x1, y0, y1));
            if fit == Fit::Letterbox {
                assert!(back.mean_abs_diff(&sq) < 6.0, "letterbox there and crop back: {}", back.mean_abs_diff(&sq));
            }
        }
    }

    #[test]
    fn fits_parse_by_name() {
        for fit in [Fit::Letterbox, Fit::Crop] {
            assert_eq!(fit.name().parse::<Fit>().unwrap(), fit);
        }
        assert_eq!(" Crop ".parse::<Fit>().unwrap(), Fit::Crop);
        let e = "stretch".parse::<Fit>().unwrap_err().to_string();
        assert!(e.contains("\"stretch\"") && e.contains("letterbox or crop"), "{e}");
    }

    #[test]
    fn out_of_range_and_nan_are_clamped() {
        let f = RgbFrame::try_from_planar(1, 1, &[2.0, -3.0, f32::NAN]).unwrap();
        assert_eq!(f.data, vec![255, 0, 0]);
    }
}
