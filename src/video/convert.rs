//! A source's audio re-encoded into an output stream's codec, rate and channels, for sound that
//! cannot be copied as it is: a bridge's second clip recorded at another rate, with other
//! channels or in another codec than the first's, and a codec the output's container cannot hold
//! (AAC in WebM, PCM in MP4).
//!
//! Copying stays the rule (no generation is lost); this is the way round where copying would
//! leave the sound out.

use std::collections::VecDeque;

use ffmpeg_next as ff;

/// What an output audio stream is coded as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Target {
    pub id: ff::codec::Id,
    pub rate: u32,
    pub channels: u16,
    /// Bits per second for a lossy codec (lossless ones ignore it).
    pub bit_rate: usize,
    /// The stream's own sample format, taken where the encoder codes it (a 24-bit FLAC
    /// stream's frames must say so).
    pub format: Option<ff::format::Sample>,
    /// The output container wants the codec's set-up in the stream header (MP4, Matroska).
    pub global_header: bool,
}

/// Codecs whose FFmpeg encoder writes frames that another stream of the same codec, rate and
/// channels decodes with its own set-up (no per-stream code books, as Vorbis has).
fn encoder_frames_fit_other_streams(id: ff::codec::Id) -> bool {
    use ff::codec::Id::*;
    matches!(id, AAC | OPUS | MP3 | MP2 | AC3 | EAC3 | FLAC | ALAC) || pcm_codec(id)
}

pub(super) fn pcm_codec(id: ff::codec::Id) -> bool {
    id.name().starts_with("pcm_")
}

/// The encoder kino uses for a codec: libopus for Opus (FFmpeg's own is experimental).
fn encoder_for(id: ff::codec::Id) -> Option<ff::Codec> {
    match id {
        ff::codec::Id::OPUS => ff::encoder::find_by_name("libopus").or_else(|| ff::encoder::find(id)),
        _ => ff::encoder::find(id),
    }
}

impl Target {
    /// An existing output stream's coding, when kino can write frames it decodes: AAC only in
    /// its Low Complexity profile (what FFmpeg's encoder writes), and no codec whose frames
    /// depend on the stream's own headers (Vorbis).
    pub fn of_stream(params: &ff::codec::Parameters, global_header: bool) -> Option<Target> {
        let id = params.id();
        if !encoder_frames_fit_other_streams(id) {
            return None;
        }
        let decoder = ff::codec::context::Context::from_parameters(params.clone()).ok()?.decoder().audio().ok()?;
        if id == ff::codec::Id::AAC && !super::silence::is_aac_lc(&decoder) {
            return None;
        }
        let (rate, channels) = (decoder.rate(), decoder.channels());
        let bit_rate = match decoder.bit_rate() {
            0 => 64_000 * usize::from(channels),
            b => b,
        };
        (rate > 0 && channels > 0).then_some(Target { id, rate, channels, bit_rate, format: Some(decoder.format()), global_header })
    }

    /// The codec a container holds in place of one it cannot: Opus at 48 kHz for WebM, else
    /// AAC at the source's rate (FFmpeg's AAC encoder takes the standard rates from 7.35 to
    /// 96 kHz).
    pub fn for_container(webm: bool, source_rate: u32, channels: u16, global_header: bool) -> Target {
        let channels = channels.clamp(1, 8);
        let (id, rate, per_channel) = if webm {
            (ff::codec::Id::OPUS, 48_000, 48_000)
        } else {
            let rate = if super::silence::AAC_RATES.contains(&source_rate) { source_rate } else { 48_000 };
            (ff::codec::Id::AAC, rate, 64_000)
        };
        Target { id, rate, channels, bit_rate: per_channel * usize::from(channels), format: None, global_header }
    }

    fn layout(&self) -> ff::ChannelLayout {
        ff::ChannelLayout::default(i32::from(self.channels))
    }

    /// The codec's encoder opened for this target.
    pub fn open(&self) -> Result<ff::encoder::Audio, String> {
        let codec = encoder_for(self.id).ok_or_else(|| format!("this FFmpeg has no {} encoder", self.id.name()))?;
        let formats: Vec<ff::format::Sample> =
            codec.audio().map_err(|e| e.to_string())?.formats().map(Iterator::collect).unwrap_or_default();
        let format = match self.format {
            Some(f) if formats.contains(&f) => f,
            _ => *formats.first().ok_or_else(|| format!("the {} encoder names no sample format", self.id.name()))?,
        };
        let mut enc = ff::codec::context::Context::new_with_codec(codec).encoder().audio().map_err(|e| e.to_string())?;
        enc.set_rate(self.rate as i32);
        enc.set_channel_layout(self.layout());
        enc.set_format(format);
        enc.set_time_base(ff::Rational::new(1, self.rate as i32));
        enc.set_bit_rate(self.bit_rate);
        if self.global_header {
            enc.set_flags(ff::codec::Flags::GLOBAL_HEADER);
        }
        enc.open_as(codec)
            .map_err(|e| format!("cannot open the {} encoder at {} Hz, {} channels: {e}", self.id.name(), self.rate, self.channels))
    }
}

/// One source stream decoded, resampled and encoded for a [`Target`]. Packets go in as they are
/// read; encoded packets come out with timestamps in samples at the target's rate (time base
/// `1 / rate`), on the source's own clock (where its sound is in its file).
pub(super) struct Converter {
    decoder: ff::decoder::Audio,
    resampler: Option<ff::software::resampling::Context>,
    encoder: ff::encoder::Audio,
    format: ff::format::Sample,
    layout: ff::ChannelLayout,
    rate: u32,
    /// Samples per encoded frame.
    frame: usize,
    /// Resampled samples not yet encoded: a byte run per plane (one for a packed format).
    fifo: Vec<Vec<u8>>,
    /// Bytes of one sample in one plane.
    sample_bytes: usize,
    /// The first sample in `fifo`, at the target's rate (set by the first decoded frame).
    fifo_start: Option<i64>,
    out: VecDeque<ff::Packet>,
    /// Each packet gets an ADTS header (AAC into a stream copied from MPEG-TS).
    adts: Option<(u32, u16)>,
}

impl Converter {
    /// `adts`: the output stream's AAC packets carry ADTS headers, so these get them too.
    pub fn new(params: ff::codec::Parameters, target: &Target, adts: bool) -> Result<Converter, String> {
        let decoder = ff::codec::context::Context::from_parameters(params)
            .and_then(|c| c.decoder().audio())
            .map_err(|e| format!("cannot decode it: {e}"))?;
        let encoder = target.open()?;
        let format = encoder.format();
        let frame = match encoder.frame_size() {
            0 => 1024, // PCM and FLAC take frames of any length.
            n => n as usize,
        };
        let planes = if format.is_planar() { usize::from(target.channels) } else { 1 };
        let sample_bytes = format.bytes() * if format.is_planar() { 1 } else { usize::from(target.channels) };
        Ok(Converter {
            decoder,
            resampler: None,
            encoder,
            format,
            layout: target.layout(),
            rate: target.rate,
            frame,
            fifo: vec![Vec::new(); planes],
            sample_bytes,
            fifo_start: None,
            out: VecDeque::new(),
            adts: adts.then_some((target.rate, target.channels)),
        })
    }

    /// The opened encoder, whose parameters a stream it starts takes.
    pub fn encoder(&self) -> &ff::encoder::Audio {
        &self.encoder
    }

    /// Samples per encoded frame, at the target's rate.
    pub fn frame_samples(&self) -> usize {
        self.frame
    }

    /// Takes one of the source stream's packets (in `time_base`). A packet the decoder refuses
    /// (a damaged one) is left out, as a player would.
    pub fn push(&mut self, packet: &ff::Packet, time_base: ff::Rational) {
        if self.decoder.send_packet(packet).is_ok() {
            self.receive(time_base);
        }
    }

    /// The end of the source: what the decoder, resampler and encoder hold comes out.
    pub fn finish(&mut self, time_base: ff::Rational) {
        if self.decoder.send_eof().is_ok() {
            self.receive(time_base);
        }
        if let Some(resampler) = &mut self.resampler {
            loop {
                let mut out = ff::frame::Audio::new(self.format, 4096, self.layout);
                if resampler.flush(&mut out).is_err() || out.samples() == 0 {
                    break;
                }
                append(&mut self.fifo, &out);
            }
        }
        self.encode(true);
        if self.encoder.send_eof().is_ok() {
            self.collect();
        }
    }

    /// An encoded packet, oldest first.
    pub fn pop(&mut self) -> Option<ff::Packet> {
        self.out.pop_front()
    }

    fn receive(&mut self, time_base: ff::Rational) {
        let mut decoded = ff::frame::Audio::empty();
        while self.decoder.receive_frame(&mut decoded).is_ok() {
            if self.fifo_start.is_none() {
                let t = decoded.timestamp().or(decoded.pts()).unwrap_or(0);
                self.fifo_start = Some(ff::rescale::Rescale::rescale(&t, time_base, ff::Rational::new(1, self.rate as i32)));
            }
            if decoded.channel_layout().channels() != i32::from(decoded.channels()) {
                decoded.set_channel_layout(ff::ChannelLayout::default(i32::from(decoded.channels())));
            }
            let fits = self.resampler.as_ref().is_some_and(|r| {
                let i = r.input();
                i.format == decoded.format() && i.channel_layout == decoded.channel_layout() && i.rate == decoded.rate()
            });
            if !fits {
                // The first frame, or the source changed its rate or layout mid-stream.
                match ff::software::resampling::Context::get(
                    decoded.format(),
                    decoded.channel_layout(),
                    decoded.rate(),
                    self.format,
                    self.layout,
                    self.rate,
                ) {
                    Ok(r) => self.resampler = Some(r),
                    Err(e) => {
                        log::debug!("audio conversion: no resampler from {:?} at {} Hz: {e}", decoded.format(), decoded.rate());
                        continue;
                    }
                }
            }
            let Some(resampler) = &mut self.resampler else { continue };
            // Room for every sample this frame gives and what the resampler holds back.
            let room = decoded.samples() * self.rate as usize / decoded.rate().max(1) as usize + 256;
            let mut out = ff::frame::Audio::new(self.format, room, self.layout);
            if resampler.run(&decoded, &mut out).is_ok() {
                append(&mut self.fifo, &out);
            }
        }
        self.encode(false);
    }

    /// Encodes whole frames from the FIFO (and the rest too, at the end).
    fn encode(&mut self, last: bool) {
        loop {
            let held = self.fifo[0].len() / self.sample_bytes;
            let n = if held >= self.frame {
                self.frame
            } else if last && held > 0 {
                held
            } else {
                return;
            };
            let mut frame = ff::frame::Audio::new(self.format, n, self.layout);
            frame.set_rate(self.rate);
            let start = self.fifo_start.unwrap_or(0);
            frame.set_pts(Some(start));
            for (p, plane) in self.fifo.iter_mut().enumerate() {
                let bytes: Vec<u8> = plane.drain(..n * self.sample_bytes).collect();
                fill(&mut frame, p, &bytes);
            }
            self.fifo_start = Some(start + n as i64);
            if self.encoder.send_frame(&frame).is_ok() {
                self.collect();
            }
        }
    }

    fn collect(&mut self) {
        let mut packet = ff::Packet::empty();
        while self.encoder.receive_packet(&mut packet).is_ok() {
            let Some(data) = packet.data() else { continue };
            // A fresh packet: an encoder's side data (FLAC's rewritten stream header at the
            // end) is about its own stream, not the output's.
            let p = match self.adts {
                Some((rate, channels)) => match super::silence::with_adts_header(data, rate, channels) {
                    Some(framed) => super::audio::with_data(&packet, &framed),
                    None => continue,
                },
                None => super::audio::with_data(&packet, data),
            };
            self.out.push_back(p);
        }
    }
}

/// Appends a frame's samples to the FIFO's planes.
fn append(fifo: &mut [Vec<u8>], frame: &ff::frame::Audio) {
    use ff::format::{sample::Type::Planar, Sample::*};
    let n = frame.samples();
    if n == 0 {
        return;
    }
    for (p, plane) in fifo.iter_mut().enumerate() {
        // Planes after the first of a planar frame have no line size of their own, so they
        // are read by samples of their type; a packed frame is one plane of every channel.
        match frame.format() {
            U8(Planar) => plane.extend_from_slice(frame.plane::<u8>(p)),
            I16(Planar) => plane.extend(frame.plane::<i16>(p).iter().flat_map(|x| x.to_ne_bytes())),
            I32(Planar) => plane.extend(frame.plane::<i32>(p).iter().flat_map(|x| x.to_ne_bytes())),
            F32(Planar) => plane.extend(frame.plane::<f32>(p).iter().flat_map(|x| x.to_ne_bytes())),
            F64(Planar) => plane.extend(frame.plane::<f64>(p).iter().flat_map(|x| x.to_ne_bytes())),
            f => plane.extend_from_slice(&frame.data(0)[..n * f.bytes() * usize::from(frame.channels())]),
        }
    }
}

/// Writes one plane's bytes into a frame allocated for them.
fn fill(frame: &mut ff::frame::Audio, p: usize, bytes: &[u8]) {
    use ff::format::{sample::Type::Planar, Sample::*};
    fn put<T, const N: usize>(dst: &mut [T], bytes: &[u8], from: fn([u8; N]) -> T) {
        for (d, b) in dst.iter_mut().zip(bytes.chunks_exact(N)) {
            *d = from(b.try_into().expect("chunks of N bytes"));
        }
    }
    match frame.format() {
        U8(Planar) => frame.plane_mut::<u8>(p).copy_from_slice(bytes),
        I16(Planar) => put(frame.plane_mut::<i16>(p), bytes, i16::from_ne_bytes),
        I32(Planar) => put(frame.plane_mut::<i32>(p), bytes, i32::from_ne_bytes),
        F32(Planar) => put(frame.plane_mut::<f32>(p), bytes, f32::from_ne_bytes),
        F64(Planar) => put(frame.plane_mut::<f64>(p), bytes, f64::from_ne_bytes),
        _ => frame.data_mut(0)[..bytes.len()].copy_from_slice(bytes),
    }
}
