//! Writing video: H.264 mp4, VP9 webm, FFV1 mkv and PNG sequences, with the input's audio copied along,
//! on the caller's thread ([`VideoEncoder`]) or its own ([`EncoderThread`]).

use std::ops::Range;
use std::path::{Path, PathBuf};

use ff::format::Pixel;
use ff::software::scaling::{Context as Scaler, Flags};
use ffmpeg_next as ff;

use super::audio::{AudioCopy, AudioSource, OpenedSource};
use super::colour::{set_scaler_colour, tag_encoder};
use super::output::{format_pattern, write_png_file, Destination, OutputFormat};
use super::pending::PendingPath;
use super::Presentation;
use super::{init, verr};
use crate::error::{Error, Result};
use crate::frame::{PixelAspect, RgbFrame};

struct FfmpegSink {
    octx: ff::format::context::Output,
    encoder: ff::encoder::Video,
    scaler: Scaler,
    rgb: ff::frame::Video,
    converted: ff::frame::Video,
    encoder_tb: ff::Rational,
    stream_tb: ff::Rational,
    audio: Option<AudioCopy>,
    /// What keeps the output's path valid while the muxer may reopen it (MP4's faststart pass);
    /// dropped after `octx`, fields drop in order.
    _path: super::ffpath::FfmpegPath,
}

enum Sink {
    Ffmpeg(Box<FfmpegSink>),
    Png { dir: PathBuf, pattern: String },
}

/// Streaming video writer: `create`, `push` frames, `finish`. Dropping it unfinished removes
/// everything it wrote.
pub struct VideoEncoder {
    sink: Sink,
    pending: PendingPath,
    width: u32,
    height: u32,
    frames: i64,
    dest: PathBuf,
}

impl VideoEncoder {
    pub fn create(path: &Path, width: u32, height: u32, fps: f64) -> Result<Self> {
        Self::create_with_audio(path, width, height, fps, None)
    }

    /// Like [`create`](Self::create), also copying `audio`'s audio streams (as they are, shifted
    /// by its offset) and container metadata. A folder of PNGs takes no audio; an audio codec
    /// the container cannot hold is reported with the fix.
    pub fn create_with_audio(path: &Path, width: u32, height: u32, fps: f64, audio: Option<AudioSource<'_>>) -> Result<Self> {
        Self::create_keeping(path, width, height, fps, audio.as_slice(), &[], Presentation::default())
    }

    /// Like [`create_with_audio`](Self::create_with_audio), with the audio of several sources
    /// one after another (see [`AudioSource::until_seconds`]); the output frames in `kept` are
    /// given footage (a clip the job keeps as it was), which H.264 output encodes at a
    /// near-lossless constant quantiser ([`KEPT_QP`], x264 zones) instead of CRF 18, so a
    /// user's frames lose as little as the format allows. `presentation` (a clip's own, where
    /// its frames are kept) is declared in the video stream: pixels that are not square, and
    /// H.264's colour matrix, range, primaries and transfer, which the frames are converted by
    /// (PNG output records neither).
    pub fn create_keeping(
        path: &Path,
        width: u32,
        height: u32,
        fps: f64,
        audio: &[AudioSource<'_>],
        kept: &[Range<u64>],
        presentation: Presentation,
    ) -> Result<Self> {
        let format = OutputFormat::from_path(path)?;
        if width == 0 || height == 0 {
            return Err(verr(path, "frame size must be positive"));
        }
        if !(fps.is_finite() && fps > 0.0 && fps <= 1000.0) {
            return Err(verr(path, format!("frame rate {fps} must be between 0 and 1000")));
        }
        let dest = Destination::checked(path, &[])?;
        if format == OutputFormat::PngSequence {
            if audio.iter().any(|a| super::audio::has_audio(a.path)) {
                log::warn!("PNG frames hold no sound: the input's audio is left out (write .mkv or .mp4 to keep it)");
            }
            // PNG's pixel shape (pHYs) is read one way by FFmpeg and the other by the PNG
            // specification's readers: said rather than written.
            let par = presentation.pixel_aspect;
            if !par.is_square() {
                log::warn!(
                    "PNG frames keep no pixel shape: the clip's pixels are {}:{} (not square), and the frames will show squeezed unless the shape is set again (write .mkv or .mp4 to keep it)",
                    par.num,
                    par.den
                );
            }
            let pattern = match &dest {
                Destination::Pattern { pattern, .. } => pattern.clone(),
                _ => "%05d.png".to_string(),
            };
            let pending = PendingPath::new(dest)?;
            return Ok(VideoEncoder {
                sink: Sink::Png { dir: pending.tmp.clone(), pattern },
                pending,
                width,
                height,
                frames: 0,
                dest: path.to_path_buf(),
            });
        }
        init()?;
        if format.is_yuv420() && (width % 2 != 0 || height % 2 != 0) {
            return Err(verr(
                path,
                format!("4:2:0 video (H.264, VP9) needs even width and height, got {width}x{height}; use .mkv for odd sizes"),
            ));
        }
        let pending = PendingPath::new(dest)?;
        let sink = open_ffmpeg(&pending.tmp, format, width, height, fps, audio, kept, presentation).map_err(|e| verr(path, e))?;
        Ok(VideoEncoder { sink: Sink::Ffmpeg(Box::new(sink)), pending, width, height, frames: 0, dest: path.to_path_buf() })
    }

    pub fn push(&mut self, frame: &RgbFrame) -> Result<()> {
        if frame.width != self.width || frame.height != self.height || frame.data.len() != (frame.width * frame.height * 3) as usize {
            return Err(verr(
                &self.dest,
                format!("frame is {}x{}, the video is {}x{}", frame.width, frame.height, self.width, self.height),
            ));
        }
        match &mut self.sink {
            Sink::Png { dir, pattern } => {
                let name = format_pattern(pattern, self.frames as usize);
                let img = image::RgbImage::from_raw(frame.width, frame.height, frame.data.clone())
                    .ok_or_else(|| verr(&self.dest, "bad frame buffer"))?;
                write_png_file(&img, &dir.join(&name)).map_err(|e| verr(&self.dest, format!("frame {name}: {e}")))?;
            }
            Sink::Ffmpeg(s) => {
                let stride = s.rgb.stride(0);
                let row = frame.width as usize * 3;
                let plane = s.rgb.data_mut(0);
                for y in 0..frame.height as usize {
                    plane[y * stride..y * stride + row].copy_from_slice(&frame.data[y * row..(y + 1) * row]);
                }
                s.scaler.run(&s.rgb, &mut s.converted).map_err(|e| verr(&self.dest, e.to_string()))?;
                s.converted.set_pts(Some(self.frames));
                s.encoder.send_frame(&s.converted).map_err(|e| verr(&self.dest, e.to_string()))?;
                drain(s).map_err(|e| verr(&self.dest, e))?;
            }
        }
        self.frames += 1;
        Ok(())
    }

    /// Audio streams being copied into this video.
    pub fn audio_streams(&self) -> usize {
        match &self.sink {
            Sink::Ffmpeg(s) => s.audio.as_ref().map_or(0, |a| a.streams()),
            Sink::Png { .. } => 0,
        }
    }

    /// Flushes the encoder and moves the file into place. Returns the frame count.
    pub fn finish(self) -> Result<usize> {
        self.finish_pending()?.commit()
    }

    /// Flushes the encoder and closes the file, leaving it under its temporary name until
    /// [`FinishedVideo::commit`] (so a companion output, e.g. a preview, can land first).
    pub fn finish_pending(mut self) -> Result<FinishedVideo> {
        if self.frames == 0 {
            return Err(verr(&self.dest, "no frames were written"));
        }
        if let Sink::Ffmpeg(s) = &mut self.sink {
            s.encoder.send_eof().map_err(|e| verr(&self.dest, e.to_string()))?;
            drain(s).map_err(|e| verr(&self.dest, e))?;
            if let Some(a) = &mut s.audio {
                a.write_until(&mut s.octx, f64::INFINITY).map_err(|e| verr(&self.dest, e))?;
                let seconds = self.frames as f64 * f64::from(s.encoder_tb);
                a.pad_with_silence(&mut s.octx, seconds).map_err(|e| verr(&self.dest, e))?;
            }
            s.octx.write_trailer().map_err(|e| verr(&self.dest, e.to_string()))?;
        }
        let frames = self.frames as usize;
        let VideoEncoder { sink, pending, .. } = self;
        drop(sink); // close the file before renaming it
        Ok(FinishedVideo { frames, pending })
    }
}

/// A complete video under its temporary name; dropping it removes it.
pub struct FinishedVideo {
    frames: usize,
    pending: PendingPath,
}

impl FinishedVideo {
    /// Moves the video into place. Returns the frame count.
    pub fn commit(self) -> Result<usize> {
        self.pending.commit()?;
        Ok(self.frames)
    }
}

/// The constant quantiser of given footage in H.264 output: near-lossless (46-49 dB on frames
/// that were 4:2:0 already, where CRF 18 gives 43-46 dB).
pub const KEPT_QP: u32 = 8;

/// x264's `zones` for the kept frames (inclusive frame ranges at [`KEPT_QP`]), or none. Kept
/// frames past the first (always an I frame) also turn B frames off: a B frame between made
/// and kept footage stays near CRF 18's quality (43 dB) whatever its zone says.
fn kept_zones(kept: &[Range<u64>]) -> Option<String> {
    let kept: Vec<&Range<u64>> = kept.iter().filter(|r| r.end > r.start).collect();
    let zones: Vec<String> = kept.iter().map(|r| format!("{},{},q={KEPT_QP}", r.start, r.end - 1)).collect();
    let no_b = kept.iter().any(|r| r.end > 1);
    (!zones.is_empty()).then(|| format!("zones={}{}", zones.join("/"), if no_b { ":bframes=0" } else { "" }))
}

#[allow(clippy::too_many_arguments)]
fn open_ffmpeg(
    tmp: &Path,
    format: OutputFormat,
    width: u32,
    height: u32,
    fps: f64,
    audio: &[AudioSource<'_>],
    kept: &[Range<u64>],
    presentation: Presentation,
) -> std::result::Result<FfmpegSink, String> {
    let pixel_aspect = presentation.pixel_aspect;
    let at = super::ffpath::FfmpegPath::output(tmp).map_err(|e| format!("cannot create: {e}"))?;
    let mut octx = ff::format::output(at.as_path()).map_err(|e| format!("cannot create: {e}"))?;
    let (codec_id, pix) = match format {
        OutputFormat::Mp4H264 => (ff::codec::Id::H264, Pixel::YUV420P),
        OutputFormat::WebmVp9 => (ff::codec::Id::VP9, Pixel::YUV420P),
        _ => (ff::codec::Id::FFV1, Pixel::BGRZ),
    };
    let codec = ff::encoder::find(codec_id)
        .ok_or_else(|| format!("this FFmpeg has no {codec_id:?} encoder (install libavcodec with libx264 and libvpx)"))?;
    let global_header = octx.format().flags().contains(ff::format::Flags::GLOBAL_HEADER);
    let mut stream = octx.add_stream(codec).map_err(|e| e.to_string())?;
    let rate = frame_rate(fps);
    let tb = rate.invert();
    let new_encoder = || -> std::result::Result<ff::encoder::video::Video, String> {
        let mut enc = ff::codec::context::Context::new_with_codec(codec).encoder().video().map_err(|e| e.to_string())?;
        enc.set_width(width);
        enc.set_height(height);
        enc.set_format(pix);
        if !pixel_aspect.is_square() {
            enc.set_aspect_ratio(ff::Rational::new(pixel_aspect.num as i32, pixel_aspect.den as i32));
        }
        enc.set_time_base(tb);
        enc.set_frame_rate(Some(rate));
        if global_header {
            enc.set_flags(ff::codec::Flags::GLOBAL_HEADER);
        }
        if format.is_yuv420() {
            tag_encoder(&mut enc, presentation.colour);
        } else {
            // RGB has no matrix and is full range; its primaries and transfer are the clip's
            // (an HDR clip's PQ and BT.2020 stay said).
            let c = presentation.colour;
            tag_encoder(&mut enc, super::Colour { matrix: ff::color::Space::RGB, range: ff::color::Range::JPEG, ..c });
        }
        Ok(enc)
    };
    let mut enc = new_encoder()?;
    let mut opts = ff::Dictionary::new();
    if format == OutputFormat::Mp4H264 {
        opts.set("crf", "18");
        opts.set("preset", "medium");
        if let Some(zones) = kept_zones(kept) {
            opts.set("x264-params", &zones);
        }
    } else if format == OutputFormat::WebmVp9 {
        // Constant quality (a bit rate of 0 with a CRF), about H.264 CRF 18's; `good` at
        // cpu-used 4 with row threading: a few times faster than libvpx's default, same size.
        enc.set_bit_rate(0);
        opts.set("crf", "20");
        opts.set("deadline", "good");
        opts.set("cpu-used", "4");
        opts.set("row-mt", "1");
    } else {
        // FFV1 version 3: the standardised, non-experimental bitstream (needed with global headers).
        opts.set("level", "3");
    }
    let encoder = match enc.open_with(opts) {
        Ok(e) => e,
        // FFV1 version 3 cuts each picture into slices, which some shapes cannot take (a picture
        // one pixel wide and thousands tall); version 1, as standard and as lossless, has none.
        Err(_) if format == OutputFormat::MkvFfv1 => {
            let mut v1 = ff::Dictionary::new();
            v1.set("level", "1");
            new_encoder()?.open_with(v1).map_err(|e| format!("cannot open the encoder: {e}"))?
        }
        Err(e) => return Err(format!("cannot open the encoder: {e}")),
    };
    stream.set_parameters(&encoder);
    if !pixel_aspect.is_square() {
        set_stream_pixel_aspect(&mut stream, pixel_aspect);
    }
    stream.set_time_base(tb);
    stream.set_avg_frame_rate(rate);
    let sources = audio.iter().map(|&src| OpenedSource::open(src)).collect::<std::result::Result<Vec<_>, _>>()?;
    super::carried::carry_tags_and_chapters(&mut octx, &sources, fps);
    let audio = if sources.is_empty() { None } else { AudioCopy::add_streams(&mut octx, sources)? };
    let mut header = ff::Dictionary::new();
    // The same frames give the same file: Matroska otherwise writes a random segment UID.
    header.set("fflags", "+bitexact");
    if format == OutputFormat::Mp4H264 {
        header.set("movflags", "+faststart");
    }
    let written = octx.write_header_with(header).map(drop);
    written.map_err(|e| match &audio {
        Some(_) if format == OutputFormat::WebmVp9 => {
            format!("cannot write the input's audio into WebM ({e}): WebM holds only Opus or Vorbis sound; write .mkv or .mp4")
        }
        Some(_) => {
            // Name the codec and the containers that hold it (PCM fits MOV; Matroska holds any).
            let codecs: Vec<&str> = octx.streams().skip(1).map(|s| s.parameters().id().name()).collect();
            let muxer = octx.format().name().to_uppercase();
            let other = match codecs.iter().all(|c| c.starts_with("pcm_")) {
                true if muxer == "MP4" => ".mov or .mkv, which keep it as it is",
                _ => ".mkv, which holds any audio",
            };
            format!("{muxer} cannot hold the input's {} audio ({e}): write {other}", codecs.join(" and "))
        }
        None => format!("cannot write the header: {e}"),
    })?;
    let stream_tb = octx.stream(0).map(|s| s.time_base()).unwrap_or(tb);
    let mut scaler = Scaler::get(Pixel::RGB24, width, height, pix, width, height, Flags::POINT).map_err(|e| e.to_string())?;
    if format.is_yuv420() {
        set_scaler_colour(&mut scaler, presentation.colour, false);
    }
    let mut converted = ff::frame::Video::new(pix, width, height);
    if !pixel_aspect.is_square() {
        set_frame_pixel_aspect(&mut converted, pixel_aspect);
    }
    Ok(FfmpegSink {
        octx,
        encoder,
        scaler,
        rgb: ff::frame::Video::new(Pixel::RGB24, width, height),
        converted,
        encoder_tb: tb,
        stream_tb,
        audio,
        _path: at,
    })
}

/// Declares non-square pixels where muxers and encoders look for them besides the codec
/// parameters: the stream (Matroska's display size) and each frame (FFV1 stores the frame's in
/// its slice headers). ffmpeg-next has no safe setter for either field.
#[allow(unsafe_code)]
fn set_stream_pixel_aspect(stream: &mut ff::format::stream::StreamMut<'_>, pixel_aspect: PixelAspect) {
    let sar = ff::Rational::new(pixel_aspect.num as i32, pixel_aspect.den as i32);
    // SAFETY: `as_mut_ptr` points at the stream this `StreamMut` borrows mutably, owned by the
    // output context that outlives the borrow; `sample_aspect_ratio` is a plain struct field.
    unsafe {
        (*stream.as_mut_ptr()).sample_aspect_ratio = sar.into();
    }
}

#[allow(unsafe_code)]
fn set_frame_pixel_aspect(frame: &mut ff::frame::Video, pixel_aspect: PixelAspect) {
    let sar = ff::Rational::new(pixel_aspect.num as i32, pixel_aspect.den as i32);
    // SAFETY: `frame` owns the AVFrame behind `as_mut_ptr` (allocated by av_frame_alloc in
    // `Video::new`) and is borrowed mutably; `sample_aspect_ratio` is a plain struct field.
    unsafe {
        (*frame.as_mut_ptr()).sample_aspect_ratio = sar.into();
    }
}

fn drain(s: &mut FfmpegSink) -> std::result::Result<(), String> {
    let mut packet = ff::Packet::empty();
    while s.encoder.receive_packet(&mut packet).is_ok() {
        packet.set_stream(0);
        packet.rescale_ts(s.encoder_tb, s.stream_tb);
        if let Some(a) = &mut s.audio {
            let t = packet.dts().or(packet.pts()).unwrap_or(0) as f64 * f64::from(s.stream_tb);
            a.write_until(&mut s.octx, t)?;
        }
        packet.write_interleaved(&mut s.octx).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// A [`VideoEncoder`] on its own thread: frames are handed over a bounded queue and encoded
/// while the caller goes on (the next window denoises while this one is encoded). The encoder
/// is created and used on that thread only. Dropping it unfinished removes what it wrote.
pub struct EncoderThread {
    tx: Option<std::sync::mpsc::SyncSender<RgbFrame>>,
    handle: Option<std::thread::JoinHandle<Result<Option<FinishedVideo>>>>,
    /// Set by `finish`: the queue closing then means "done", not "abandoned".
    complete: std::sync::Arc<std::sync::atomic::AtomicBool>,
    audio_streams: usize,
    dest: PathBuf,
}

/// Where to take audio from, owned (it crosses to the encoder thread).
#[derive(Clone, Debug)]
pub struct OwnedAudioSource {
    pub path: PathBuf,
    pub offset_seconds: f64,
    /// See [`AudioSource::until_seconds`].
    pub until_seconds: Option<f64>,
}

impl OwnedAudioSource {
    /// All of `path`'s audio, shifted by `offset_seconds`.
    pub fn new(path: PathBuf, offset_seconds: f64) -> Self {
        OwnedAudioSource { path, offset_seconds, until_seconds: None }
    }
}

impl EncoderThread {
    /// `queue` frames may wait to be encoded before `push` blocks (memory stays bounded).
    pub fn spawn(path: &Path, width: u32, height: u32, fps: f64, audio: Option<OwnedAudioSource>, queue: usize) -> Result<Self> {
        Self::spawn_keeping(path, width, height, fps, audio.into_iter().collect(), queue, Vec::new(), Presentation::default())
    }

    /// Like [`spawn`](Self::spawn), with given footage at output frames `kept` (see
    /// [`VideoEncoder::create_keeping`]).
    #[allow(clippy::too_many_arguments)]
    pub fn spawn_keeping(
        path: &Path,
        width: u32,
        height: u32,
        fps: f64,
        audio: Vec<OwnedAudioSource>,
        queue: usize,
        kept: Vec<Range<u64>>,
        presentation: Presentation,
    ) -> Result<Self> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<RgbFrame>(queue.max(1));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<usize>>();
        let dest = path.to_path_buf();
        let thread_path = dest.clone();
        let complete = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let done = complete.clone();
        let handle = std::thread::Builder::new()
            .name("kino-encoder".into())
            .spawn(move || -> Result<Option<FinishedVideo>> {
                let src: Vec<AudioSource<'_>> = audio
                    .iter()
                    .map(|a| AudioSource { path: &a.path, offset_seconds: a.offset_seconds, until_seconds: a.until_seconds })
                    .collect();
                let mut encoder = match VideoEncoder::create_keeping(&thread_path, width, height, fps, &src, &kept, presentation) {
                    Ok(e) => e,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return Ok(None);
                    }
                };
                let _ = ready_tx.send(Ok(encoder.audio_streams()));
                for frame in rx {
                    encoder.push(&frame)?;
                }
                if done.load(std::sync::atomic::Ordering::SeqCst) {
                    encoder.finish_pending().map(Some)
                } else {
                    // Abandoned: dropping the encoder removes the partial file.
                    Ok(None)
                }
            })
            .map_err(|e| Error::io(&dest, e))?;
        let audio_streams = match ready_rx.recv() {
            Ok(r) => r?,
            Err(_) => return Err(verr(&dest, "the encoder thread stopped before starting")),
        };
        Ok(EncoderThread { tx: Some(tx), handle: Some(handle), complete, audio_streams, dest })
    }

    pub fn audio_streams(&self) -> usize {
        self.audio_streams
    }

    /// Queues a frame; an encoding error surfaces here (or at `finish`).
    pub fn push(&mut self, frame: RgbFrame) -> Result<()> {
        let sent = self.tx.as_ref().map(|tx| tx.send(frame).is_ok()).unwrap_or(false);
        if sent {
            return Ok(());
        }
        // The thread ended early: its error says why.
        self.tx = None;
        match self.handle.take().map(|h| h.join()) {
            Some(Ok(Err(e))) => Err(e),
            _ => Err(verr(&self.dest, "the encoder thread stopped")),
        }
    }

    /// Encodes what is queued, finishes the file and moves it into place. Returns the frame count.
    pub fn finish(self) -> Result<usize> {
        self.finish_pending()?.commit()
    }

    /// Encodes what is queued and closes the file under its temporary name (see
    /// [`VideoEncoder::finish_pending`]).
    pub fn finish_pending(mut self) -> Result<FinishedVideo> {
        self.complete.store(true, std::sync::atomic::Ordering::SeqCst);
        self.tx = None;
        match self.handle.take().map(|h| h.join()) {
            Some(Ok(Ok(Some(done)))) => Ok(done),
            Some(Ok(Err(e))) => Err(e),
            Some(Err(_)) => Err(verr(&self.dest, "the encoder thread panicked")),
            _ => Err(verr(&self.dest, "the encoder thread stopped")),
        }
    }
}

impl Drop for EncoderThread {
    fn drop(&mut self) {
        // Unfinished: closing the queue ends the thread, whose encoder drops its partial file.
        self.tx = None;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// The rational frame rate for `fps`: exact for whole rates, NTSC's `N*1000/1001` for rates
/// within a millionth of one (29.97 and 30000/1001 both give 30000/1001, as cameras and
/// editors write it; 29.97 is 30 / 1.001 to 1e-6), 1/1000 precision otherwise.
fn frame_rate(fps: f64) -> ff::Rational {
    let ntsc = fps * 1.001;
    if fps.fract() == 0.0 {
        ff::Rational::new(fps as i32, 1)
    } else if ntsc.round() >= 1.0 && (ntsc - ntsc.round()).abs() < 2e-6 * ntsc.round() {
        ff::Rational::new(ntsc.round() as i32 * 1000, 1001)
    } else {
        ff::Rational::new((fps * 1000.0).round() as i32, 1000)
    }
}

#[cfg(test)]
mod zone_tests {
    use super::*;

    #[test]
    fn kept_frames_become_x264_zones() {
        assert_eq!(kept_zones(&[]), None);
        assert_eq!(kept_zones(&[Range { start: 3, end: 3 }]), None);
        assert_eq!(kept_zones(&[Range { start: 0, end: 1 }]).as_deref(), Some("zones=0,0,q=8"));
        assert_eq!(kept_zones(&[0..17, 29..45]).as_deref(), Some("zones=0,16,q=8/29,44,q=8:bframes=0"));
    }

    #[test]
    fn frame_rates_are_whole_ntsc_or_thousandths() {
        let r = |fps: f64| {
            let q = frame_rate(fps);
            (q.numerator(), q.denominator())
        };
        assert_eq!(r(8.0), (8, 1));
        assert_eq!(r(29.97), (30000, 1001));
        assert_eq!(r(30000.0 / 1001.0), (30000, 1001));
        assert_eq!(r(23.976), (24000, 1001));
        assert_eq!(r(59.94), (60000, 1001));
        assert_eq!(r(12.5), (12500, 1000));
        assert_eq!(r(29.9), (29900, 1000));
    }
}
