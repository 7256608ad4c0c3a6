//! Reading video files (and stills) frame by frame as RGB, through FFmpeg's decoders.

use std::path::Path;

use ffmpeg_next as ff;
use ff::format::Pixel;
use ff::software::scaling::{Context as Scaler, Flags};

use super::{init, verr};
use crate::error::Result;
use crate::frame::RgbFrame;

/// A decoded video: its frames as RGB, and its rate.
pub struct DecodedVideo {
    pub frames: Vec<RgbFrame>,
    pub fps: f64,
    pub width: u32,
    pub height: u32,
}

/// Reads a video file (or a single image) frame by frame as RGB, so a clip of any length is
/// never held in memory whole.
pub struct VideoReader {
    path: std::path::PathBuf,
    ictx: ff::format::context::Input,
    decoder: ff::decoder::Video,
    scaler: Scaler,
    stream: usize,
    pending: std::collections::VecDeque<RgbFrame>,
    eof: bool,
    read: usize,
    pub fps: f64,
    pub width: u32,
    pub height: u32,
}

impl VideoReader {
    pub fn open(path: &Path) -> Result<Self> {
        init()?;
        if !path.is_file() {
            return Err(verr(path, "no such file"));
        }
        let ictx = ff::format::input(path).map_err(|e| verr(path, format!("cannot read as video ({e})")))?;
        let stream = ictx.streams().best(ff::media::Type::Video).ok_or_else(|| verr(path, "has no video stream"))?;
        let index = stream.index();
        let rate = stream.avg_frame_rate();
        let fps = if rate.denominator() != 0 && rate.numerator() > 0 { rate.numerator() as f64 / rate.denominator() as f64 } else { 0.0 };
        let ctx = ff::codec::context::Context::from_parameters(stream.parameters()).map_err(|e| verr(path, e.to_string()))?;
        let decoder = ctx.decoder().video().map_err(|e| verr(path, format!("unsupported video codec ({e})")))?;
        let (w, h) = (decoder.width(), decoder.height());
        if w == 0 || h == 0 {
            return Err(verr(path, "video has no frame size"));
        }
        let scaler = Scaler::get(decoder.format(), w, h, Pixel::RGB24, w, h, Flags::POINT).map_err(|e| verr(path, e.to_string()))?;
        Ok(VideoReader { path: path.to_path_buf(), ictx, decoder, scaler, stream: index, pending: Default::default(), eof: false, read: 0, fps, width: w, height: h })
    }

    /// The next frame, `None` at the end. A file that ends before its first frame is an error.
    pub fn next_frame(&mut self) -> Result<Option<RgbFrame>> {
        loop {
            if let Some(f) = self.pending.pop_front() {
                self.read += 1;
                return Ok(Some(f));
            }
            if self.eof {
                if self.read == 0 {
                    return Err(verr(&self.path, "contains no decodable frames"));
                }
                return Ok(None);
            }
            let mut sent = false;
            for (s, packet) in self.ictx.packets() {
                if s.index() == self.stream {
                    self.decoder.send_packet(&packet).map_err(|e| verr(&self.path, format!("corrupt video data ({e})")))?;
                    sent = true;
                    break;
                }
            }
            if !sent {
                self.decoder.send_eof().map_err(|e| verr(&self.path, e.to_string()))?;
                self.eof = true;
            }
            self.receive()?;
        }
    }

    fn receive(&mut self) -> Result<()> {
        let (w, h) = (self.width, self.height);
        let mut decoded = ff::frame::Video::empty();
        while self.decoder.receive_frame(&mut decoded).is_ok() {
            if (decoded.width(), decoded.height()) != (w, h) {
                return Err(verr(&self.path, format!("frame size changes mid-stream ({}x{} to {}x{}); kino reads clips of one size", w, h, decoded.width(), decoded.height())));
            }
            let mut rgb = ff::frame::Video::empty();
            self.scaler.run(&decoded, &mut rgb).map_err(|e| verr(&self.path, e.to_string()))?;
            let stride = rgb.stride(0);
            let row = w as usize * 3;
            let mut data = Vec::with_capacity(row * h as usize);
            for y in 0..h as usize {
                data.extend_from_slice(&rgb.data(0)[y * stride..y * stride + row]);
            }
            self.pending.push_back(RgbFrame { width: w, height: h, data });
        }
        Ok(())
    }
}

/// Decodes every frame of a video file (or a single image) to RGB.
pub fn decode_video(path: &Path) -> Result<DecodedVideo> {
    let mut reader = VideoReader::open(path)?;
    let mut frames = Vec::new();
    while let Some(f) = reader.next_frame()? {
        frames.push(f);
    }
    Ok(DecodedVideo { frames, fps: reader.fps, width: reader.width, height: reader.height })
}

/// Decodes a still image (PNG, JPEG, ... anything ffmpeg reads; the first frame of an animation).
pub fn decode_image(path: &Path) -> Result<RgbFrame> {
    let mut v = decode_video(path)?;
    Ok(v.frames.swap_remove(0))
}
