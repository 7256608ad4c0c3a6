//! Video files through FFmpeg's libraries (ffmpeg-next): encode mp4 (H.264, yuv420p, plays in
//! browsers), mkv (FFV1, lossless RGB) and PNG sequences; decode anything FFmpeg reads; and
//! contact sheets. Outputs are written beside their destination and renamed into place only when
//! complete, so a failed or interrupted run never leaves a half-written file.

use std::path::{Path, PathBuf};

use ffmpeg_next as ff;
use ff::format::Pixel;
use ff::software::scaling::{Context as Scaler, Flags};

use crate::error::{Error, Result};
use crate::frame::RgbFrame;

fn verr(path: &Path, message: impl Into<String>) -> Error {
    Error::Video { path: path.to_path_buf(), message: message.into() }
}

fn init() -> Result<()> {
    ff::init().map_err(|e| verr(Path::new(""), format!("cannot initialise FFmpeg: {e}")))?;
    ff::util::log::set_level(ff::util::log::Level::Error);
    Ok(())
}

/// What to write, chosen from the output path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    /// `.mp4` / `.mov`: H.264, yuv420p, CRF 18, `+faststart`.
    Mp4H264,
    /// `.mkv`: FFV1 on 8-bit RGB (bgr0), bit-exact.
    MkvFfv1,
    /// A folder (path ending in `/`, or an existing folder) or a `%05d.png`-style pattern.
    PngSequence,
}

impl OutputFormat {
    pub fn from_path(path: &Path) -> Result<Self> {
        let s = path.to_string_lossy();
        if s.is_empty() {
            return Err(verr(path, "empty output path; pass -o clip.mp4 (or .mkv for lossless, or a folder/ for PNG frames)"));
        }
        if s.ends_with('/') || path.is_dir() || (s.contains('%') && s.to_ascii_lowercase().ends_with(".png")) {
            return Ok(OutputFormat::PngSequence);
        }
        match path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase()).as_deref() {
            Some("mp4" | "mov" | "m4v") => Ok(OutputFormat::Mp4H264),
            Some("mkv") => Ok(OutputFormat::MkvFfv1),
            _ => Err(verr(path, "unknown output type; use .mp4 (H.264), .mkv (lossless FFV1) or a folder/ for PNG frames")),
        }
    }
}

/// A temporary path in the destination's folder, removed on drop unless committed.
struct PendingPath {
    tmp: PathBuf,
    dest: PathBuf,
    committed: bool,
}

impl PendingPath {
    fn new(dest: &Path) -> Result<Self> {
        let parent = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !parent.is_dir() {
            return Err(verr(dest, format!("output folder {} does not exist; create it first", parent.display())));
        }
        let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "out".into());
        // Keep the extension last so FFmpeg picks the container from the temp name too.
        let tmp = parent.join(format!(".{}.kino-{}.partial.{}", name, std::process::id(), dest.extension().map(|e| e.to_string_lossy().into_owned()).unwrap_or_default()));
        Ok(PendingPath { tmp, dest: dest.to_path_buf(), committed: false })
    }

    fn commit(mut self) -> Result<()> {
        if self.dest.is_dir() && self.tmp.is_dir() {
            std::fs::remove_dir_all(&self.dest).map_err(|e| Error::io(&self.dest, e))?;
        }
        std::fs::rename(&self.tmp, &self.dest).map_err(|e| Error::io(&self.dest, e))?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for PendingPath {
    fn drop(&mut self) {
        if !self.committed {
            let _ = if self.tmp.is_dir() { std::fs::remove_dir_all(&self.tmp) } else { std::fs::remove_file(&self.tmp) };
        }
    }
}

struct FfmpegSink {
    octx: ff::format::context::Output,
    encoder: ff::encoder::Video,
    scaler: Scaler,
    rgb: ff::frame::Video,
    converted: ff::frame::Video,
    encoder_tb: ff::Rational,
    stream_tb: ff::Rational,
    audio: Option<AudioCopy>,
}

/// Where to take audio (and container metadata) from when writing a video.
#[derive(Clone, Copy, Debug)]
pub struct AudioSource<'a> {
    pub path: &'a Path,
    /// Seconds added to the source's timestamps (the length of footage put before it).
    pub offset_seconds: f64,
}

/// Audio packets copied (not re-encoded) from another file, interleaved with the video by time
/// as it is written, so nothing is buffered whole.
struct AudioCopy {
    input: ff::format::context::Input,
    /// (input stream index, output stream index, input time base)
    map: Vec<(usize, usize, ff::Rational)>,
    offset_seconds: f64,
    next: Option<ff::Packet>,
    done: bool,
}

/// A stream copied into another container must not keep the source container's codec tag
/// (an mp4 `mp4a` tag is invalid in Matroska); 0 lets the muxer pick its own, as `ffmpeg -c copy`
/// does. ffmpeg-next has no safe setter for it.
#[allow(unsafe_code)]
fn clear_codec_tag(stream: &mut ff::format::stream::StreamMut<'_>) {
    // SAFETY: `as_mut_ptr` points at the stream this `StreamMut` borrows mutably, owned by the
    // output context that outlives the borrow; `codecpar` is allocated by libavformat for every
    // stream it creates (avformat_new_stream), and `codec_tag` is a plain integer field.
    unsafe {
        let st = stream.as_mut_ptr();
        if !(*st).codecpar.is_null() {
            (*(*st).codecpar).codec_tag = 0;
        }
    }
}

impl AudioCopy {
    /// Opens the source and adds one output stream per audio stream. `None` when it has none.
    fn add_streams(octx: &mut ff::format::context::Output, src: AudioSource<'_>) -> std::result::Result<Option<Self>, String> {
        let input = ff::format::input(src.path).map_err(|e| format!("cannot read {} for its audio: {e}", src.path.display()))?;
        octx.set_metadata(input.metadata().to_owned());
        let mut map = Vec::new();
        for ist in input.streams().filter(|s| s.parameters().medium() == ff::media::Type::Audio) {
            let mut ost = octx.add_stream(ff::encoder::find(ff::codec::Id::None)).map_err(|e| e.to_string())?;
            ost.set_parameters(ist.parameters());
            clear_codec_tag(&mut ost);
            ost.set_time_base(ist.time_base());
            map.push((ist.index(), ost.index(), ist.time_base()));
        }
        if map.is_empty() {
            return Ok(None);
        }
        Ok(Some(AudioCopy { input, map, offset_seconds: src.offset_seconds, next: None, done: false }))
    }

    /// Writes every audio packet that starts before `until` seconds (all of them for infinity).
    fn write_until(&mut self, octx: &mut ff::format::context::Output, until: f64) -> std::result::Result<(), String> {
        loop {
            if self.next.is_none() && !self.done {
                let mut p = ff::Packet::empty();
                match p.read(&mut self.input) {
                    Ok(()) => {
                        if self.map.iter().any(|m| m.0 == p.stream()) {
                            self.next = Some(p);
                        }
                        continue;
                    }
                    Err(ff::Error::Eof) => self.done = true,
                    // A damaged tail of the source's audio ends the copy, not the video.
                    Err(_) => self.done = true,
                }
            }
            let Some(mut p) = self.next.take() else { return Ok(()) };
            let &(_, out, in_tb) = self.map.iter().find(|m| m.0 == p.stream()).expect("mapped stream");
            let t = p.pts().or(p.dts()).unwrap_or(0) as f64 * f64::from(in_tb) + self.offset_seconds;
            if t > until {
                self.next = Some(p);
                return Ok(());
            }
            let out_tb = octx.stream(out).map(|s| s.time_base()).unwrap_or(in_tb);
            p.rescale_ts(in_tb, out_tb);
            let shift = (self.offset_seconds / f64::from(out_tb)).round() as i64;
            p.set_pts(p.pts().map(|x| x + shift));
            p.set_dts(p.dts().map(|x| x + shift));
            p.set_position(-1);
            p.set_stream(out);
            p.write_interleaved(octx).map_err(|e| format!("copying audio: {e}"))?;
        }
    }
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
        let format = OutputFormat::from_path(path)?;
        if width == 0 || height == 0 {
            return Err(verr(path, "frame size must be positive"));
        }
        if !(fps.is_finite() && fps > 0.0 && fps <= 1000.0) {
            return Err(verr(path, format!("frame rate {fps} must be between 0 and 1000")));
        }
        match format {
            OutputFormat::PngSequence => {
                let s = path.to_string_lossy();
                let (dir, pattern) = if s.contains('%') {
                    let p = Path::new(&*s);
                    (p.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from(".")), p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default())
                } else {
                    (path.to_path_buf(), "%05d.png".to_string())
                };
                let pending = PendingPath::new(&dir)?;
                std::fs::create_dir_all(&pending.tmp).map_err(|e| Error::io(&pending.tmp, e))?;
                Ok(VideoEncoder { sink: Sink::Png { dir: pending.tmp.clone(), pattern }, pending, width, height, frames: 0, dest: path.to_path_buf() })
            }
            OutputFormat::Mp4H264 | OutputFormat::MkvFfv1 => {
                init()?;
                if format == OutputFormat::Mp4H264 && (width % 2 != 0 || height % 2 != 0) {
                    return Err(verr(path, format!("H.264 in yuv420p needs even width and height, got {width}x{height}; use .mkv for odd sizes")));
                }
                let pending = PendingPath::new(path)?;
                let sink = open_ffmpeg(&pending.tmp, format, width, height, fps, audio).map_err(|e| verr(path, e))?;
                Ok(VideoEncoder { sink: Sink::Ffmpeg(Box::new(sink)), pending, width, height, frames: 0, dest: path.to_path_buf() })
            }
        }
    }

    pub fn push(&mut self, frame: &RgbFrame) -> Result<()> {
        if frame.width != self.width || frame.height != self.height || frame.data.len() != (frame.width * frame.height * 3) as usize {
            return Err(verr(&self.dest, format!("frame is {}x{}, the video is {}x{}", frame.width, frame.height, self.width, self.height)));
        }
        match &mut self.sink {
            Sink::Png { dir, pattern } => {
                let name = format_pattern(pattern, self.frames as usize);
                let img = image::RgbImage::from_raw(frame.width, frame.height, frame.data.clone()).ok_or_else(|| verr(&self.dest, "bad frame buffer"))?;
                img.save(dir.join(&name)).map_err(|e| verr(&self.dest, e.to_string()))?;
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
            Sink::Ffmpeg(s) => s.audio.as_ref().map_or(0, |a| a.map.len()),
            Sink::Png { .. } => 0,
        }
    }

    /// Flushes the encoder and moves the file into place. Returns the frame count.
    pub fn finish(mut self) -> Result<usize> {
        if self.frames == 0 {
            return Err(verr(&self.dest, "no frames were written"));
        }
        if let Sink::Ffmpeg(s) = &mut self.sink {
            s.encoder.send_eof().map_err(|e| verr(&self.dest, e.to_string()))?;
            drain(s).map_err(|e| verr(&self.dest, e))?;
            if let Some(a) = &mut s.audio {
                a.write_until(&mut s.octx, f64::INFINITY).map_err(|e| verr(&self.dest, e))?;
            }
            s.octx.write_trailer().map_err(|e| verr(&self.dest, e.to_string()))?;
        }
        let frames = self.frames as usize;
        let VideoEncoder { sink, pending, .. } = self;
        drop(sink); // close the file before renaming it
        pending.commit()?;
        Ok(frames)
    }
}

fn format_pattern(pattern: &str, index: usize) -> String {
    // Supports the `%d` / `%0Nd` forms image-sequence tools use.
    if let Some(start) = pattern.find('%') {
        if let Some(end_rel) = pattern[start..].find('d') {
            let spec = &pattern[start + 1..start + end_rel];
            let width: usize = spec.trim_start_matches('0').parse().unwrap_or(0);
            return format!("{}{:0width$}{}", &pattern[..start], index, &pattern[start + end_rel + 1..], width = width);
        }
    }
    format!("{pattern}{index:05}.png")
}

fn open_ffmpeg(tmp: &Path, format: OutputFormat, width: u32, height: u32, fps: f64, audio: Option<AudioSource<'_>>) -> std::result::Result<FfmpegSink, String> {
    let mut octx = ff::format::output(tmp).map_err(|e| format!("cannot create: {e}"))?;
    let (codec_id, pix) = match format {
        OutputFormat::Mp4H264 => (ff::codec::Id::H264, Pixel::YUV420P),
        _ => (ff::codec::Id::FFV1, Pixel::BGRZ),
    };
    let codec = ff::encoder::find(codec_id).ok_or_else(|| format!("this FFmpeg has no {codec_id:?} encoder (install libavcodec with libx264)"))?;
    let global_header = octx.format().flags().contains(ff::format::Flags::GLOBAL_HEADER);
    let mut stream = octx.add_stream(codec).map_err(|e| e.to_string())?;
    let mut enc = ff::codec::context::Context::new_with_codec(codec).encoder().video().map_err(|e| e.to_string())?;
    // Rational frame rate: exact for integer fps, 1/1000 precision otherwise.
    let rate = if fps.fract() == 0.0 { ff::Rational::new(fps as i32, 1) } else { ff::Rational::new((fps * 1000.0).round() as i32, 1000) };
    let tb = rate.invert();
    enc.set_width(width);
    enc.set_height(height);
    enc.set_format(pix);
    enc.set_time_base(tb);
    enc.set_frame_rate(Some(rate));
    if global_header {
        enc.set_flags(ff::codec::Flags::GLOBAL_HEADER);
    }
    let mut opts = ff::Dictionary::new();
    if format == OutputFormat::Mp4H264 {
        opts.set("crf", "18");
        opts.set("preset", "medium");
    } else {
        // FFV1 version 3: the standardised, non-experimental bitstream (needed with global headers).
        opts.set("level", "3");
    }
    let encoder = enc.open_with(opts).map_err(|e| format!("cannot open the encoder: {e}"))?;
    stream.set_parameters(&encoder);
    stream.set_time_base(tb);
    stream.set_avg_frame_rate(rate);
    let audio = match audio {
        Some(src) => AudioCopy::add_streams(&mut octx, src)?,
        None => None,
    };
    let mut header = ff::Dictionary::new();
    if format == OutputFormat::Mp4H264 {
        header.set("movflags", "+faststart");
    }
    octx.write_header_with(header).map_err(|e| match &audio {
        Some(_) => format!("cannot write the header with the input's audio ({e}); its audio codec may not fit this container: use .mkv"),
        None => format!("cannot write the header: {e}"),
    })?;
    let stream_tb = octx.stream(0).map(|s| s.time_base()).unwrap_or(tb);
    let scaler = Scaler::get(Pixel::RGB24, width, height, pix, width, height, Flags::POINT).map_err(|e| e.to_string())?;
    Ok(FfmpegSink {
        octx,
        encoder,
        scaler,
        rgb: ff::frame::Video::new(Pixel::RGB24, width, height),
        converted: ff::frame::Video::new(pix, width, height),
        encoder_tb: tb,
        stream_tb,
        audio,
    })
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
    handle: Option<std::thread::JoinHandle<Result<usize>>>,
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
}

impl EncoderThread {
    /// `queue` frames may wait to be encoded before `push` blocks (memory stays bounded).
    pub fn spawn(path: &Path, width: u32, height: u32, fps: f64, audio: Option<OwnedAudioSource>, queue: usize) -> Result<Self> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<RgbFrame>(queue.max(1));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<usize>>();
        let dest = path.to_path_buf();
        let thread_path = dest.clone();
        let complete = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let done = complete.clone();
        let handle = std::thread::Builder::new()
            .name("kino-encoder".into())
            .spawn(move || -> Result<usize> {
                let src = audio.as_ref().map(|a| AudioSource { path: &a.path, offset_seconds: a.offset_seconds });
                let mut encoder = match VideoEncoder::create_with_audio(&thread_path, width, height, fps, src) {
                    Ok(e) => e,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return Ok(0);
                    }
                };
                let _ = ready_tx.send(Ok(encoder.audio_streams()));
                for frame in rx {
                    encoder.push(&frame)?;
                }
                if done.load(std::sync::atomic::Ordering::SeqCst) {
                    encoder.finish()
                } else {
                    // Abandoned: dropping the encoder removes the partial file.
                    Ok(0)
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
    pub fn finish(mut self) -> Result<usize> {
        self.complete.store(true, std::sync::atomic::Ordering::SeqCst);
        self.tx = None;
        match self.handle.take().map(|h| h.join()) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(verr(&self.dest, "the encoder thread panicked")),
            None => Err(verr(&self.dest, "the encoder thread stopped")),
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

/// Saves a PNG atomically.
pub fn save_png(img: &image::RgbImage, path: &Path) -> Result<()> {
    let pending = PendingPath::new(path)?;
    img.save_with_format(&pending.tmp, image::ImageFormat::Png).map_err(|e| verr(path, e.to_string()))?;
    pending.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

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
