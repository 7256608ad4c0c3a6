//! Silent audio packets in a stream's own codec, for the stretches of an output that no source's
//! sound covers (the new footage of a bridge, or before a clip that was extended backwards).
//!
//! Copied audio keeps its timestamps, so such a stretch would otherwise be a jump in them.
//! Players honour the jump, but editors and tools that read audio as one run of samples (and
//! `ffmpeg -i out.mp4 out.wav`) close it, which moves all later sound early. Real silence keeps
//! every sample at its time.

use std::borrow::Cow;

use ffmpeg_next as ff;

/// One silent frame of a stream's codec, written again and again.
pub(super) struct Silence {
    /// The packet data of `samples` silent samples (every channel).
    data: Vec<u8>,
    /// Samples per packet; a PCM gap's last packet may be shorter.
    samples: u32,
    /// Bytes per sample over all channels for PCM (a partial packet is cut to whole samples);
    /// `None` for a coded format, whose packets are whole frames.
    pcm_bytes: Option<usize>,
    pub(super) rate: u32,
    /// For a lossless codec whose frames say their own length (FLAC, ALAC): what a shorter
    /// frame is encoded for, so that a gap ends to the sample, not at the nearest whole frame.
    short: Option<ShortFrames>,
}

/// What [`short_silence`] needs to encode, and check, a frame of fewer samples.
struct ShortFrames {
    params: ff::codec::Parameters,
    layout: ff::ChannelLayout,
    format: ff::format::Sample,
}

/// Bytes per sample of one channel and the byte of silence, for the PCM codecs kino fills.
fn pcm_format(id: ff::codec::Id) -> Option<(usize, u8)> {
    use ff::codec::Id::*;
    Some(match id {
        PCM_U8 => (1, 0x80),
        PCM_S8 => (1, 0),
        PCM_S16LE | PCM_S16BE => (2, 0),
        PCM_S24LE | PCM_S24BE => (3, 0),
        PCM_S32LE | PCM_S32BE | PCM_F32LE | PCM_F32BE => (4, 0),
        PCM_F64LE | PCM_F64BE => (8, 0),
        _ => return Option::None,
    })
}

impl Silence {
    /// Silence for a stream of these parameters, or `None` where kino cannot make packets the
    /// stream's decoder takes: such a gap stays a jump in the timestamps. PCM is written as
    /// zeros; a coded format (AAC-LC, Opus, MP3, AC-3, FLAC, ...) as the steady silent packet of
    /// FFmpeg's encoder for the codec at the stream's rate and layout, kept only if the stream's
    /// own decoder reads it back as silence (codecs whose packets depend on the stream's own
    /// headers, such as Vorbis, fail that check and are left as they were).
    /// `adts`: the stream's packets carry ADTS headers, so each silent one gets one too.
    pub(super) fn for_stream(params: ff::codec::Parameters, adts: bool) -> Option<Silence> {
        let id = params.id();
        let decoder = ff::codec::context::Context::from_parameters(params.clone()).ok()?.decoder().audio().ok()?;
        let (rate, channels) = (decoder.rate(), decoder.channels());
        if rate == 0 || channels == 0 {
            return None;
        }
        if let Some((bytes, zero)) = pcm_format(id) {
            let samples = 1024;
            let frame = bytes * channels as usize;
            return Some(Silence { data: vec![zero; frame * samples as usize], samples, pcm_bytes: Some(frame), rate, short: None });
        }
        if id == ff::codec::Id::AAC && !is_aac_lc(&decoder) {
            return None;
        }
        // The stream's own channel layout: its channel elements must be the ones the stream's
        // configuration declares.
        let layout = match decoder.channel_layout() {
            l if l.channels() == i32::from(channels) => l,
            _ => ff::ChannelLayout::default(i32::from(channels)),
        };
        let (data, samples) = coded_silence(id, rate, layout, decoder.format())?;
        let data = if adts { with_adts_header(&data, rate, channels)? } else { data };
        // Written only if the stream's own decoder reads it back as silence.
        if !decodes_to_silence(params.clone(), &data) {
            return None;
        }
        let short =
            matches!(id, ff::codec::Id::FLAC | ff::codec::Id::ALAC).then(|| ShortFrames { params, layout, format: decoder.format() });
        Some(Silence { data, samples, pcm_bytes: None, rate, short })
    }

    /// Samples in one packet of silence (a PCM gap's last packet may be shorter).
    pub(super) fn frame_samples(&self) -> i64 {
        i64::from(self.samples)
    }

    /// How long a PCM packet of `bytes` bytes lasts, in `tb` (`None` for a coded format).
    pub(super) fn pcm_duration(&self, bytes: usize, tb: ff::Rational) -> Option<i64> {
        let samples = (bytes / self.pcm_bytes.filter(|&b| b > 0)?) as i64;
        Some(ff::rescale::Rescale::rescale(&samples, ff::Rational::new(1, self.rate as i32), tb))
    }

    /// Packets of silence covering `samples` samples from `start` (samples at the stream's
    /// rate), as (start sample, sample count, data): PCM and FLAC / ALAC to the sample (the last
    /// packet shorter), other coded formats in whole frames, as many as come nearest (within
    /// half a frame, ~11 ms for AAC at 48 kHz).
    pub(super) fn packets(&self, start: i64, samples: i64) -> impl Iterator<Item = (i64, i64, Cow<'_, [u8]>)> + '_ {
        let frame = i64::from(self.samples);
        let short = (samples % frame > 0)
            .then(|| self.short.as_ref().and_then(|s| short_silence(s, self.rate, (samples % frame) as usize)))
            .flatten();
        // Coded frames without a shorter one to the nearest whole frame (each decodes to a
        // frame, whatever the timestamps say).
        let (whole, rest) = match (self.pcm_bytes, &short) {
            (Some(_), _) | (None, Some(_)) => (samples / frame, samples % frame),
            (None, None) => ((samples + frame / 2) / frame, 0),
        };
        (0..whole).map(move |k| (start + k * frame, frame, Cow::Borrowed(&self.data[..]))).chain((rest > 0).then(move || {
            let data = match short {
                Some(packet) => Cow::Owned(packet),
                None => Cow::Borrowed(&self.data[..self.pcm_bytes.unwrap_or(0) * rest as usize]),
            };
            (start + whole * frame, rest, data)
        }))
    }
}

/// The codec's encoder opened for silence at this rate and layout, in a sample format whose
/// zeros are silence (the stream's own where the encoder takes it: a 24-bit FLAC stream's
/// frames must say 24 bits; FFmpeg codes 32-bit samples as 24-bit FLAC), and its frame size.
fn open_encoder(
    id: ff::codec::Id,
    rate: u32,
    layout: ff::ChannelLayout,
    stream_format: ff::format::Sample,
) -> Option<(ff::encoder::Audio, ff::format::Sample, u32)> {
    let codec = ff::encoder::find(id)?;
    let formats: Vec<ff::format::Sample> = codec.audio().ok()?.formats()?.filter(|f| zeros_are_silence(*f)).collect();
    let format = formats.iter().copied().find(|&f| f == stream_format).or_else(|| formats.first().copied())?;
    let mut enc = ff::codec::context::Context::new_with_codec(codec).encoder().audio().ok()?;
    enc.set_rate(rate as i32);
    enc.set_channel_layout(layout);
    enc.set_format(format);
    enc.set_time_base(ff::Rational::new(1, rate as i32));
    // A lossy encoder's rate; lossless ones ignore it.
    enc.set_bit_rate(64_000 * layout.channels().max(1) as usize);
    let enc = enc.open_as(codec).ok()?;
    let samples = enc.frame_size();
    (samples > 0).then_some((enc, format, samples))
}

/// One packet of `n` silent samples, fewer than a frame, from a FLAC or ALAC encoder (both
/// code a frame's length in the frame): kept only if the stream's own decoder reads it back as
/// exactly `n` samples of silence.
fn short_silence(s: &ShortFrames, rate: u32, n: usize) -> Option<Vec<u8>> {
    let (mut enc, format, frame_size) = open_encoder(s.params.id(), rate, s.layout, s.format)?;
    if n == 0 || n >= frame_size as usize {
        return None;
    }
    let mut frame = ff::frame::Audio::new(format, n, s.layout);
    frame.set_rate(rate);
    fill_zeros(&mut frame);
    frame.set_pts(Some(0));
    enc.send_frame(&frame).ok()?;
    enc.send_eof().ok()?;
    let mut packets = Vec::new();
    let mut packet = ff::Packet::empty();
    while enc.receive_packet(&mut packet).is_ok() {
        packets.extend(packet.data().map(<[u8]>::to_vec));
    }
    let [data] = <[Vec<u8>; 1]>::try_from(packets).ok()?;
    (decoded_silence(s.params.clone(), &data, 1) == Some(n)).then_some(data)
}

/// One steady-state packet of silence from FFmpeg's encoder for `id` at this rate and channel
/// layout, and its frame size; `None` where FFmpeg has no such encoder or it does not take the
/// stream's rate or layout. `stream_format` is the stream's decoded sample format: where the
/// encoder takes it, it codes at the stream's depth (a 24-bit FLAC stream's frames must say 24
/// bits; FFmpeg codes 32-bit samples as 24-bit FLAC).
fn coded_silence(id: ff::codec::Id, rate: u32, layout: ff::ChannelLayout, stream_format: ff::format::Sample) -> Option<(Vec<u8>, u32)> {
    let (mut enc, format, samples) = open_encoder(id, rate, layout, stream_format)?;
    let mut frame = ff::frame::Audio::new(format, samples as usize, layout);
    frame.set_rate(rate);
    fill_zeros(&mut frame);
    // The first packets carry the encoder's start-up; after a few frames of zeros every packet
    // is the same silent frame.
    let mut last = None;
    let mut packet = ff::Packet::empty();
    for k in 0..8 {
        frame.set_pts(Some(k * i64::from(samples)));
        enc.send_frame(&frame).ok()?;
        while enc.receive_packet(&mut packet).is_ok() {
            last = packet.data().map(<[u8]>::to_vec);
        }
    }
    last.filter(|d| !d.is_empty()).map(|d| (d, samples))
}

/// AAC's sampling rates, in the order of their index in its headers (ISO/IEC 14496-3,
/// 1.6.3.4): the rates FFmpeg's AAC encoder takes.
pub(super) const AAC_RATES: [u32; 13] = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];

/// An AAC stream in the Low Complexity profile, the one FFmpeg's own encoder writes (HE-AAC's
/// frames would not decode with the stream's configuration).
pub(super) fn is_aac_lc(decoder: &ff::decoder::Audio) -> bool {
    matches!(decoder.profile(), ff::codec::Profile::AAC(ff::codec::profile::AAC::Low | ff::codec::profile::AAC::MPEG2Low))
}

/// An AAC-LC frame behind the 7-byte ADTS header (no CRC) that MPEG-TS and raw `.aac` streams
/// carry on every packet (ISO/IEC 13818-7, 6.2): `None` for a rate or channel count ADTS cannot say.
pub(super) fn with_adts_header(frame: &[u8], rate: u32, channels: u16) -> Option<Vec<u8>> {
    let rate_index = AAC_RATES.iter().position(|&r| r == rate)? as u8;
    let config: u8 = match channels {
        1..=6 => channels as u8,
        8 => 7,
        _ => return None,
    };
    let len = frame.len() + 7;
    if len >= 1 << 13 {
        return None;
    }
    let profile = 1u8; // AAC LC: audio object type 2, minus one
    let mut out = vec![
        0xFF,
        0xF1, // MPEG-4, layer 0, no CRC
        (profile << 6) | (rate_index << 2) | (config >> 2),
        ((config & 3) << 6) | (len >> 11) as u8,
        (len >> 3) as u8,
        (((len & 7) as u8) << 5) | 0x1F, // buffer fullness 0x7FF: variable rate
        0xFC,
    ];
    out.extend_from_slice(frame);
    Some(out)
}

/// Sample formats whose all-zero bytes are silence (every signed and float format; not u8).
fn zeros_are_silence(format: ff::format::Sample) -> bool {
    use ff::format::Sample::*;
    matches!(format, I16(_) | I32(_) | F32(_) | F64(_))
}

/// Zeros in every channel of `frame` (a format for which [`zeros_are_silence`]).
fn fill_zeros(frame: &mut ff::frame::Audio) {
    use ff::format::{sample::Type::Planar, Sample::*};
    // A packed frame is one plane, every channel interleaved. Planes after the first of a planar
    // frame have no line size of their own, so they are reached by samples, not bytes.
    match frame.format() {
        F32(Planar) => (0..frame.planes()).for_each(|p| frame.plane_mut::<f32>(p).fill(0.0)),
        F64(Planar) => (0..frame.planes()).for_each(|p| frame.plane_mut::<f64>(p).fill(0.0)),
        I16(Planar) => (0..frame.planes()).for_each(|p| frame.plane_mut::<i16>(p).fill(0)),
        I32(Planar) => (0..frame.planes()).for_each(|p| frame.plane_mut::<i32>(p).fill(0)),
        _ => frame.data_mut(0).fill(0),
    }
}

/// The largest magnitude among a decoded frame's samples, as a fraction of full scale; `None`
/// for a sample format kino does not read.
fn peak(frame: &ff::frame::Audio) -> Option<f64> {
    use ff::format::{sample::Type, Sample::*};
    let n = frame.samples();
    let per_plane = if frame.is_planar() { n } else { n * usize::from(frame.channels()) };
    let planes = if frame.is_planar() { frame.planes() } else { 1 };
    let mut peak = 0.0f64;
    for p in 0..planes {
        let v = match frame.format() {
            F32(Type::Planar) => frame.plane::<f32>(p).iter().map(|x| f64::from(x.abs())).fold(0.0, f64::max),
            I16(Type::Planar) => frame.plane::<i16>(p).iter().map(|x| f64::from(*x).abs() / 32768.0).fold(0.0, f64::max),
            I32(Type::Planar) => frame.plane::<i32>(p).iter().map(|x| f64::from(*x).abs() / 2_147_483_648.0).fold(0.0, f64::max),
            F64(Type::Planar) => frame.plane::<f64>(p).iter().map(|x| x.abs()).fold(0.0, f64::max),
            F32(Type::Packed) => bytes_peak::<4>(frame.data(0), per_plane, |b| f64::from(f32::from_ne_bytes(b).abs())),
            I16(Type::Packed) => bytes_peak::<2>(frame.data(0), per_plane, |b| f64::from(i16::from_ne_bytes(b)).abs() / 32768.0),
            I32(Type::Packed) => bytes_peak::<4>(frame.data(0), per_plane, |b| f64::from(i32::from_ne_bytes(b)).abs() / 2_147_483_648.0),
            F64(Type::Packed) => bytes_peak::<8>(frame.data(0), per_plane, |b| f64::from_ne_bytes(b).abs()),
            _ => return Option::None,
        };
        peak = peak.max(v);
    }
    Some(peak)
}

/// The largest of `level` over the first `count` samples of `N` bytes each in `data`.
fn bytes_peak<const N: usize>(data: &[u8], count: usize, level: impl Fn([u8; N]) -> f64) -> f64 {
    data.chunks_exact(N).take(count).filter_map(|b| b.try_into().ok()).map(level).fold(0.0, f64::max)
}

/// Whether a decoder made from the stream's parameters decodes `data`, given a few times in a
/// row as a gap would hold it, without error and to silence (below -80 dBFS).
fn decodes_to_silence(params: ff::codec::Parameters, data: &[u8]) -> bool {
    decoded_silence(params, data, 4).is_some_and(|n| n > 0)
}

/// The samples a decoder made from the stream's parameters decodes from `data` given `times`
/// times in a row (and flushed), if it decodes them without error and to silence (below -80
/// dBFS).
fn decoded_silence(params: ff::codec::Parameters, data: &[u8], times: usize) -> Option<usize> {
    let mut decoder = ff::codec::context::Context::from_parameters(params).ok()?.decoder().audio().ok()?;
    let mut frame = ff::frame::Audio::empty();
    let mut decoded = 0;
    for k in 0..=times {
        let sent = if k < times { decoder.send_packet(&ff::Packet::copy(data)) } else { decoder.send_eof() };
        sent.ok()?;
        while decoder.receive_frame(&mut frame).is_ok() {
            match peak(&frame) {
                Some(p) if p <= 1e-4 => decoded += frame.samples(),
                _ => return None,
            }
        }
    }
    Some(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aac_silence_is_one_small_frame_for_every_usual_layout() {
        super::super::init().unwrap();
        for rate in [22_050, 44_100, 48_000, 96_000] {
            for channels in [1, 2, 6] {
                let (data, samples) = coded_silence(
                    ff::codec::Id::AAC,
                    rate,
                    ff::ChannelLayout::default(channels),
                    ff::format::Sample::F32(ff::format::sample::Type::Planar),
                )
                .expect("FFmpeg's AAC encoder");
                assert_eq!(samples, 1024);
                assert!(
                    !data.is_empty() && data.len() < 8 * channels as usize,
                    "{rate} Hz, {channels} channels: a silent frame is a few bytes, got {}",
                    data.len()
                );
            }
        }
    }

    #[test]
    fn pcm_gaps_are_filled_to_the_sample_and_coded_ones_by_the_nearest_whole_frames() {
        let pcm = Silence { data: vec![0; 4 * 1024], samples: 1024, pcm_bytes: Some(4), rate: 48_000, short: None };
        let parts: Vec<(i64, i64, usize)> = pcm.packets(100, 2500).map(|(s, n, d)| (s, n, d.len())).collect();
        assert_eq!(parts, vec![(100, 1024, 4096), (1124, 1024, 4096), (2148, 452, 1808)]);
        let aac = Silence { data: vec![1; 6], samples: 1024, pcm_bytes: None, rate: 48_000, short: None };
        assert_eq!(aac.packets(0, 2500).map(|(s, n, _)| (s, n)).collect::<Vec<_>>(), vec![(0, 1024), (1024, 1024)]);
        assert_eq!(aac.packets(0, 2600).count(), 3, "the nearest whole number of frames");
    }

    /// FLAC and ALAC frames say their own length: a gap is filled to the sample (whole frames,
    /// then one shorter frame), and the stream's decoder reads exactly that many samples back.
    #[test]
    fn flac_and_alac_gaps_are_filled_to_the_sample() {
        use ff::format::{sample::Type, Sample};
        super::super::init().unwrap();
        let stereo = ff::ChannelLayout::default(2);
        for (id, format, frame) in
            [(ff::codec::Id::FLAC, Sample::I32(Type::Packed), 4608), (ff::codec::Id::ALAC, Sample::I16(Type::Planar), 4096)]
        {
            let (enc, _, samples) = open_encoder(id, 48_000, stereo, format).expect("FFmpeg's encoder");
            assert_eq!(samples, frame, "{id:?}");
            let params = ff::codec::Parameters::from(&*enc);
            let silence = Silence::for_stream(params.clone(), false).expect("silence for the stream");
            let gap = 2 * i64::from(frame) + 700;
            let parts: Vec<(i64, i64, Cow<'_, [u8]>)> = silence.packets(1000, gap).collect();
            let starts: Vec<(i64, i64)> = parts.iter().map(|(s, n, _)| (*s, *n)).collect();
            let f = i64::from(frame);
            assert_eq!(starts, vec![(1000, f), (1000 + f, f), (1000 + 2 * f, 700)], "{id:?}");
            let mut decoder = ff::codec::context::Context::from_parameters(params).unwrap().decoder().audio().unwrap();
            let (mut decoded, mut out) = (0, ff::frame::Audio::empty());
            for (_, _, data) in &parts {
                decoder.send_packet(&ff::Packet::copy(data)).unwrap();
                while decoder.receive_frame(&mut out).is_ok() {
                    assert!(peak(&out).unwrap() <= 1e-4, "{id:?}: silence");
                    decoded += out.samples() as i64;
                }
            }
            decoder.send_eof().unwrap();
            while decoder.receive_frame(&mut out).is_ok() {
                decoded += out.samples() as i64;
            }
            assert_eq!(decoded, gap, "{id:?}: the decoder reads the gap's length back");
        }
    }
}
