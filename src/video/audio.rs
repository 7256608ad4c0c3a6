//! The input's audio copied (not re-encoded) into a written video, interleaved by time.

use std::path::Path;

use ffmpeg_next as ff;

/// Where to take audio (and container metadata) from when writing a video.
#[derive(Clone, Copy, Debug)]
pub struct AudioSource<'a> {
    pub path: &'a Path,
    /// Seconds added to the source's timestamps, counted from its video's first frame (the
    /// length of footage put before it).
    pub offset_seconds: f64,
    /// Output time (seconds) from which the source's packets are left out: where other footage
    /// follows it (a bridge's A before the bridge). `None`: all of it.
    pub until_seconds: Option<f64>,
}

/// One source's audio packets, copied into the output's audio streams.
struct Segment {
    input: ff::format::context::Input,
    /// (input stream index, output stream index, input time base)
    map: Vec<(usize, usize, ff::Rational)>,
    offset_seconds: f64,
    until_seconds: f64,
    next: Option<ff::Packet>,
    done: bool,
}

/// Audio packets copied (not re-encoded) from other files, one after another in the same output
/// streams, interleaved with the video by time as it is written, so nothing is buffered whole.
pub(super) struct AudioCopy {
    segments: Vec<Segment>,
    /// Output audio streams.
    pub(super) streams: usize,
    /// The last decoding time written to each output stream (by stream index): a packet at or
    /// before it (two sources overlapping by a packet) is left out, as muxers refuse it.
    last_dts: std::collections::HashMap<usize, i64>,
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

/// The source time of the video's first frame, which written videos put at 0: the video
/// stream's start time (0 where the file does not say). A camera's MPEG-TS clip, or one cut out of a
/// longer recording, starts well after 0, and its audio must move with its video.
fn video_origin(input: &ff::format::context::Input) -> f64 {
    let video = input.streams().best(ff::media::Type::Video);
    match video.map(|s| (s.start_time(), s.time_base())) {
        Some((t, tb)) if t != ff::ffi::AV_NOPTS_VALUE && tb.denominator() != 0 => t as f64 * f64::from(tb),
        _ => 0.0,
    }
}

/// What must agree for two sources' audio to share one output stream.
fn stream_shape(p: ff::codec::Parameters) -> Option<(ff::codec::Id, u32, u16)> {
    let audio = ff::codec::context::Context::from_parameters(p.clone()).ok()?.decoder().audio().ok()?;
    Some((p.id(), audio.rate(), audio.channels()))
}

impl AudioCopy {
    /// Opens the sources and adds one output stream per audio stream of the first that has any
    /// (container metadata from the first source). A later source whose audio streams differ
    /// (count, codec, rate or channels) is left out, with a warning. `None`: no audio at all.
    pub(super) fn add_streams(
        octx: &mut ff::format::context::Output,
        sources: &[AudioSource<'_>],
    ) -> std::result::Result<Option<Self>, String> {
        let mut segments: Vec<Segment> = Vec::new();
        let mut shapes: Vec<Option<(ff::codec::Id, u32, u16)>> = Vec::new();
        let mut outs: Vec<usize> = Vec::new();
        for (k, src) in sources.iter().enumerate() {
            let input = ff::format::input(src.path).map_err(|e| format!("cannot read {} for its audio: {e}", src.path.display()))?;
            if k == 0 {
                octx.set_metadata(input.metadata().to_owned());
            }
            let audio: Vec<ff::format::stream::Stream<'_>> =
                input.streams().filter(|s| s.parameters().medium() == ff::media::Type::Audio).collect();
            if audio.is_empty() {
                continue;
            }
            let mut map = Vec::new();
            if outs.is_empty() {
                for ist in &audio {
                    let mut ost = octx.add_stream(ff::encoder::find(ff::codec::Id::None)).map_err(|e| e.to_string())?;
                    ost.set_parameters(ist.parameters());
                    clear_codec_tag(&mut ost);
                    ost.set_time_base(ist.time_base());
                    outs.push(ost.index());
                    shapes.push(stream_shape(ist.parameters()));
                    map.push((ist.index(), ost.index(), ist.time_base()));
                }
            } else {
                let fits = audio.len() == outs.len()
                    && audio.iter().zip(&shapes).all(|(ist, shape)| shape.is_some() && stream_shape(ist.parameters()) == *shape);
                if !fits {
                    log::warn!(
                        "{}: its audio differs from the first clip's (streams, codec, rate or channels); it is not copied",
                        src.path.display()
                    );
                    continue;
                }
                map = audio.iter().zip(&outs).map(|(ist, &out)| (ist.index(), out, ist.time_base())).collect();
            }
            drop(audio);
            let origin = video_origin(&input);
            segments.push(Segment {
                input,
                map,
                offset_seconds: src.offset_seconds - origin,
                until_seconds: src.until_seconds.unwrap_or(f64::INFINITY),
                next: None,
                done: false,
            });
        }
        if segments.is_empty() {
            return Ok(None);
        }
        Ok(Some(AudioCopy { segments, streams: outs.len(), last_dts: Default::default() }))
    }

    /// Writes every audio packet that starts before `until` seconds (all of them for infinity),
    /// source after source: their times do not overlap, so the streams stay in order.
    pub(super) fn write_until(&mut self, octx: &mut ff::format::context::Output, until: f64) -> std::result::Result<(), String> {
        for seg in &mut self.segments {
            seg.write_until(octx, until, &mut self.last_dts)?;
        }
        Ok(())
    }
}

impl Segment {
    fn write_until(
        &mut self,
        octx: &mut ff::format::context::Output,
        until: f64,
        last_dts: &mut std::collections::HashMap<usize, i64>,
    ) -> std::result::Result<(), String> {
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
            if t >= self.until_seconds {
                // Other footage follows from here: the rest of this source is left out.
                self.done = true;
                return Ok(());
            }
            if t + p.duration() as f64 * f64::from(in_tb) < -1e-4 {
                // Sound from before the clip's first frame (a cut whose audio starts early).
                continue;
            }
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
            if let Some(dts) = p.dts().or(p.pts()) {
                if last_dts.get(&out).is_some_and(|&last| dts <= last) {
                    continue;
                }
                last_dts.insert(out, dts);
            }
            p.write_interleaved(octx).map_err(|e| format!("copying audio: {e}"))?;
        }
    }
}
