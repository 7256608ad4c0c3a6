//! Reading video files (and stills) frame by frame as RGB, through FFmpeg's decoders.
//!
//! Users' files may be truncated, corrupt, huge or not files at all, and FFmpeg aborts the
//! process on some states it does not expect (a scaler for an unknown pixel format) and
//! allocates whatever a header claims. So every input is checked before FFmpeg sees it (what
//! the path is, the size a still's header declares), decoders are opened with a pixel cap, and
//! the scaler is made from each decoded frame's real format and size.

use std::io::Read;
use std::path::Path;

use ff::format::Pixel;
use ff::software::scaling::{Context as Scaler, Flags};
use ffmpeg_next as ff;

use super::colour::{is_yuv, set_scaler_colour, Colour};
use super::ffpath::FfmpegPath;
use super::{init, verr};
use crate::error::{Error, Result};
use crate::frame::{PixelAspect, RgbFrame};
use crate::limits::{check_frame_size, declared_image_size, MAX_DECODED_BYTES, MAX_INPUT_PIXELS};

/// Bytes read from an input's start to find a still's declared size (a JPEG's size may follow
/// large metadata segments).
const HEAD_BYTES: u64 = 1 << 20;

/// The longest a single frame of a clip is held by its timestamps (see `VideoReader::next_frame`):
/// a pause in a recording is kept whole up to this; a longer one is taken for broken timestamps
/// (it would turn into hours of copies) and refused, never shortened (which would put the sound
/// out of sync).
const MAX_GAP_SECONDS: f64 = 3600.0;

/// The highest base rate a clip recorded at a variable rate is read at (kino reads clips of 1 to
/// 240 fps); a stream's base rate above it is a timestamp unit (Matroska's 1000), not a rate.
const MAX_BASE_RATE: f64 = 240.0;

/// A base rate up to this is taken as a variable-rate clip's recording rate whatever its average
/// (a long pause drags the average far below it); above it, only within 1.5x the average.
const BASE_RATE_ALWAYS_FITS: f64 = 60.0;

/// A step back in a clip's timestamps longer than this (or than 16 frame times, where that is
/// longer: packets stored out of order are never that far apart) is its clock starting again:
/// clips joined end to end (`cat a.ts b.ts`, a camcorder's segments). See [`Restarts`].
const RESTART_SECONDS: f64 = 1.0;

/// Frames whose timestamps decide the rate a variable-rate clip is read at (its first ones).
const RATE_SCAN_FRAMES: usize = 1000;

/// Times a demuxer may ask to be read again (EAGAIN) in a row before the file counts as
/// unreadable; a local file should never need it, and retrying forever would hang.
const MAX_RETRIES: usize = 32;

/// A decoded video: its frames as RGB, and its rate.
pub struct DecodedVideo {
    pub frames: Vec<RgbFrame>,
    pub fps: f64,
    pub width: u32,
    pub height: u32,
}

/// Reads a video file (or a single image) frame by frame as RGB, so a clip of any length is
/// never held in memory whole. Opening decodes the first frame: a file with none is an error
/// there, and `width` and `height` are the frames' real size.
pub struct VideoReader {
    path: std::path::PathBuf,
    ictx: ff::format::context::Input,
    /// Keeps the path FFmpeg opened valid (dropped after `ictx`).
    _at: FfmpegPath,
    decoder: ff::decoder::Video,
    /// Made from the first frame, and again if a later frame's pixel format differs.
    scaler: Option<Scaler>,
    stream: usize,
    /// Decoded frames not yet read, with their times in seconds.
    pending: std::collections::VecDeque<(f64, RgbFrame)>,
    /// The stream's time base, in seconds.
    time_base: f64,
    /// The time of the last decoded frame (a frame without one, or out of order, follows it by
    /// a frame's duration).
    last_time: Option<f64>,
    /// Where the file says it ends (its start plus its declared duration, seconds), and where
    /// the packets read so far end: a file that stops well short of it was cut (a partial
    /// download or copy), which the demuxer reads as a clean end.
    /// Where the file's timeline starts and where it says it ends (seconds), for the check.
    declared_end: Option<(f64, f64)>,
    read_until: f64,
    /// Where the clip's clock started again, the times after it made to follow on.
    restarts: Restarts,
    /// Constant-rate reading: where frames go (from the first frame's time), the frame still to
    /// be shown `repeat` more times, and how many copies were added and frames left out to keep
    /// the rate.
    timeline: Option<Timeline>,
    shown: Option<RgbFrame>,
    repeat: u64,
    retimed: (u64, u64),
    /// Off: every stored frame once, in order, whatever its timestamps ([`decode_video`]).
    by_timestamps: bool,
    eof: bool,
    decoded: usize,
    /// The rate its frames are read at: its average, or for a clip recorded at a variable rate
    /// the base rate it was timed on (see `next_frame`); FFmpeg's default (25) for a still image.
    pub fps: f64,
    /// Its average rate (frames over duration; else the stream's base rate): each stored frame
    /// once at this rate lasts as long as the clip ([`decode_video`]).
    average_fps: f64,
    /// Read by an image demuxer (a PNG, JPEG, ... file), not a video: it has no frame rate of
    /// its own. (A file of several concatenated images counts too.)
    pub is_still: bool,
    /// How the stream asks to be shown (a phone's portrait video is stored sideways with a
    /// display matrix, its photo with an EXIF orientation); frames come out as they are shown.
    /// A stream's own matrix decides; without one, the first frame's (a JPEG's EXIF).
    pub orientation: Orientation,
    stream_oriented: bool,
    /// The shape of the frames' pixels as shown (anamorphic footage stores them wider or
    /// narrower than square), from the first frame.
    pub pixel_aspect: PixelAspect,
    stream_pixels: bool,
    /// The colours its samples stand for (from the first frame): outputs that keep its frames
    /// are written with the same description.
    pub colour: Colour,
    /// Bits per sample of the stored frames (8 for most video, 10 for HDR and some cameras'
    /// footage, 16 for some PNGs), from the first frame. Frames come out 8-bit whatever it is.
    pub bits: u8,
    /// Whether the first frame is interlaced (two fields woven into one frame): it is read as a
    /// progressive frame, fields and all.
    pub interlaced: bool,
    /// Whether a frame read so far is transparent anywhere (an alpha channel below opaque, not
    /// just a format that could hold one): it is laid over black.
    pub transparent: bool,
    /// The decoder's frame size, as stored.
    coded: (u32, u32),
    /// The frames' size as shown (after the orientation).
    pub width: u32,
    pub height: u32,
}

/// How a picture is stored relative to how it is shown: the eight orientations of EXIF (a
/// phone's photo is stored sideways with an EXIF orientation, its portrait video with a display
/// matrix). A mirrored orientation flips left and right first, then turns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Orientation {
    #[default]
    Upright,
    Mirrored,
    Half,
    /// Upside down and mirrored: flipped top to bottom.
    HalfMirrored,
    /// Mirrored, then a quarter turn counter-clockwise: flipped over the main diagonal.
    Transposed,
    Clockwise,
    /// Mirrored, then a quarter turn clockwise: flipped over the other diagonal.
    Transversed,
    CounterClockwise,
}

impl Orientation {
    /// The orientation a display matrix asks for (nine 16.16 / 2.30 fixed-point numbers, row
    /// by row, as FFmpeg exports a stream's display matrix and a JPEG's EXIF orientation). Only
    /// quarter turns, with or without a flip, are applied; another angle is read upright.
    pub fn from_display_matrix(m: &[i32; 9]) -> Orientation {
        // Each of the 2x2 part's entries as -1, 0 or 1 (a scaled matrix keeps its signs).
        let scale = [m[0], m[1], m[3], m[4]].iter().map(|v| i64::from(*v).abs()).max().unwrap_or(0);
        let sign = |v: i32| match i64::from(v) {
            v if 2 * v.abs() < scale => 0,
            v => v.signum(),
        };
        match (sign(m[0]), sign(m[1]), sign(m[3]), sign(m[4])) {
            (-1, 0, 0, 1) => Orientation::Mirrored,
            (-1, 0, 0, -1) => Orientation::Half,
            (1, 0, 0, -1) => Orientation::HalfMirrored,
            (0, 1, 1, 0) => Orientation::Transposed,
            (0, 1, -1, 0) => Orientation::Clockwise,
            (0, -1, -1, 0) => Orientation::Transversed,
            (0, -1, 1, 0) => Orientation::CounterClockwise,
            _ => Orientation::Upright,
        }
    }

    /// An EXIF Orientation value (1 to 8, in this enum's order), `None` for any other.
    pub fn from_exif(value: u16) -> Option<Orientation> {
        use Orientation::*;
        [Upright, Mirrored, Half, HalfMirrored, Transposed, Clockwise, Transversed, CounterClockwise]
            .get(usize::from(value).checked_sub(1)?)
            .copied()
    }

    /// Whether it swaps width and height.
    pub fn is_sideways(self) -> bool {
        matches!(self, Orientation::Transposed | Orientation::Clockwise | Orientation::Transversed | Orientation::CounterClockwise)
    }

    /// `f` as it is shown.
    pub fn apply(self, f: RgbFrame) -> RgbFrame {
        use Orientation::*;
        if self == Upright {
            return f;
        }
        let (w, h) = (f.width as usize, f.height as usize);
        let (nw, nh) = if self.is_sideways() { (h, w) } else { (w, h) };
        let mut data = Vec::with_capacity(f.data.len());
        for y in 0..nh {
            for x in 0..nw {
                // The stored pixel shown at (x, y).
                let (sx, sy) = match self {
                    Upright => (x, y),
                    Mirrored => (w - 1 - x, y),
                    Half => (w - 1 - x, h - 1 - y),
                    HalfMirrored => (x, h - 1 - y),
                    Transposed => (y, x),
                    Clockwise => (y, h - 1 - x),
                    Transversed => (w - 1 - y, h - 1 - x),
                    CounterClockwise => (w - 1 - y, x),
                };
                let i = 3 * (sy * w + sx);
                data.extend_from_slice(&f.data[i..i + 3]);
            }
        }
        RgbFrame { width: nw as u32, height: nh as u32, data }
    }
}

/// A display matrix side data's numbers (nine native-endian 32-bit integers).
fn display_matrix(data: &[u8]) -> Option<[i32; 9]> {
    let mut m = [0i32; 9];
    for (k, b) in data.get(..36)?.chunks_exact(4).enumerate() {
        m[k] = i32::from_ne_bytes([b[0], b[1], b[2], b[3]]);
    }
    Some(m)
}

/// The orientation `stream`'s display matrix asks for, if it has one.
fn stream_orientation(stream: &ff::format::stream::Stream<'_>) -> Option<Orientation> {
    stream
        .side_data()
        .find(|sd| sd.kind() == ff::codec::packet::side_data::Type::DisplayMatrix)
        .and_then(|sd| display_matrix(sd.data()))
        .map(|m| Orientation::from_display_matrix(&m))
}

/// The pixel shape a container declares for `stream` (Matroska's display size, MP4's `pasp`),
/// if it does: it decides over the codec's, as players read it. ffmpeg-next has no safe
/// getter for the field.
#[allow(unsafe_code)]
fn stream_pixel_aspect(stream: &ff::format::stream::Stream<'_>, path: &Path) -> Option<PixelAspect> {
    // SAFETY: `as_ptr` points at a stream of the input context `stream` borrows, alive for the
    // borrow; `sample_aspect_ratio` is a plain struct field.
    let sar = unsafe { (*stream.as_ptr()).sample_aspect_ratio };
    pixel_aspect(sar.num, sar.den, path)
}

/// Bits per sample of a pixel format (its first component's depth; 8 when unknown).
/// ffmpeg-next has no safe getter for the depth.
#[allow(unsafe_code)]
fn sample_bits(format: Pixel) -> u8 {
    match format.descriptor() {
        // SAFETY: a descriptor points into FFmpeg's static table of pixel formats, valid for the
        // life of the process; `comp` holds up to four components and every format has one.
        Some(d) => unsafe { (*d.as_ptr()).comp[0].depth }.clamp(1, 32) as u8,
        None => 8,
    }
}

/// A declared sample aspect ratio as a pixel shape (`None` when unknown); one beyond what
/// players show (1:100 to 100:1) is read as square, with a warning.
fn pixel_aspect(num: i32, den: i32, path: &Path) -> Option<PixelAspect> {
    if num <= 0 || den <= 0 {
        return None;
    }
    let shape = PixelAspect::new(num as u32, den as u32);
    if shape.is_square() && num != den {
        log::warn!("{}: pixel aspect {num}:{den} is beyond 1:100 to 100:1; read as square", path.display());
    }
    Some(shape)
}

/// The orientation a decoded frame's display matrix asks for: FFmpeg's JPEG decoder exports a
/// photo's EXIF orientation this way.
fn frame_orientation(frame: &ff::frame::Video) -> Option<Orientation> {
    frame
        .side_data(ff::frame::side_data::Type::DisplayMatrix)
        .and_then(|sd| display_matrix(sd.data()))
        .map(|m| Orientation::from_display_matrix(&m))
}

impl VideoReader {
    /// How its frames are shown (known once the first frame is decoded, which `open` does).
    pub fn presentation(&self) -> super::Presentation {
        super::Presentation { pixel_aspect: self.pixel_aspect, colour: self.colour }
    }

    pub fn open(path: &Path) -> Result<Self> {
        init()?;
        check_input(path)?;
        let (ictx, at) = open_input(path)?;
        let stream = ictx
            .streams()
            .best(ff::media::Type::Video)
            .ok_or_else(|| verr(path, "has no video stream; kino reads video and image files"))?;
        let index = stream.index();
        let demuxer = ictx.format().name().to_string();
        let is_still = demuxer == "image2" || demuxer.ends_with("_pipe");
        let stream_oriented = stream_orientation(&stream);
        let stream_pixels = stream_pixel_aspect(&stream, path);
        let time_base = f64::from(stream.time_base());
        let (avg, base) = (as_fps(stream.avg_frame_rate()), as_fps(stream.rate()));
        let declared_fps = avg.or(base).unwrap_or(0.0);
        let fps = reading_rate(avg, base, time_base, || {
            // The first frames' timestamps, read by a second demuxer (this one stays at the start).
            let scanned = open_input(path).map(|(mut scan, _at)| packet_times(&mut scan, index, time_base, RATE_SCAN_FRAMES, declared_fps));
            presentation_times(&scanned.unwrap_or_default())
        });
        let context = || {
            ff::codec::context::Context::from_parameters(stream.parameters()).map_err(|e| verr(path, format!("cannot be decoded ({e})")))
        };
        // The size the stream declares (0 when unknown), checked before a decoder exists.
        // ffmpeg-next reads a codec context's size only through its encoder view, which opens
        // nothing.
        let declared = context()?.encoder().video().map_err(|e| verr(path, format!("cannot be decoded ({e})")))?;
        check_frame_size(declared.width(), declared.height()).map_err(|m| verr(path, m))?;
        let ctx = context()?;
        // VP8 and VP9 carry transparency beside the picture (WebM's `alpha_mode`), which only
        // libvpx's decoders read: FFmpeg's own would drop it and show the hidden colours.
        let alpha_mode = stream.metadata().iter().any(|(k, v)| k.eq_ignore_ascii_case("alpha_mode") && v == "1");
        let libvpx = match ctx.id() {
            ff::codec::Id::VP9 if alpha_mode => ff::decoder::find_by_name("libvpx-vp9"),
            ff::codec::Id::VP8 if alpha_mode => ff::decoder::find_by_name("libvpx"),
            _ => None,
        };
        if alpha_mode && libvpx.is_none() {
            log::warn!("{}: its transparency is not read (this FFmpeg has no libvpx decoder); its hidden colours show", path.display());
        }
        let codec = libvpx
            .or_else(|| ff::decoder::find(ctx.id()))
            .ok_or_else(|| verr(path, format!("cannot be decoded: FFmpeg has no decoder for its {:?} video", ctx.id())))?;
        // FFmpeg refuses a larger frame before allocating it.
        let mut options = ff::Dictionary::new();
        options.set("max_pixels", &MAX_INPUT_PIXELS.to_string());
        let decoder = ctx
            .decoder()
            .open_as_with(codec, options)
            .and_then(|d| d.video())
            .map_err(|e| verr(path, format!("cannot be decoded: unsupported video ({e})")))?;
        let mut reader = VideoReader {
            path: path.to_path_buf(),
            ictx,
            _at: at,
            decoder,
            scaler: None,
            stream: index,
            pending: Default::default(),
            time_base,
            last_time: None,
            declared_end: None,
            read_until: f64::NEG_INFINITY,
            restarts: Restarts::at(declared_fps),
            timeline: None,
            shown: None,
            repeat: 0,
            by_timestamps: true,
            retimed: (0, 0),
            eof: false,
            decoded: 0,
            fps,
            average_fps: avg.or(base).unwrap_or(0.0),
            is_still,
            orientation: stream_oriented.unwrap_or_default(),
            stream_oriented: stream_oriented.is_some(),
            pixel_aspect: stream_pixels.unwrap_or_default(),
            stream_pixels: stream_pixels.is_some(),
            colour: Colour::default(),
            bits: 8,
            interlaced: false,
            transparent: false,
            coded: (0, 0),
            width: 0,
            height: 0,
        };
        // Containers that write their duration in their header (not an estimate from the bit
        // rate, as raw streams and MPEG-TS may give).
        let name = reader.ictx.format().name().to_owned();
        if name.contains("matroska") || name.contains("mp4") {
            reader.declared_end = declared_end(&reader.ictx).map(|end| (declared_start(&reader.ictx), end));
        }
        reader.fill()?;
        if reader.pending.is_empty() {
            return Err(verr(path, "contains no decodable video frames (corrupt, truncated or empty)"));
        }
        Ok(reader)
    }

    /// The next frame at the clip's constant rate `fps`, `None` at the end. Frames are read by
    /// their timestamps, as players show them: each goes in the slot of the output frame nearest
    /// its time from the first frame's (round((t - t0) * fps)) and fills the slots up to the next
    /// one's (a pause repeats it); where several land in one slot, the one nearest its time is
    /// shown and the others are left out.
    /// Placed by their time from the start, never by their durations one by one, the frames of a
    /// clip recorded at a variable rate (phones do) fill as many slots as the clip lasts, so it
    /// keeps its length and its audio sync however long it is; small jitter (timestamps rounded
    /// to milliseconds) changes nothing, so a constant-rate clip comes out frame for frame. A
    /// frame held over [`MAX_GAP_SECONDS`] is an error (broken timestamps).
    pub fn next_frame(&mut self) -> Result<Option<RgbFrame>> {
        if !self.by_timestamps || self.is_still || !(self.fps.is_finite() && self.fps > 0.0) {
            let next = self.next_decoded()?.map(|(_, f)| f);
            if next.is_none() {
                self.say_if_cut_short();
            }
            return Ok(next);
        }
        if self.repeat > 0 {
            self.repeat -= 1;
            return Ok(self.shown.clone());
        }
        let Some((mut t, mut frame)) = self.next_decoded()? else {
            self.say_if_cut_short();
            if self.restarts.count > 0 {
                log::warn!(
                    "{}: its timestamps start again {} time(s) (clips joined end to end?): each part is read after the one before, at its own pace",
                    self.path.display(),
                    self.restarts.count
                );
                self.restarts.count = 0;
            }
            if self.retimed != (0, 0) {
                log::warn!(
                    "{}: variable frame rate: read at a constant {:.3} fps ({} frame(s) repeated, {} left out), as players show it",
                    self.path.display(),
                    self.fps,
                    self.retimed.0,
                    self.retimed.1
                );
                self.retimed = (0, 0);
            }
            return Ok(None);
        };
        // Every frame read is in its own slot: the frame before it filled the slots up to it.
        let timeline = *self.timeline.get_or_insert(Timeline { fps: self.fps, start: t });
        let (slot, mut off) = timeline.place(t);
        // Of the frames after it that land in its slot, the one nearest the slot's time is shown
        // (never the first frame: it is on time), the others are left out; the next one's slot
        // says how many slots it fills.
        let slots = loop {
            let Some(next) = self.peek_time()? else { break 1 };
            let (next_slot, next_off) = timeline.place(next);
            if next_slot > slot {
                break timeline.held(slot, next_slot).map_err(|held| verr(&self.path, held_message(t - timeline.start, held)))?;
            }
            if let Some((next_t, next_frame)) = self.pending.pop_front() {
                if next_off < off {
                    (t, frame, off) = (next_t, next_frame, next_off);
                }
            }
            self.retimed.1 += 1;
        };
        self.retimed.0 += slots - 1;
        self.repeat = slots - 1;
        self.shown = (slots > 1).then(|| frame.clone());
        Ok(Some(frame))
    }

    /// Where a packet of any stream ends, for [`Self::say_if_cut_short`].
    fn note_read(&mut self, packet: &ff::Packet) {
        let Some(tb) = self.ictx.stream(packet.stream()).map(|s| f64::from(s.time_base())) else { return };
        if let Some(t) = packet.pts().or(packet.dts()) {
            self.read_until = self.read_until.max((t + packet.duration().max(0)) as f64 * tb);
        }
    }

    /// At the end: a file whose packets (of every stream) stop well before the end it declares
    /// was cut short; its frames are all there is, and the user is told (once).
    fn say_if_cut_short(&mut self) {
        let Some((start, end)) = self.declared_end.take() else { return };
        // In the clip's own time (a clip whose timestamps start at 100 s is 3 s long, not 103).
        let (read, length) = (self.read_until - start, end - start);
        let missing = length - read;
        if read.is_finite() && missing > 1.0 && missing > 0.05 * length {
            log::warn!(
                "{}: its data ends at {:.1} s of the {:.1} s it declares: the file is cut short (a partial download or copy?); kino reads the {} frame(s) there",
                self.path.display(),
                read,
                length,
                self.decoded
            );
        }
    }

    /// Decodes until a frame is pending or the stream has ended.
    fn fill(&mut self) -> Result<()> {
        while self.pending.is_empty() && !self.eof {
            self.feed()?;
        }
        Ok(())
    }

    /// The next decoded frame and its time, in decoding order.
    fn next_decoded(&mut self) -> Result<Option<(f64, RgbFrame)>> {
        self.fill()?;
        Ok(self.pending.pop_front())
    }

    /// The time of the next decoded frame, `None` at the end.
    fn peek_time(&mut self) -> Result<Option<f64>> {
        self.fill()?;
        Ok(self.pending.front().map(|(t, _)| *t))
    }

    /// Sends the decoder the stream's next packet (or the end of the stream) and takes back
    /// whatever frames it completes.
    fn feed(&mut self) -> Result<()> {
        let mut retries = 0;
        loop {
            let mut packet = ff::Packet::empty();
            match packet.read(&mut self.ictx) {
                Ok(()) if packet.stream() == self.stream => {
                    self.note_read(&packet);
                    self.decoder.send_packet(&packet).map_err(|e| self.corrupt(e))?;
                    break;
                }
                Ok(()) => {
                    self.note_read(&packet);
                    retries = 0
                }
                Err(ff::Error::Eof) => {
                    self.decoder.send_eof().map_err(|e| self.corrupt(e))?;
                    self.eof = true;
                    break;
                }
                Err(ff::Error::Other { errno: ff::util::error::EAGAIN }) if retries < MAX_RETRIES => retries += 1,
                // A damaged or missing packet (a truncated file): the clip is not whole, and
                // going on would drop frames from the middle of the user's footage silently.
                Err(e) => return Err(self.corrupt(e)),
            }
        }
        self.receive()
    }

    fn receive(&mut self) -> Result<()> {
        loop {
            let mut decoded = ff::frame::Video::empty();
            match self.decoder.receive_frame(&mut decoded) {
                Ok(()) => {
                    let frame = self.convert(&decoded)?;
                    self.decoded += 1;
                    let step = if self.fps > 0.0 { 1.0 / self.fps } else { 0.0 };
                    let stamped =
                        decoded.timestamp().or(decoded.pts()).map(|t| self.restarts.follow_on(t as f64 * self.time_base, decoded.is_key()));
                    let time = match (stamped, self.last_time) {
                        (Some(t), Some(last)) if t > last => t,
                        (Some(t), None) => t,
                        (_, Some(last)) => last + step,
                        (None, None) => 0.0,
                    };
                    self.last_time = Some(time);
                    self.pending.push_back((time, frame));
                }
                Err(ff::Error::Eof) | Err(ff::Error::Other { errno: ff::util::error::EAGAIN }) => return Ok(()),
                Err(e) => return Err(self.corrupt(e)),
            }
        }
    }

    /// One decoded frame as RGB, refusing what the scaler cannot take.
    fn convert(&mut self, decoded: &ff::frame::Video) -> Result<RgbFrame> {
        let (format, w, h) = (decoded.format(), decoded.width(), decoded.height());
        if format == Pixel::None || w == 0 || h == 0 {
            return Err(verr(&self.path, "cannot be decoded: its decoder gave a frame of unknown format or size (corrupt or unsupported)"));
        }
        check_frame_size(w, h).map_err(|m| verr(&self.path, m))?;
        if self.decoded == 0 {
            self.coded = (w, h);
            if !self.stream_oriented {
                // A JPEG's EXIF comes as the frame's display matrix; a PNG's is read here.
                let png = || if self.is_still { super::exif::png_orientation(&self.path) } else { None };
                self.orientation = frame_orientation(decoded).or_else(png).unwrap_or_default();
            }
            if self.orientation != Orientation::Upright {
                log::info!("{}: shown {:?} (its display matrix or EXIF orientation)", self.path.display(), self.orientation);
            }
            (self.width, self.height) = if self.orientation.is_sideways() { (h, w) } else { (w, h) };
            self.colour = Colour::of_frame(decoded);
            self.bits = sample_bits(format);
            self.interlaced = decoded.is_interlaced();
            let sar = decoded.aspect_ratio();
            let stored = match self.stream_pixels {
                true => self.pixel_aspect,
                false => pixel_aspect(sar.numerator(), sar.denominator(), &self.path).unwrap_or_default(),
            };
            self.pixel_aspect = if self.orientation.is_sideways() { stored.turned() } else { stored };
            if !self.pixel_aspect.is_square() {
                log::info!("{}: pixels {}:{} (anamorphic)", self.path.display(), self.pixel_aspect.num, self.pixel_aspect.den);
            }
        } else if (w, h) != self.coded {
            return Err(verr(
                &self.path,
                format!("frame size changes mid-stream ({}x{} to {w}x{h}); kino reads clips of one size", self.coded.0, self.coded.1),
            ));
        }
        // A format with an alpha channel (gray + alpha, RGBA, YUVA: 2 or 4 components) is read
        // as RGBA and laid over black, as editors show a transparent still: the colours hidden
        // under transparent pixels stay hidden.
        let alpha = matches!(format.descriptor().map(|d| d.nb_components()), Some(2 | 4));
        let target = if alpha { Pixel::RGBA } else { Pixel::RGB24 };
        let scaler = match self.scaler.take() {
            Some(s) if s.input().format == format => s,
            _ => {
                // Chroma as FFmpeg reads it: repeated where the picture has whole chroma samples
                // (its direct YUV-to-RGB path), interpolated where an odd width or height
                // leaves a half one (its scaler, at its default flags).
                let half = format.descriptor().is_some_and(|d| (w % (1 << d.log2_chroma_w()) != 0) || (h % (1 << d.log2_chroma_h()) != 0));
                let flags = if half { Flags::BICUBIC | Flags::FULL_CHR_H_INT | Flags::ACCURATE_RND } else { Flags::POINT };
                let mut s = Scaler::get(format, w, h, target, w, h, flags)
                    .map_err(|e| verr(&self.path, format!("cannot convert its {format:?} frames to RGB ({e})")))?;
                // YUV is read by the clip's own matrix and range (swscale would assume BT.601).
                if is_yuv(format) {
                    set_scaler_colour(&mut s, self.colour, true);
                }
                s
            }
        };
        let scaler = self.scaler.insert(scaler);
        let mut rgb = ff::frame::Video::empty();
        scaler.run(decoded, &mut rgb).map_err(|e| verr(&self.path, format!("cannot convert its {format:?} frames to RGB ({e})")))?;
        let px = if alpha { 4 } else { 3 };
        let (stride, row) = (rgb.stride(0), w as usize * px);
        let plane = rgb.data(0);
        let mut data = Vec::with_capacity(w as usize * 3 * h as usize);
        let mut see_through = false;
        for y in 0..h as usize {
            let line = plane
                .get(y * stride..y * stride + row)
                .ok_or_else(|| verr(&self.path, "cannot convert its frames to RGB (short scaler output)"))?;
            if alpha {
                for p in line.chunks_exact(4) {
                    let a = u16::from(p[3]);
                    see_through |= a < 255;
                    data.extend(p[..3].iter().map(|&c| ((u16::from(c) * a + 127) / 255) as u8));
                }
            } else {
                data.extend_from_slice(line);
            }
        }
        if see_through && !self.transparent {
            // The first frame's is said by whoever opened the clip; a later one's here.
            if self.decoded > 0 {
                log::warn!(
                    "{}: its frames have transparency from frame {} on; kino lays them over black and writes opaque video",
                    self.path.display(),
                    self.decoded + 1
                );
            }
            self.transparent = true;
        }
        Ok(self.orientation.apply(RgbFrame::new(w, h, data)?))
    }

    fn corrupt(&self, e: ff::Error) -> Error {
        match self.decoded {
            0 => verr(&self.path, format!("is corrupt or truncated: no frame decodes ({e})")),
            n => verr(
                &self.path,
                format!(
                    "is corrupt or truncated: decoding stops after {n} frames ({e}); to work from the frames that decode, write them to a new file first, e.g. ffmpeg -i IN -frames:v {n} OUT.mkv"
                ),
            ),
        }
    }
}

/// Refuses what is not a readable regular file before FFmpeg opens it (a FIFO would block it
/// forever, a device never ends), and a still whose header declares a frame over the caps.
/// FFmpeg's demuxer on `path` (any file name: see [`FfmpegPath`]), with what keeps the path
/// valid: held as long as the demuxer, which may open it again.
fn open_input(path: &Path) -> Result<(ff::format::context::Input, FfmpegPath)> {
    let at = FfmpegPath::input(path).map_err(|e| verr(path, describe_io(&e)))?;
    let input =
        ff::format::input(at.as_path()).map_err(|e| verr(path, format!("cannot be read: not a video or image file, or corrupt ({e})")))?;
    Ok((input, at))
}

fn check_input(path: &Path) -> Result<()> {
    let meta = std::fs::metadata(path).map_err(|e| verr(path, describe_io(&e)))?;
    if meta.is_dir() {
        return Err(verr(path, "is a folder, not a video or image file"));
    }
    if !meta.is_file() {
        return Err(verr(path, "is not a regular file (a device or pipe); kino reads video and image files"));
    }
    if meta.len() == 0 {
        return Err(verr(path, "is empty (0 bytes)"));
    }
    let mut head = Vec::new();
    std::fs::File::open(path).and_then(|f| f.take(HEAD_BYTES).read_to_end(&mut head)).map_err(|e| verr(path, describe_io(&e)))?;
    // FFmpeg's WebP decoder reads stills only: an animation would fail as if corrupt.
    if head.len() > 20 && &head[..4] == b"RIFF" && &head[8..16] == b"WEBPVP8X" && head[20] & 0x02 != 0 {
        return Err(verr(path, "is an animated WebP, which FFmpeg cannot decode; convert it to a video or to PNG frames first"));
    }
    if let Some((w, h)) = declared_image_size(&head) {
        if w == 0 || h == 0 {
            return Err(verr(path, format!("cannot be decoded: its header declares a {w}x{h} image (corrupt)")));
        }
        check_frame_size(w, h).map_err(|m| verr(path, m))?;
    }
    Ok(())
}

/// An I/O error as a short lower-case phrase ("no such file", "too many levels of symbolic links").
fn describe_io(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => {
            let text = e.to_string();
            let text = text.split(" (os error").next().unwrap_or(&text);
            text.to_lowercase()
        }
    }
}

/// Where a file says it ends, in seconds on its own timeline (`None` where it declares nothing).
/// Streams that declare their length (MP4 and MOV tracks, MPEG-TS as FFmpeg measures it) end
/// at their start plus that length. Otherwise it is the file's length, which Matroska and WebM
/// count from the timeline's zero: a clip whose timestamps start at 10 s declares 12 s for its
/// 2 s of pictures. A file length shorter than the start can only count from the start.
pub(super) fn declared_end(input: &ff::format::context::Input) -> Option<f64> {
    let streams = input.streams().filter_map(|s| stream_end(&s)).fold(f64::NEG_INFINITY, f64::max);
    if streams.is_finite() {
        return Some(streams);
    }
    if input.duration() <= 0 {
        return None;
    }
    let length = input.duration() as f64 / f64::from(ff::ffi::AV_TIME_BASE);
    let start = declared_start(input);
    Some(if length > start { length } else { start + length })
}

/// Where a file's timeline starts, in seconds: its earliest stream's start (0 where none says).
pub(super) fn declared_start(input: &ff::format::context::Input) -> f64 {
    let start = input.streams().filter_map(|s| seconds(s.start_time(), s.time_base())).fold(f64::INFINITY, f64::min);
    if start.is_finite() {
        start
    } else {
        0.0
    }
}

/// Where a stream ends as it declares (its start, 0 where unsaid, plus its duration), in
/// seconds; `None` where it declares no duration.
pub(super) fn stream_end(s: &ff::format::stream::Stream<'_>) -> Option<f64> {
    if s.duration() <= 0 {
        return None;
    }
    Some(seconds(s.start_time(), s.time_base()).unwrap_or(0.0) + seconds(s.duration(), s.time_base())?)
}

/// A stream's time `t` in seconds; `None` where it is not said (no value, or no time base).
pub(super) fn seconds(t: i64, time_base: ff::Rational) -> Option<f64> {
    (t != ff::ffi::AV_NOPTS_VALUE && time_base.denominator() != 0).then(|| t as f64 * f64::from(time_base))
}

/// The packets of `path`'s video stream, counted without decoding: its frame count for the
/// usual codecs (one frame per packet). For planning only (which output frames are given
/// footage): a count that is off by a frame costs nothing but quality.
pub fn count_video_frames(path: &Path) -> Result<u64> {
    init()?;
    check_input(path)?;
    let (mut ictx, _at) = open_input(path)?;
    let stream =
        ictx.streams().best(ff::media::Type::Video).ok_or_else(|| verr(path, "has no video stream; kino reads video and image files"))?;
    let (index, time_base) = (stream.index(), f64::from(stream.time_base()));
    let (avg, base) = (as_fps(stream.avg_frame_rate()), as_fps(stream.rate()));
    let still = ictx.format().name() == "image2" || ictx.format().name().ends_with("_pipe");
    let times = packet_times(&mut ictx, index, time_base, usize::MAX, avg.or(base).unwrap_or(0.0));
    // As [`VideoReader::next_frame`] reads it: by its timestamps, at the rate it reads it at
    // (every packet once where one has none).
    let fps = reading_rate(avg, base, time_base, || presentation_times(&times[..times.len().min(RATE_SCAN_FRAMES)]));
    if still || !(fps.is_finite() && fps > 0.0) || times.iter().any(Option::is_none) {
        return Ok(times.len() as u64);
    }
    let mut sorted: Vec<f64> = times.into_iter().flatten().collect();
    sorted.sort_by(f64::total_cmp);
    // Equal times follow each other by a frame time, as decoded frames' do.
    for k in 1..sorted.len() {
        if sorted[k] <= sorted[k - 1] {
            sorted[k] = sorted[k - 1] + 1.0 / fps;
        }
    }
    let slots = slots_filled(&sorted, fps).map_err(|(k, held)| verr(path, held_message(sorted[k] - sorted[0], held)))?;
    Ok(slots.iter().sum())
}

/// A stream's rate as a number (`None` when unknown).
fn as_fps(r: ff::Rational) -> Option<f64> {
    (r.denominator() > 0 && r.numerator() > 0).then(|| f64::from(r.numerator()) / f64::from(r.denominator()))
}

/// The rate a clip is read at: its average rate (`avg`, frames over duration) where the file
/// gives one, else its base rate (`base`: Matroska of a rate its millisecond timestamps cannot
/// hold). A clip recorded at a variable rate (a phone's 30 fps clip with frames dropped, a
/// recording with a pause) is read at its base rate instead, as it was timed, where its frames'
/// timestamps (`times`, asked for only then) fit that rate's frame times better than the
/// average's: its frames come out one by one, repeated only where the recording left frames out
/// (at the average, 28.5 fps for 30 fps with 1 frame in 20 dropped, they would be repeated and
/// left out all along). A constant-rate clip keeps its average, also where its base rate is
/// twice it (interlaced video: its frames fit both).
///
/// Timestamps in a coarse unit (`tick` seconds, a millisecond or more: a GIF's centiseconds, 15
/// fps as delays of 7, 6 and 7) put the average off by the rounding (15.08 fps): such a clip is
/// read at the common rate within 2% of its average whose frame times its frames' timestamps
/// are, each to within one unit.
fn reading_rate(avg: Option<f64>, base: Option<f64>, tick: f64, times: impl FnOnce() -> Vec<f64>) -> f64 {
    // The timestamps are read only when a rule needs them, once.
    let (times, read) = (std::cell::Cell::new(Some(times)), std::cell::OnceCell::new());
    let times = || read.get_or_init(|| times.take().map(|f| f()).unwrap_or_default());
    // A whole or half average needs no check; an NTSC one may be a GIF's 24 fps (FFmpeg gives
    // its 4, 4 and 5 cs delays 24000/1001).
    if let Some(a) = avg.filter(|&a| tick >= 0.001 && (2.0 * a).fract() != 0.0) {
        if let Some(rate) = common_rate_fitting(times(), a, tick) {
            return rate;
        }
    }
    match (avg, base) {
        // A base rate far above the average is the least common multiple of several rates (a
        // clip joined from 24 and 30 fps footage: 120), not the rate it was recorded at.
        (Some(a), Some(b)) if b > a * 1.001 && b <= MAX_BASE_RATE && b <= (a * 1.5).max(BASE_RATE_ALWAYS_FITS) => {
            if misfit(times(), b) + 0.01 < misfit(times(), a) {
                b
            } else {
                a
            }
        }
        (Some(a), _) => a,
        (None, b) => b.unwrap_or(0.0),
    }
}

/// Frame rates people record and make at (numerator, denominator): whole rates to 240, halves
/// to 30 (7.5, 12.5), and the NTSC family.
static COMMON_RATES: std::sync::LazyLock<Vec<(f64, f64)>> = std::sync::LazyLock::new(|| {
    let whole = (1..=240).map(|n| (f64::from(n), 1.0));
    let halves = (1..=30).map(|n| (f64::from(2 * n - 1), 2.0));
    let ntsc = [24, 30, 48, 60, 120, 240].map(|n| (f64::from(n) * 1000.0, 1001.0));
    whole.chain(halves).chain(ntsc).collect()
});

/// The common rate within 2% of `avg` at which every one of `times` (at least three,
/// increasing, one per frame) is its frame's time to within `tick`; where several are (24 and
/// 23.976 over a short clip), the one whose frame times, rounded to `tick` as a muxer rounds
/// them, are the most of `times` exactly, the simplest of those.
fn common_rate_fitting(times: &[f64], avg: f64, tick: f64) -> Option<f64> {
    if times.len() < 3 {
        return None;
    }
    let at = |i: usize, r: f64| times[i] - times[0] - i as f64 / r;
    let per_second = (1.0 / tick).round();
    let rounded = |i: usize, r: f64| (i as f64 * per_second / r).round() / per_second;
    let exact = |r: f64| (0..times.len()).filter(|&i| (times[i] - times[0] - rounded(i, r)).abs() < tick * 0.01).count();
    COMMON_RATES
        .iter()
        .map(|&(n, d)| n / d)
        .filter(|&r| (r - avg).abs() <= 0.02 * avg && (0..times.len()).all(|i| at(i, r).abs() <= tick * 1.001))
        // The first of the best: a whole rate before a half, before an NTSC one (a GIF too short
        // to tell 24 from 23.976 is more likely 24); but an average that is itself common wins
        // a tie at millisecond timestamps (Matroska's is its track's frame duration: a 29.97 fps
        // clip of 10 frames fits 30 as well).
        .fold(None, |best: Option<(usize, f64)>, r| {
            let own = tick < 0.005 && (r - avg).abs() < 1e-9;
            match best {
                Some((n, _)) if n > exact(r) || n == exact(r) && !own => best,
                _ => Some((exact(r), r)),
            }
        })
        .map(|(_, r)| r)
}

/// How far the steps between `times` (increasing) are from whole frame times at `fps`, on
/// average, in frame times (0 for a single frame). A step under half a frame time is a frame
/// left out: it counts as far as it is from one frame time (at a rate far too low, every step
/// would otherwise round to none and fit).
fn misfit(times: &[f64], fps: f64) -> f64 {
    let steps: Vec<f64> = times.windows(2).map(|w| (w[1] - w[0]) * fps).collect();
    if steps.is_empty() {
        return 0.0;
    }
    steps.iter().map(|s| (s - s.round().max(1.0)).abs()).sum::<f64>() / steps.len() as f64
}

/// Up to `limit` of the video stream `index`'s packets' times in seconds (presentation time,
/// else decoding time; `None` for a packet with neither), in the order they are stored, leaving
/// out those an edit list never shows ([`edit_start`]), made to follow on where the clock starts
/// again ([`Restarts`]; `fps` is the rate the clip declares, 0 if none).
fn packet_times(ictx: &mut ff::format::context::Input, index: usize, time_base: f64, limit: usize, fps: f64) -> Vec<Option<f64>> {
    let mut restarts = Restarts::at(fps);
    let before_edit = edit_start(ictx, index);
    ictx.packets()
        .filter(|(s, p)| s.index() == index && !before_edit.is_some_and(|start| p.pts().is_some_and(|t| (t as f64) * time_base < start)))
        .take(limit)
        .map(|(_, p)| p.pts().or(p.dts()).map(|t| restarts.follow_on(t as f64 * time_base, p.is_key())))
        .collect()
}

/// Where an MP4/MOV clip's edit list starts it, in seconds: a clip cut without re-encoding
/// (`ffmpeg -ss 2 -c copy`) keeps the frames from the key frame before the cut, stamped before
/// the start, and the decoder shows none of them. `None` for other containers (a clip joined
/// end to end may start again below its first start: [`Restarts`]).
fn edit_start(ictx: &ff::format::context::Input, index: usize) -> Option<f64> {
    let stream = ictx.stream(index)?;
    ictx.format().name().starts_with("mov,").then(|| seconds(stream.start_time(), stream.time_base())).flatten()
}

/// A clip's timestamps made to run on where its clock starts again. A player shows clips joined
/// end to end (`cat a.ts b.ts`) one after the other, each at its own pace, though the second's
/// timestamps go back to its own start; read by time from the first frame, it would land on
/// top of the first. A key frame (each joined clip starts with one) stamped over
/// [`RESTART_SECONDS`] (and 16 frame times) before the latest time is such a restart: the times
/// after it keep their spacing and follow the latest time before it by a frame time at the rate
/// the clip declares. Other steps back (frames stored ahead of their time, more than a second
/// ahead across a pause; stamps repeated) are left as they are.
#[derive(Clone, Copy, Debug)]
struct Restarts {
    /// A frame time at the clip's declared rate (0 if it declares none), in seconds.
    step: f64,
    /// Seconds added to the stamps since the last restart.
    shift: f64,
    /// Restarts so far.
    count: u64,
    /// The latest time so far.
    latest: f64,
}

impl Restarts {
    /// For a clip declaring `fps` (its average rate, else its base rate; 0 for none).
    fn at(fps: f64) -> Self {
        let step = if fps.is_finite() && fps > 0.0 { 1.0 / fps } else { 0.0 };
        Restarts { step, shift: 0.0, count: 0, latest: f64::NEG_INFINITY }
    }

    /// The time of a frame stamped `t` seconds, the next in the stream (`key`: a key frame).
    fn follow_on(&mut self, t: f64, key: bool) -> f64 {
        let mut t = t + self.shift;
        if key && t < self.latest - RESTART_SECONDS.max(16.0 * self.step) {
            self.shift += self.latest + self.step - t;
            self.count += 1;
            t = self.latest + self.step;
        }
        self.latest = self.latest.max(t);
        t
    }
}

/// The known ones of `times`, in presentation order.
fn presentation_times(times: &[Option<f64>]) -> Vec<f64> {
    let mut sorted: Vec<f64> = times.iter().flatten().copied().filter(|t| t.is_finite()).collect();
    sorted.sort_by(f64::total_cmp);
    sorted
}

/// Where frames go when a clip is read at a constant rate: the output frame (slot) nearest
/// each frame's time from the first frame's.
#[derive(Clone, Copy, Debug)]
struct Timeline {
    fps: f64,
    /// The first frame's time, in seconds.
    start: f64,
}

impl Timeline {
    /// The slot of a frame at `t` seconds (at or after `start`), as a whole number, and how far
    /// the frame is from the slot's time, in frame times (0 to 0.5).
    fn place(&self, t: f64) -> (f64, f64) {
        let at = (t - self.start) * self.fps;
        (at.round(), (at - at.round()).abs())
    }

    /// How many slots a frame in `slot` fills when the next frame shown is in `next` (later):
    /// `Err` with the seconds it would be held when that is over [`MAX_GAP_SECONDS`].
    fn held(&self, slot: f64, next: f64) -> std::result::Result<u64, f64> {
        let slots = next - slot;
        if slots / self.fps > MAX_GAP_SECONDS {
            return Err(slots / self.fps);
        }
        Ok(slots as u64)
    }
}

/// How many output frames each of the frames at `times` (seconds, increasing) fills when read
/// at `fps`, as [`VideoReader::next_frame`] reads them: 0 for one left out (another frame is
/// nearer its slot's time), 2 or more where it is repeated; the counts add up to the clip's
/// length at `fps`.
/// `Err` with the frame and the seconds it would be held where that is over [`MAX_GAP_SECONDS`].
fn slots_filled(times: &[f64], fps: f64) -> std::result::Result<Vec<u64>, (usize, f64)> {
    let mut filled = vec![0; times.len()];
    let Some(&start) = times.first() else { return Ok(filled) };
    let timeline = Timeline { fps, start };
    // The frame shown last, its slot, and how far it is from the slot's time.
    let mut shown = (0, 0.0, 0.0);
    for (k, &t) in times.iter().enumerate().skip(1) {
        let (slot, off) = timeline.place(t);
        if slot > shown.1 {
            filled[shown.0] = timeline.held(shown.1, slot).map_err(|held| (shown.0, held))?;
            shown = (k, slot, off);
        } else if off < shown.2 {
            shown = (k, slot, off);
        }
    }
    filled[shown.0] = 1;
    Ok(filled)
}

/// `seconds` for people: `40 s`, `3601 s`, `10 hours` (exact near the one-hour limit, so a
/// pause just over it does not read as the limit itself).
fn duration(seconds: f64) -> String {
    match seconds {
        s if s < 7200.0 => format!("{s:.0} s"),
        s => format!("{:.0} hours", s / 3600.0),
    }
}

/// What is wrong with a clip whose timestamps hold the frame at `at` seconds for `held` seconds.
fn held_message(at: f64, held: f64) -> String {
    format!(
        "its timestamps hold the frame at {at:.3} s for {} (at most an hour, {MAX_GAP_SECONDS:.0} s, is kept as a pause: broken timestamps?); re-time the clip first, e.g. with ffmpeg's setpts filter",
        duration(held)
    )
}

/// Decodes every frame stored in a video file (or a single image) to RGB, in order, each once
/// whatever its timestamps (what a file holds, not what a player shows: [`VideoReader`] reads
/// by timestamps), up to [`MAX_DECODED_BYTES`]; read longer clips frame by frame with
/// [`VideoReader`].
pub fn decode_video(path: &Path) -> Result<DecodedVideo> {
    let mut reader = VideoReader::open(path)?;
    reader.by_timestamps = false;
    let mut frames = Vec::new();
    let mut bytes = 0u64;
    while let Some(f) = reader.next_frame()? {
        bytes += f.data.len() as u64;
        if bytes > MAX_DECODED_BYTES {
            return Err(verr(
                path,
                format!(
                    "is too long to hold in memory at once ({} frames of {}x{} make over {} MiB)",
                    frames.len() + 1,
                    f.width,
                    f.height,
                    MAX_DECODED_BYTES >> 20
                ),
            ));
        }
        frames.push(f);
    }
    Ok(DecodedVideo { frames, fps: reader.average_fps, width: reader.width, height: reader.height })
}

/// Decodes a still image (PNG, JPEG, ... anything ffmpeg reads): its first frame, the only one
/// decoded, so a video given as a still costs one frame.
pub fn decode_image(path: &Path) -> Result<RgbFrame> {
    let mut reader = VideoReader::open(path)?;
    reader.next_frame()?.ok_or_else(|| verr(path, "contains no decodable video frames"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file of the hostile corpus through the library: decoded to consistent frames within
    /// the caps, or one-line errors that name the file. The CLI's side is tests/hostile_inputs.rs.
    #[test]
    fn hostile_corpus_decodes_or_fails_with_one_line() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hostile");
        let mut decoded = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let (video, image) = (decode_video(&path), decode_image(&path));
            match (&video, &image) {
                (Ok(v), Ok(first)) => {
                    assert!(!v.frames.is_empty(), "{name}");
                    for f in &v.frames {
                        f.check().unwrap();
                        assert_eq!((f.width, f.height), (v.width, v.height), "{name}");
                    }
                    assert!(v.width <= crate::limits::MAX_INPUT_SIDE && v.height <= crate::limits::MAX_INPUT_SIDE);
                    assert_eq!(first, &v.frames[0], "{name}: decode_image is the first frame");
                    decoded.push(name);
                }
                // A clip cut after its first frame: a still, but not a whole video.
                (Err(_), Ok(first)) => first.check().unwrap(),
                (_, Err(e)) => {
                    let message = e.to_string();
                    assert!(message.contains(&name) && !message.contains('\n'), "{message}");
                    assert!(video.is_err(), "{name}: decode_video read what decode_image refused");
                }
            }
        }
        decoded.sort();
        let expected = [
            "anim.gif",
            "clip.mkv",
            "clip.mp4",
            "format-change.ts",
            "odd-33x17.png",
            "tiny-1x1.png",
            "truncated-4k.mkv",
            "truncated-half.mkv",
            "truncated.jpg",
        ];
        assert_eq!(decoded, expected);
        // Sizes the stills declare are the sizes that come back.
        assert_eq!(decode_image(&dir.join("odd-33x17.png")).unwrap().data.len(), 33 * 17 * 3);
        assert_eq!(decode_image(&dir.join("tiny-1x1.png")).unwrap().data.len(), 3);
        // The second half is yuv444p: read with a scaler for yuv420p it would be garbage; it is
        // the first picture again, off only by the first half's halved chroma (20.5 dB).
        let changed = decode_video(&dir.join("format-change.ts")).unwrap().frames;
        assert_eq!(changed.len(), 16);
        assert!(changed[8].psnr(&changed[0]) > 18.0, "{}", changed[8].psnr(&changed[0]));
        let bomb = decode_image(&dir.join("bomb-16000x16000.png")).unwrap_err().to_string();
        assert!(bomb.contains("16000x16000") && bomb.contains("8192x8192"), "{bomb}");
    }

    #[test]
    fn paths_that_are_not_files_say_what_they_are() {
        let dir = std::env::temp_dir().join(format!("kino-decode-paths-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let message = |p: &Path| VideoReader::open(p).err().expect("an error").to_string();
        assert!(message(&dir).contains("is a folder"));
        assert!(message(Path::new("/dev/null")).contains("not a regular file"));
        assert!(message(&dir.join("missing.png")).ends_with("no such file"));
        std::fs::write(dir.join("empty.png"), b"").unwrap();
        assert!(message(&dir.join("empty.png")).contains("is empty"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Runs ffmpeg (quiet, overwriting) in `dir` with `args`, whose last is the output's name;
    /// the output's path.
    fn ffmpeg(dir: &Path, args: &[&str]) -> std::path::PathBuf {
        let ok = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-y"])
            .args(args)
            .current_dir(dir)
            .status()
            .expect("ffmpeg is installed (scripts/setup.sh)")
            .success();
        assert!(ok, "ffmpeg {args:?}");
        dir.join(args.last().expect("an output"))
    }

    /// Frame times at 30 fps with every 20th frame dropped, as phones record: `n` frames kept.
    fn phone_times(n: usize) -> Vec<f64> {
        (0..).filter(|k| k % 20 != 19).take(n).map(|k| f64::from(k) / 30.0).collect()
    }

    /// The slots a clip fills at `fps`: its frames placed from the first one's time.
    fn length(times: &[f64], fps: f64) -> u64 {
        slots_filled(times, fps).unwrap().iter().sum()
    }

    /// Each frame goes in the slot nearest its time from the first frame's: a constant-rate clip
    /// fills one slot a frame, timestamps rounded to milliseconds included; a frame dropped is a
    /// repeat; a clip at twice the rate loses every other frame, the ones between slots' times
    /// (the last frame has a slot of its own).
    #[test]
    fn frames_fill_the_slots_nearest_their_times() {
        let cfr: Vec<f64> = (0..1000).map(|k| f64::from(k) / 24.0).collect();
        assert!(slots_filled(&cfr, 24.0).unwrap().iter().all(|&n| n == 1));
        let ntsc = 30000.0 / 1001.0;
        let ms: Vec<f64> = (0..5000).map(|k| (f64::from(k) / ntsc * 1000.0).round() / 1000.0 + 7.0).collect();
        assert!(slots_filled(&ms, ntsc).unwrap().iter().all(|&n| n == 1), "millisecond timestamps change nothing");
        let phone = slots_filled(&phone_times(570), 30.0).unwrap();
        assert_eq!(phone.iter().filter(|&&n| n == 2).count(), 29, "the frame before each dropped one shows twice");
        assert!(phone.iter().all(|&n| n == 1 || n == 2));
        assert_eq!(phone.iter().sum::<u64>(), 599);
        let double: Vec<f64> = (0..60).map(|k| f64::from(k) / 60.0).collect();
        assert_eq!(slots_filled(&double, 30.0).unwrap(), (0..60).map(|k| u64::from(k % 2 == 0 || k == 59)).collect::<Vec<u64>>());
        let quadruple: Vec<f64> = (0..12).map(|k| f64::from(k) / 120.0).collect();
        assert_eq!(slots_filled(&quadruple, 30.0).unwrap(), [1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 1]);
        // A pause of 3 s after 4 s at 30 fps: the last frame before it fills 91 slots.
        let paused: Vec<f64> = (0..300).map(|k| f64::from(k) / 30.0 + if k >= 120 { 3.0 } else { 0.0 }).collect();
        let filled = slots_filled(&paused, 30.0).unwrap();
        assert_eq!((filled[119], filled.iter().sum::<u64>()), (91, 390));
        assert_eq!(slots_filled(&[], 30.0).unwrap(), Vec::<u64>::new());
        assert_eq!(slots_filled(&[5.0], 30.0).unwrap(), vec![1]);
    }

    /// Placed by their time from the start, frames fill as many slots as the clip lasts at any
    /// rate, however long it is: rounding each frame's duration on its own would drift (the
    /// phone clip at its average rate, 28.548 fps, used to come out 1 s long per 20 s).
    #[test]
    fn a_variable_rate_clip_keeps_its_length_at_any_rate() {
        for n in [570, 5700, 57000] {
            let times = phone_times(n);
            let last = times[times.len() - 1] - times[0];
            for fps in [30.0, n as f64 / (last + 1.0 / 30.0), 24.0, 25.0, 29.97, 59.94, 8.0] {
                let slots = length(&times, fps) as f64;
                assert!((slots - (last * fps).round() - 1.0).abs() < 0.5, "{n} frames at {fps}: {slots} slots for {last} s");
            }
        }
        // Timestamps a little late or early (jitter up to a third of a frame) change nothing.
        let jittered: Vec<f64> = (0..3000).map(|k| (f64::from(k) + [0.0, 0.3, -0.3, 0.1][k as usize % 4]) / 30.0).collect();
        assert!(slots_filled(&jittered, 30.0).unwrap().iter().all(|&n| n == 1));
    }

    /// A frame held over an hour is broken timestamps, refused by where and how long; an hour is
    /// kept whole.
    #[test]
    fn a_frame_held_over_an_hour_is_refused() {
        let hour = [0.0, 0.125, 0.125 + MAX_GAP_SECONDS, 0.25 + MAX_GAP_SECONDS];
        assert_eq!(length(&hour, 8.0), 3 + 8 * 3600);
        let broken = [0.0, 0.125, 0.25 + 36000.0, 0.375 + 36000.0];
        let (k, held) = slots_filled(&broken, 8.0).unwrap_err();
        assert_eq!((k, held), (1, 36000.125));
        let message = held_message(broken[k], held);
        assert_eq!([duration(40.0), duration(3601.0), duration(36000.0)], ["40 s", "3601 s", "10 hours"]);
        assert!(message.contains("frame at 0.125 s for 10 hours") && message.contains("at most an hour, 3600 s,"), "{message}");
    }

    /// The rate a clip is read at: its average, except a clip recorded at a variable rate whose
    /// frames fit its base rate better (a phone's 30 fps with frames dropped, a clip with a
    /// pause); interlaced video (base rate twice the average) and a base rate that is a
    /// timestamp unit keep the average, and the timestamps are not read where both agree.
    #[test]
    fn a_variable_rate_clip_is_read_at_its_base_rate() {
        let phone = phone_times(570);
        assert_eq!(reading_rate(Some(17100.0 / 599.0), Some(30.0), 1e-5, || phone.clone()), 30.0);
        let paused: Vec<f64> = (0..64).map(|k| f64::from(k) / 8.0 + if k >= 16 { 30.0 } else { 0.0 }).collect();
        assert_eq!(reading_rate(Some(32.0 / 19.0), Some(8.0), 1e-5, || paused.clone()), 8.0);
        // A jump of 10 hours makes the average 0.003 fps, where every other step rounds to none.
        let jump: Vec<f64> = (0..120).map(|k| f64::from(k) / 30.0 + if k >= 60 { 36000.0 } else { 0.0 }).collect();
        assert_eq!(reading_rate(Some(30.0 / 9001.0), Some(30.0), 1e-5, || jump.clone()), 30.0);
        let interlaced: Vec<f64> = (0..100).map(|k| f64::from(k) / 25.0).collect();
        assert_eq!(reading_rate(Some(25.0), Some(50.0), 1e-5, || interlaced.clone()), 25.0);
        let ntsc: Vec<f64> = (0..100).map(|k| f64::from(k) * 1001.0 / 30000.0).collect();
        assert_eq!(reading_rate(Some(30000.0 / 1001.0), Some(30.0), 1e-5, || ntsc.clone()), 30000.0 / 1001.0);
        assert_eq!(reading_rate(Some(28.5), Some(1000.0), 1e-5, || phone.clone()), 28.5);
        // 24 fps footage joined to 30 fps footage: a base rate of 120 (both fit), read at the average.
        let joined: Vec<f64> = (0..48).map(|k| f64::from(k) / 24.0).chain((0..60).map(|k| 2.0 + f64::from(k) / 30.0)).collect();
        assert_eq!(reading_rate(Some(27.0), Some(120.0), 1e-5, || joined.clone()), 27.0);
        assert_eq!(reading_rate(Some(24.0), Some(24.0), 1e-5, || unreachable!()), 24.0);
        assert_eq!(reading_rate(None, Some(30.0), 1e-5, || unreachable!()), 30.0);
        assert_eq!(reading_rate(None, None, 1e-5, || unreachable!()), 0.0);
        // GIFs: delays in centiseconds, 13 and 12 for 8 fps (an average of 95/12: 16 frames over
        // 2.01 s), 7, 6 and 7 for 15 fps (15.08), 4, 4 and 5 for 24 fps (23.9): every frame within
        // 1 cs of its time at the common rate.
        let cs = |fps: f64| (0..30).map(move |k| (f64::from(k) * 100.0 / fps).round() / 100.0).collect::<Vec<_>>();
        assert_eq!(reading_rate(Some(95.0 / 12.0), Some(8.0), 0.01, || cs(8.0)), 8.0);
        assert_eq!(reading_rate(Some(15.083), Some(100.0 / 6.0), 0.01, || cs(15.0)), 15.0);
        assert_eq!(reading_rate(Some(23.9), None, 0.01, || cs(24.0)), 24.0);
        assert_eq!(reading_rate(Some(24000.0 / 1001.0), None, 0.01, || cs(24.0)), 24.0);
        assert_eq!(reading_rate(Some(11.98), Some(12.5), 0.01, || cs(12.0)), 12.0);
        // 59.94 fps in Matroska's milliseconds (an average of 19001/317) is 60000/1001.
        let ms: Vec<f64> = (0..200).map(|k| (f64::from(k) * 1001.0 / 60.0).round() / 1000.0).collect();
        assert_eq!(reading_rate(Some(19001.0 / 317.0), None, 0.001, || ms.clone()), 60000.0 / 1001.0);
        // Ten frames of 29.97 fps in milliseconds fit 30 as well: the average, itself common, stays.
        let short: Vec<f64> = (0..10).map(|k| (f64::from(k) * 1001.0 / 30.0).round() / 1000.0).collect();
        assert_eq!(reading_rate(Some(30000.0 / 1001.0), None, 0.001, || short.clone()), 30000.0 / 1001.0);
        // A rate that fits no common one keeps its average; so do times at a fine time base.
        assert_eq!(reading_rate(Some(7.9), None, 0.01, || cs(7.9)), 7.9);
        assert_eq!(reading_rate(Some(95.0 / 12.0), Some(8.0), 1e-5, || cs(8.0)), 95.0 / 12.0);
    }

    /// A real clip recorded at a variable rate (H.264 in mp4, 30 fps with every 20th frame
    /// dropped, then a 2 s pause) is read at 30 fps for as long as it lasts, and counted as read;
    /// one whose timestamps jump 10 hours is refused.
    #[test]
    fn a_variable_rate_clip_is_read_for_as_long_as_it_lasts() {
        let dir = std::env::temp_dir().join(format!("kino-decode-vfr-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let make = |name: &str, filter: &str| {
            let input = ["-f", "lavfi", "-i", "testsrc=s=64x48:r=30:d=4", "-vf", filter];
            ffmpeg(&dir, &[&input[..], &["-fps_mode", "passthrough", "-c:v", "libx264", "-pix_fmt", "yuv420p", name]].concat())
        };
        // 120 frames, 114 kept (the last is frame 118), from the 101st (frame 105) 2 s later:
        // 118 + 60 slots after the first.
        let vfr = make("vfr.mp4", "select='not(eq(mod(n\\,20)\\,19))',setpts='if(gte(N,100),PTS+2/TB,PTS)'");
        let mut reader = VideoReader::open(&vfr).unwrap();
        assert_eq!(reader.fps, 30.0);
        let mut read = 0u64;
        while reader.next_frame().unwrap().is_some() {
            read += 1;
        }
        assert_eq!(read, 179);
        assert_eq!(count_video_frames(&vfr).unwrap(), 179);
        let stored = decode_video(&vfr).unwrap();
        assert_eq!(stored.frames.len(), 114, "decode_video reads each stored frame once");
        assert!((stored.fps - 114.0 / (179.0 / 30.0)).abs() < 0.01, "at its average rate, {}", stored.fps);
        let broken = make("broken.mp4", "setpts='if(gte(N,60),PTS+36000/TB,PTS)'");
        let mut reader = VideoReader::open(&broken).unwrap();
        let error = loop {
            match reader.next_frame() {
                Ok(Some(_)) => {}
                Ok(None) => panic!("a 10-hour jump read whole"),
                Err(e) => break e.to_string(),
            }
        };
        assert!(error.contains("broken.mp4") && error.contains("for 10 hours") && !error.contains('\n'), "{error}");
        assert!(count_video_frames(&broken).unwrap_err().to_string().contains("for 10 hours"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Timestamps that go back over a second are a clock starting again: what follows keeps its
    /// spacing, a frame after the latest time; packets stored out of order are left as they are.
    #[test]
    fn a_clock_that_starts_again_runs_on() {
        let mut r = Restarts::at(8.0);
        let joined: Vec<f64> = [(10.0, true), (10.125, false), (10.25, false), (1.4, true), (1.525, false)]
            .iter()
            .map(|&(t, key)| r.follow_on(t, key))
            .collect();
        assert_eq!(joined, [10.0, 10.125, 10.25, 10.375, 10.5]);
        assert_eq!(r.count, 1);
        // A frame stored ahead of its time across a 2 s pause is not a key frame: left as it is.
        let mut r = Restarts::at(24.0);
        let reordered = [(0.0, true), (3.0, false), (1.0 / 24.0, false), (2.0 / 24.0, false), (3.0 + 1.0 / 24.0, false)];
        assert_eq!(reordered.map(|(t, key)| r.follow_on(t, key)), reordered.map(|(t, _)| t), "frames stored ahead of their time");
        assert_eq!(r.count, 0);
    }

    /// Two MPEG-TS clips joined with `cat` (8 fps for 3 s, then 24 fps for 2 s, each stamped
    /// from its own start) are read one after the other, each at its pace: 5 s, not the second
    /// on top of the first nor played at the first's rate.
    #[test]
    fn clips_joined_end_to_end_are_read_one_after_the_other() {
        let dir = std::env::temp_dir().join(format!("kino-decode-joined-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let make = |name: &str, src: &str| {
            std::fs::read(ffmpeg(&dir, &["-f", "lavfi", "-i", src, "-c:v", "libx264", "-pix_fmt", "yuv420p", name])).unwrap()
        };
        let a = make("a.ts", "testsrc=s=64x48:r=8:d=3");
        let b = make("b.ts", "testsrc2=s=64x48:r=24:d=2");
        let read = |parts: &[&[u8]]| {
            let path = dir.join("joined.ts");
            std::fs::write(&path, parts.concat()).unwrap();
            let mut reader = VideoReader::open(&path).unwrap();
            let mut frames = Vec::new();
            while let Some(f) = reader.next_frame().unwrap() {
                frames.push(f);
            }
            (reader.fps, frames, count_video_frames(&path).unwrap())
        };
        let (fps, frames, counted) = read(&[&a, &b]);
        assert_eq!(fps, 8.0);
        // 24 frames of the first, then 2 s of the second at 8 fps (its frames at 3 + k/24 s
        // land in slots 24 to 40).
        assert_eq!((frames.len(), counted), (41, 41));
        let first = decode_video(&dir.join("a.ts")).unwrap().frames;
        let second = decode_video(&dir.join("b.ts")).unwrap().frames;
        assert!(frames[..24].iter().zip(&first).all(|(x, y)| x.data == y.data), "the first clip whole, in order");
        assert_eq!(frames[24].data, second[0].data, "the second from its start");
        assert_eq!(frames[32].data, second[24].data, "one second in, at its own pace");
        // Joined at one rate: every frame once.
        let (fps, frames, counted) = read(&[&a, &a]);
        assert_eq!((fps, frames.len(), counted), (8.0, 48, 48));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// An MP4 cut without re-encoding (`-ss 2.3 -c copy`) stores the key frame before the cut and
    /// the frames after it, stamped before the start; they are not shown, nor counted (the sound
    /// of a bridge's second clip is placed by the count).
    #[test]
    fn frames_an_edit_list_leaves_out_are_not_counted() {
        let dir = std::env::temp_dir().join(format!("kino-decode-edit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        ffmpeg(&dir, &["-f", "lavfi", "-i", "testsrc=s=64x48:r=8:d=6", "-c:v", "libx264", "-g", "48", "-pix_fmt", "yuv420p", "long.mp4"]);
        let cut = ffmpeg(&dir, &["-ss", "2.3", "-i", "long.mp4", "-c", "copy", "cut.mp4"]);
        let mut reader = VideoReader::open(&cut).unwrap();
        let mut shown = 0u64;
        while reader.next_frame().unwrap().is_some() {
            shown += 1;
        }
        let stored = ff::format::input(&cut).unwrap().packets().count() as u64;
        let counted = count_video_frames(&cut).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(shown < stored && (28..=30).contains(&shown), "{shown} of {stored} stored frames shown");
        assert_eq!(counted, shown);
    }

    /// Interlaced and transparent clips say so (the CLI warns: fields are read woven, alpha is
    /// laid over black); a plain clip does not, nor one whose format could hold transparency but
    /// whose pixels are all opaque (every GIF decodes with an alpha channel). VP9 in WebM keeps
    /// its transparency beside the picture, read by libvpx's decoder: the pixels are laid over
    /// black as any other's, not shown with the colours under them.
    #[test]
    fn interlaced_and_transparent_clips_say_so() {
        let dir = std::env::temp_dir().join(format!("kino-decode-fields-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let make = |name: &str, args: &[&str]| {
            let input = ["-f", "lavfi", "-i", "testsrc2=s=64x48:r=25:d=1"];
            VideoReader::open(&ffmpeg(&dir, &[&input[..], args, &[name]].concat())).unwrap()
        };
        let interlaced =
            make("tff.mkv", &["-vf", "interlace=scan=tff,setfield=tff", "-c:v", "libx264", "-flags", "+ildct+ilme", "-pix_fmt", "yuv420p"]);
        // The left half opaque, the right half at 60 of 255.
        let see_through = "format=rgba,geq=r='r(X,Y)':g='g(X,Y)':b='b(X,Y)':a='if(lt(X,32),255,60)'";
        let transparent = make("alpha.mkv", &["-vf", see_through, "-c:v", "ffv1"]);
        let opaque_alpha = make("opaque-alpha.mkv", &["-vf", "format=yuva420p", "-c:v", "ffv1"]);
        let gif = make("opaque.gif", &[]);
        let mut vp9 = make("alpha.webm", &["-vf", see_through, "-c:v", "libvpx-vp9", "-pix_fmt", "yuva420p"]);
        let plain = make("plain.mkv", &["-c:v", "libx264", "-pix_fmt", "yuv420p"]);
        // GIFs at 8, 15 and 24 fps (delays of 13 and 12 cs; 7, 6 and 7; 4, 4 and 5) are read at
        // their rates, not at FFmpeg's averages (95/12, 15.08, 24000/1001).
        for rate in [8.0, 15.0, 24.0] {
            let gif = ffmpeg(&dir, &["-f", "lavfi", "-i", &format!("testsrc2=s=64x48:r={rate}:d=2"), &format!("at-{rate}.gif")]);
            assert_eq!(VideoReader::open(&gif).unwrap().fps, rate);
        }
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(interlaced.interlaced && !interlaced.transparent);
        assert!(transparent.transparent && !transparent.interlaced);
        assert!(!opaque_alpha.transparent && !gif.transparent && !plain.transparent);
        assert!(!plain.interlaced);
        assert!(vp9.transparent, "VP9's transparency is read");
        let f = vp9.next_frame().unwrap().unwrap();
        let mean = |x0: usize, x1: usize| {
            let px: Vec<u32> =
                (0..48).flat_map(|y| (x0..x1).map(move |x| (y, x))).map(|(y, x)| u32::from(f.data[3 * (y * 64 + x)])).collect();
            px.iter().sum::<u32>() as f64 / px.len() as f64
        };
        // Red at 60/255 is about a quarter of the opaque half's.
        assert!(mean(32, 64) < 0.4 * mean(0, 32), "the see-through half is laid over black: {} vs {}", mean(32, 64), mean(0, 32));
    }

    /// Frames read as FFmpeg reads them, also where an odd width and height leave half a
    /// chroma sample at the edges (interpolated there; repeated it was 25.6 dB from FFmpeg's).
    #[test]
    fn odd_sized_4_2_0_frames_read_as_ffmpeg_reads_them() {
        let dir = std::env::temp_dir().join(format!("kino-decode-odd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (w, h) in [(65, 49), (64, 48)] {
            let crop = format!("format=yuv420p,crop={w}:{h}:0:0:exact=1");
            let name = format!("{w}x{h}.webm");
            let clip = ffmpeg(&dir, &["-f", "lavfi", "-i", "testsrc2=s=66x50:r=8:d=1", "-vf", &crop, "-c:v", "libvpx-vp9", &name]);
            let ours = VideoReader::open(&clip).unwrap().next_frame().unwrap().unwrap();
            let theirs = std::process::Command::new("ffmpeg")
                .args(["-v", "error", "-i"])
                .arg(&clip)
                .args(["-frames:v", "1", "-pix_fmt", "rgb24", "-f", "rawvideo", "-"])
                .output()
                .unwrap()
                .stdout;
            assert_eq!((ours.width, ours.height, ours.data.len()), (w, h, theirs.len()));
            let off = ours.data.iter().zip(&theirs).filter(|(a, b)| a.abs_diff(**b) > 2).count();
            assert!(off * 1000 < theirs.len(), "{w}x{h}: {off} of {} samples more than 2 levels from FFmpeg's", theirs.len());
        }
        // Stills with less than one whole chroma sample take the interpolating scaler too.
        for (w, h) in [(1, 1), (1, 9), (9, 1)] {
            let crop = format!("format=yuvj420p,crop={w}:{h}:0:0:exact=1");
            let name = format!("{w}x{h}.jpg");
            let still = ffmpeg(&dir, &["-f", "lavfi", "-i", "testsrc2=s=66x50", "-vf", &crop, "-frames:v", "1", &name]);
            let f = decode_image(&still).unwrap();
            assert_eq!((f.width, f.height, f.data.len()), (w, h, 3 * (w * h) as usize));
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A transparent still is laid over black: the colours stored under fully transparent
    /// pixels (here red) never show, opaque ones keep theirs, half-transparent ones are halved.
    #[test]
    fn transparent_pixels_are_laid_over_black() {
        let dir = std::env::temp_dir().join(format!("kino-decode-alpha-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("alpha.png");
        let px = |x: u32| match x {
            0..=3 => [255, 0, 0, 0],
            4..=5 => [0, 0, 200, 255],
            _ => [0, 200, 0, 128],
        };
        image::RgbaImage::from_fn(8, 2, |x, _| image::Rgba(px(x))).save(&path).unwrap();
        let f = decode_image(&path).unwrap();
        assert_eq!(&f.data[..3], &[0, 0, 0], "transparent red shows black");
        assert_eq!(&f.data[12..15], &[0, 0, 200], "opaque blue kept");
        assert_eq!(&f.data[18..21], &[0, 100, 0], "half-transparent green halved");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
