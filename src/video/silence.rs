//! Silent audio packets in a stream's own codec, for the stretches of an output that no source's
//! sound covers (the new footage of a bridge, or before a clip that was extended backwards).
//!
//! Copied audio keeps its timestamps, so such a stretch would otherwise be a jump in them.
//! Players honour the jump, but editors and tools that read audio as one run of samples (and
//! `ffmpeg -i out.mp4 out.wav`) close it, which moves all later sound early. Real silence keeps
//! every sample at its time.

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
    /// Silence for a stream of these parameters, or `None` where kino cannot make frames the
    /// stream's decoder takes (a codec other than PCM or AAC-LC): such a gap stays a jump in
    /// the timestamps.
    pub(super) fn for_stream(params: ff::codec::Parameters) -> Option<Silence> {
        let id = params.id();
        let decoder = ff::codec::context::Context::from_parameters(params.clone()).ok()?.decoder().audio().ok()?;
        let (rate, channels) = (decoder.rate(), decoder.channels());
        if rate == 0 || channels == 0 {
            return None;
        }
        if let Some((bytes, zero)) = pcm_format(id) {
            let samples = 1024;
            let frame = bytes * channels as usize;
            return Some(Silence { data: vec![zero; frame * samples as usize], samples, pcm_bytes: Some(frame), rate });
        }
        // AAC's Low Complexity profile is what FFmpeg's own encoder writes (HE-AAC's frames
        // would not decode with the stream's configuration).
        if id != ff::codec::Id::AAC
            || !matches!(decoder.profile(), ff::codec::Profile::AAC(ff::codec::profile::AAC::Low | ff::codec::profile::AAC::MPEG2Low))
        {
            return None;
        }
        // The stream's own channel layout: its channel elements must be the ones the stream's
        // configuration declares.
        let layout = match decoder.channel_layout() {
            l if l.channels() == i32::from(channels) => l,
            _ => ff::ChannelLayout::default(i32::from(channels)),
        };
        let (data, samples) = aac_silence(rate, layout)?;
        // Written only if the stream's own decoder reads it back as silence.
        decodes_to_silence(params, &data).then_some(Silence { data, samples, pcm_bytes: None, rate })
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
    /// rate), as (start sample, sample count, data): whole frames for a coded format, as many as
    /// come nearest (within half a frame, ~11 ms at 48 kHz).
    pub(super) fn packets(&self, start: i64, samples: i64) -> impl Iterator<Item = (i64, i64, &[u8])> + '_ {
        let frame = i64::from(self.samples);
        // PCM to the sample; coded frames to the nearest whole frame (each decodes to a frame,
        // whatever the timestamps say).
        let (whole, rest) = match self.pcm_bytes {
            Some(_) => (samples / frame, samples % frame),
            None => ((samples + frame / 2) / frame, 0),
        };
        (0..whole).map(move |k| (start + k * frame, frame, &self.data[..])).chain((rest > 0).then(move || {
            let bytes = self.pcm_bytes.unwrap_or(0) * rest as usize;
            (start + whole * frame, rest, &self.data[..bytes])
        }))
    }
}

/// One steady-state packet of silence from FFmpeg's AAC encoder (LC, at this rate and channel
/// layout), and its frame size.
fn aac_silence(rate: u32, layout: ff::ChannelLayout) -> Option<(Vec<u8>, u32)> {
    let codec = ff::encoder::find(ff::codec::Id::AAC)?;
    let mut enc = ff::codec::context::Context::new_with_codec(codec).encoder().audio().ok()?;
    let format = ff::format::Sample::F32(ff::format::sample::Type::Planar);
    enc.set_rate(rate as i32);
    enc.set_channel_layout(layout);
    enc.set_format(format);
    enc.set_time_base(ff::Rational::new(1, rate as i32));
    enc.set_bit_rate(64_000);
    let mut enc = enc.open_as(codec).ok()?;
    let samples = enc.frame_size();
    if samples == 0 {
        return None;
    }
    let mut frame = ff::frame::Audio::new(format, samples as usize, layout);
    frame.set_rate(rate);
    // Every channel's plane (planes after the first have no line size of their own, so they are
    // reached by samples, not bytes).
    for plane in 0..frame.planes() {
        frame.plane_mut::<f32>(plane).fill(0.0);
    }
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

/// Whether a decoder made from the stream's parameters decodes `data`, given a few times in a
/// row as a gap would hold it, without error and to silence.
fn decodes_to_silence(params: ff::codec::Parameters, data: &[u8]) -> bool {
    let Some(mut decoder) = ff::codec::context::Context::from_parameters(params).ok().and_then(|c| c.decoder().audio().ok()) else {
        return false;
    };
    let mut frame = ff::frame::Audio::empty();
    let mut decoded = 0;
    for _ in 0..4 {
        if decoder.send_packet(&ff::Packet::copy(data)).is_err() {
            return false;
        }
        while decoder.receive_frame(&mut frame).is_ok() {
            let loud = match frame.format() {
                ff::format::Sample::F32(ff::format::sample::Type::Planar) => {
                    (0..frame.planes()).any(|p| frame.plane::<f32>(p).iter().any(|v| v.abs() > 1e-4))
                }
                _ => return false,
            };
            if loud {
                return false;
            }
            decoded += frame.samples();
        }
    }
    decoded > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aac_silence_is_one_small_frame_for_every_usual_layout() {
        super::super::init().unwrap();
        for rate in [22_050, 44_100, 48_000, 96_000] {
            for channels in [1, 2, 6] {
                let (data, samples) = aac_silence(rate, ff::ChannelLayout::default(channels)).expect("FFmpeg's AAC encoder");
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
        let pcm = Silence { data: vec![0; 4 * 1024], samples: 1024, pcm_bytes: Some(4), rate: 48_000 };
        let parts: Vec<(i64, i64, usize)> = pcm.packets(100, 2500).map(|(s, n, d)| (s, n, d.len())).collect();
        assert_eq!(parts, vec![(100, 1024, 4096), (1124, 1024, 4096), (2148, 452, 1808)]);
        let aac = Silence { data: vec![1; 6], samples: 1024, pcm_bytes: None, rate: 48_000 };
        assert_eq!(aac.packets(0, 2500).map(|(s, n, _)| (s, n)).collect::<Vec<_>>(), vec![(0, 1024), (1024, 1024)]);
        assert_eq!(aac.packets(0, 2600).count(), 3, "the nearest whole number of frames");
    }
}
