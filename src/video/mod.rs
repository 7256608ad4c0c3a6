//! Video files through FFmpeg's libraries (ffmpeg-next): encode mp4 (H.264, yuv420p, plays in
//! browsers), mkv (FFV1, lossless RGB) and PNG sequences; decode anything FFmpeg reads; and
//! contact sheets. Outputs are written beside their destination and renamed into place only when
//! complete, so a failed or interrupted run never leaves a half-written file.

use std::path::Path;

use ffmpeg_next as ff;

use crate::error::{Error, Result};
use crate::frame::RgbFrame;

fn verr(path: &Path, message: impl Into<String>) -> Error {
    Error::Video { path: path.to_path_buf(), message: message.into() }
}

fn init() -> Result<()> {
    ff::init().map_err(|e| verr(Path::new(""), format!("cannot initialise FFmpeg: {e}")))?;
    Ok(())
}

mod audio;
mod carried;
mod colour;
mod convert;
mod decode;
mod encode;
mod exif;
mod ffpath;
mod output;
mod pending;
mod silence;

pub use audio::{tracks_left_behind, AudioSource};
pub use colour::Colour;
pub use decode::{count_video_frames, decode_image, decode_video, DecodedVideo, Orientation, VideoReader};
pub use encode::{EncoderThread, FinishedVideo, OwnedAudioSource, VideoEncoder, KEPT_QP};
pub use output::{check_apart_from_output, check_output, check_png_output, save_png, OutputFormat, FRAMES_MARKER};
pub use pending::remove_partial_outputs;

/// How a video's frames are shown: the shape of its pixels and the colours its samples stand
/// for. An output that keeps a clip's frames is written with the clip's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Presentation {
    pub pixel_aspect: crate::frame::PixelAspect,
    pub colour: Colour,
}

/// A grid of frames, `columns` wide, for `--preview`.
pub fn contact_sheet(frames: &[RgbFrame], columns: usize) -> Option<image::RgbImage> {
    let first = frames.first()?;
    let (w, h) = (first.width, first.height);
    let cols = columns.clamp(1, frames.len());
    let rows = frames.len().div_ceil(cols);
    let gap = 2;
    let mut sheet = image::RgbImage::from_pixel(cols as u32 * (w + gap) + gap, rows as u32 * (h + gap) + gap, image::Rgb([32, 32, 32]));
    for (i, f) in frames.iter().enumerate() {
        let img = image::RgbImage::from_raw(f.width, f.height, f.data.clone())?;
        let (x, y) = ((i % cols) as u32 * (w + gap) + gap, (i / cols) as u32 * (h + gap) + gap);
        image::imageops::replace(&mut sheet, &img, x as i64, y as i64);
    }
    Some(sheet)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn test_frames(n: usize, w: u32, h: u32) -> Vec<RgbFrame> {
        (0..n)
            .map(|i| RgbFrame { width: w, height: h, data: (0..w * h * 3).map(|j| ((j as usize * 7 + i * 31) % 256) as u8).collect() })
            .collect()
    }

    fn tmpdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("kino-video-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn ffv1_round_trip_is_lossless() {
        let d = tmpdir("ffv1");
        let path = d.join("clip.mkv");
        let frames = test_frames(5, 34, 18);
        let mut enc = VideoEncoder::create(&path, 34, 18, 8.0).unwrap();
        for f in &frames {
            enc.push(f).unwrap();
        }
        assert_eq!(enc.finish().unwrap(), 5);
        let back = decode_video(&path).unwrap();
        assert_eq!(back.frames, frames);
        assert!((back.fps - 8.0).abs() < 1e-6);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn encoder_thread_writes_on_finish_and_removes_everything_when_dropped() {
        let d = tmpdir("thread");
        let frames = test_frames(7, 34, 18);
        let path = d.join("clip.mkv");
        let mut enc = EncoderThread::spawn(&path, 34, 18, 8.0, None, 2).unwrap();
        for f in &frames {
            enc.push(f.clone()).unwrap();
        }
        assert_eq!(enc.finish().unwrap(), 7);
        assert_eq!(decode_video(&path).unwrap().frames, frames);
        // Abandoned half-way: nothing is left behind, not even a temporary file.
        let other = d.join("abandoned.mkv");
        let mut enc = EncoderThread::spawn(&other, 34, 18, 8.0, None, 2).unwrap();
        enc.push(frames[0].clone()).unwrap();
        drop(enc);
        let names: Vec<String> = std::fs::read_dir(&d).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        assert_eq!(names, ["clip.mkv"]);
        // A frame of the wrong size is an error from push or finish, and no file appears.
        let bad = d.join("bad.mkv");
        let mut enc = EncoderThread::spawn(&bad, 34, 18, 8.0, None, 1).unwrap();
        let mut failed = false;
        for _ in 0..4 {
            failed |= enc.push(test_frames(1, 10, 10).remove(0)).is_err();
        }
        assert!(failed || enc.finish().is_err());
        assert!(!bad.exists());
        // Creation errors come back from spawn.
        assert!(EncoderThread::spawn(&d.join("x.avi"), 34, 18, 8.0, None, 2).is_err());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn mp4_has_all_frames_and_no_temp_files_remain() {
        let d = tmpdir("mp4");
        let path = d.join("clip.mp4");
        let frames = test_frames(9, 64, 32);
        let mut enc = VideoEncoder::create(&path, 64, 32, 8.0).unwrap();
        for f in &frames {
            enc.push(f).unwrap();
        }
        enc.finish().unwrap();
        let back = decode_video(&path).unwrap();
        assert_eq!((back.frames.len(), back.width, back.height), (9, 64, 32));
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 1);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn webm_is_vp9_with_all_frames_close_to_the_input() {
        let d = tmpdir("webm");
        let path = d.join("clip.webm");
        // Smooth pictures, as footage is (the other tests' frames are noise on purpose).
        let frames: Vec<RgbFrame> = (0..9)
            .map(|i| RgbFrame {
                width: 64,
                height: 32,
                data: (0..64 * 32).flat_map(|p| [(p % 64 * 4) as u8, (p / 64 * 8) as u8, (i * 20) as u8]).collect(),
            })
            .collect();
        let worst = |path: &Path| {
            let mut enc = VideoEncoder::create(path, 64, 32, 8.0).unwrap();
            for f in &frames {
                enc.push(f).unwrap();
            }
            enc.finish().unwrap();
            let back = decode_video(path).unwrap();
            assert_eq!((back.frames.len(), back.width, back.height), (9, 64, 32));
            back.frames.iter().zip(&frames).map(|(a, b)| a.psnr(b)).fold(f64::INFINITY, f64::min)
        };
        let (vp9, h264) = (worst(&path), worst(&d.join("clip.mp4")));
        // On these frames VP9 gives 34.6 dB and H.264 35.5-35.6 (x264's output varies a little with the
        // threads it gets): within 1.5 dB.
        assert!(vp9 > 30.0 && vp9 > h264 - 1.5, "VP9 {vp9:.1} dB, about H.264's {h264:.1} (4:2:0 bounds both)");
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 2, "no temporary files");
        assert!(VideoEncoder::create(&d.join("odd.webm"), 9, 8, 8.0).is_err(), "4:2:0 needs even sizes");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn abandoned_output_leaves_nothing() {
        let d = tmpdir("abandon");
        let path = d.join("clip.mp4");
        let mut enc = VideoEncoder::create(&path, 16, 16, 8.0).unwrap();
        enc.push(&test_frames(1, 16, 16)[0]).unwrap();
        drop(enc);
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 0);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn png_sequence_and_bad_paths() {
        let d = tmpdir("png");
        let out = d.join("frames");
        let mut enc = VideoEncoder::create(&PathBuf::from(format!("{}/", out.display())), 8, 8, 8.0).unwrap();
        for f in test_frames(3, 8, 8) {
            enc.push(&f).unwrap();
        }
        enc.finish().unwrap();
        assert!(out.join("00002.png").is_file());
        assert!(VideoEncoder::create(&d.join("x.avi"), 8, 8, 8.0).is_err());
        assert!(VideoEncoder::create(&d.join("missing/x.mp4"), 8, 8, 8.0).is_err());
        assert!(VideoEncoder::create(&d.join("odd.mp4"), 9, 8, 8.0).is_err());
        assert!(decode_video(&d.join("nothing.mp4")).is_err());
        std::fs::write(d.join("garbage.mp4"), b"not a video").unwrap();
        assert!(decode_video(&d.join("garbage.mp4")).is_err());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn contact_sheet_layout() {
        let sheet = contact_sheet(&test_frames(5, 10, 6), 4).unwrap();
        assert_eq!(sheet.dimensions(), (4 * 12 + 2, 2 * 8 + 2));
        assert!(contact_sheet(&[], 4).is_none());
    }
}
