//! The input's audio copied (not re-encoded) into a written video, interleaved by time.

use std::path::Path;

use ffmpeg_next as ff;

/// Where to take audio (and container metadata) from when writing a video.
#[derive(Clone, Copy, Debug)]
pub struct AudioSource<'a> {
    pub path: &'a Path,
    /// Seconds added to the source's timestamps (the length of footage put before it).
    pub offset_seconds: f64,
}

/// Audio packets copied (not re-encoded) from another file, interleaved with the video by time
/// as it is written, so nothing is buffered whole.
pub(super) struct AudioCopy {
    input: ff::format::context::Input,
    /// (input stream index, output stream index, input time base)
    pub(super) map: Vec<(usize, usize, ff::Rational)>,
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
    pub(super) fn add_streams(octx: &mut ff::format::context::Output, src: AudioSource<'_>) -> std::result::Result<Option<Self>, String> {
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
    pub(super) fn write_until(&mut self, octx: &mut ff::format::context::Output, until: f64) -> std::result::Result<(), String> {
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
