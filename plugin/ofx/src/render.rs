//! Pixels in and out: host images (RGBA, byte/short/float, bottom row first, any row stride)
//! to and from kino's top-row-first 8-bit RGB frames.

use kino::frame::{Fit, PixelAspect};
use kino::RgbFrame;

use crate::abi::{OfxRectD, OfxRectI};
use crate::suites::Pixels;

/// A canonical rectangle at render scale, in whole pixels of shape `par`: canonical x is in
/// square units, so a pixel `par` wide covers `par` of them (ofxCore.h, coordinate systems).
pub fn to_pixels(r: OfxRectD, scale: [f64; 2], par: PixelAspect) -> OfxRectI {
    let sx = scale[0] / par.ratio();
    OfxRectI {
        x1: (r.x1 * sx + 1e-6).floor() as i32,
        y1: (r.y1 * scale[1]).floor() as i32,
        x2: (r.x2 * sx - 1e-6).ceil() as i32,
        y2: (r.y2 * scale[1]).ceil() as i32,
    }
}

fn intersect(a: OfxRectI, b: OfxRectI) -> OfxRectI {
    OfxRectI { x1: a.x1.max(b.x1), y1: a.y1.max(b.y1), x2: a.x2.min(b.x2), y2: a.y2.min(b.y2) }
}

/// The whole image as RGB, top row first.
pub fn read_frame(src: &Pixels) -> RgbFrame {
    let b = src.bounds;
    let (w, h) = ((b.x2 - b.x1).max(0) as u32, (b.y2 - b.y1).max(0) as u32);
    let mut data = Vec::with_capacity((w * h * 3) as usize);
    for y in (b.y1..b.y2).rev() {
        for x in b.x1..b.x2 {
            let p = src.get(x, y);
            data.extend_from_slice(&p[..3]);
        }
    }
    RgbFrame { width: w, height: h, data }
}

/// Copies `src` into `dst` inside `window`, byte for byte when the depths agree; pixels outside
/// the source are transparent black.
pub fn copy(src: &Pixels, dst: &mut Pixels, window: OfxRectI) {
    let area = intersect(window, dst.bounds);
    let inside = intersect(area, src.bounds);
    for y in area.y1..area.y2 {
        let row_in = y >= inside.y1 && y < inside.y2;
        for x in area.x1..area.x2 {
            if !(row_in && x >= inside.x1 && x < inside.x2) {
                dst.put(x, y, [0, 0, 0, 0]);
            }
        }
        if !row_in {
            continue;
        }
        if src.depth == dst.depth {
            dst.copy_span_from(src, inside.x1, inside.x2, y);
        } else {
            for x in inside.x1..inside.x2 {
                dst.put(x, y, src.get(x, y));
            }
        }
    }
}

/// Transparent black inside `window`.
pub fn clear(dst: &mut Pixels, window: OfxRectI) {
    let area = intersect(window, dst.bounds);
    for y in area.y1..area.y2 {
        for x in area.x1..area.x2 {
            dst.put(x, y, [0, 0, 0, 0]);
        }
    }
}

/// Draws `frame` (square pixels), placed into `picture` (pixel coordinates, pixels of shape
/// `par`) without distortion as shown, as `fit` says (the same aspect: simply scaled), into
/// `dst` inside `window`.
pub fn write_frame(frame: &RgbFrame, picture: OfxRectI, fit: Fit, par: PixelAspect, dst: &mut Pixels, window: OfxRectI) {
    let (w, h) = ((picture.x2 - picture.x1).max(1) as u32, (picture.y2 - picture.y1).max(1) as u32);
    let frame = frame.fitted_pixels(w, h, fit, PixelAspect::SQUARE, par);
    let area = intersect(window, dst.bounds);
    for y in area.y1..area.y2 {
        // Bottom-up rows: the picture's top row is y2 - 1.
        let row = picture.y2 - 1 - y;
        for x in area.x1..area.x2 {
            let col = x - picture.x1;
            let px = if row >= 0 && (row as u32) < h && col >= 0 && (col as u32) < w {
                let i = 3 * (row as usize * w as usize + col as usize);
                [frame.data[i], frame.data[i + 1], frame.data[i + 2], 255]
            } else {
                [0, 0, 0, 0]
            };
            dst.put(x, y, px);
        }
    }
}

/// Red diagonal stripes on dark grey (as the frei0r plugin draws): impossible to mistake for footage.
pub fn error_frame(dst: &mut Pixels, window: OfxRectI) {
    let area = intersect(window, dst.bounds);
    for y in area.y1..area.y2 {
        for x in area.x1..area.x2 {
            let stripe = ((x + y).rem_euclid(16)) < 8;
            dst.put(x, y, if stripe { [200, 20, 20, 255] } else { [30, 30, 30, 255] });
        }
    }
}
