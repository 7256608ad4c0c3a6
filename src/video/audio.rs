//! The input's audio copied into a written video, interleaved by time; re-encoded
//! ([`super::convert`]) only where a copy would leave it out.

use std::collections::VecDeque;
use std::path::Path;

use ffmpeg_next as ff;

use super::convert::{Converter, Target};
use super::decode::{seconds, stream_end};
use super::silence::Silence;

/// Where to take audio (and container tags, timecode and chapters) from when writing a video.
#[derive(Clone, Copy, Debug)]
pub struct AudioSource<'a> {
    pub path: &'a Path,
    /// Seconds added to the source's timestamps, counted from its video's first frame (the
    /// length of footage put before it).
    pub offset_seconds: f64,
    /// Output time (seconds) from which the source's packets are left out: where its own
    /// pictures end, or other footage follows it (a bridge's A before the bridge). `None`: all
    /// of it. Sound cut there that runs on past it (by its stream's declared length) is said.
    pub until_seconds: Option<f64>,
}

/// A source opened once for all that the output takes from it (sound, tags, chapters).
pub(super) struct OpenedSource<'a> {
    pub(super) source: AudioSource<'a>,
    pub(super) input: ff::format::context::Input,
    /// Keeps the path FFmpeg opened valid (dropped after `input`).
    at: super::ffpath::FfmpegPath,
}

impl<'a> OpenedSource<'a> {
    pub(super) fn open(source: AudioSource<'a>) -> std::result::Result<Self, String> {
        let fail = |e: &dyn std::fmt::Display| format!("cannot read {}: {e}", source.path.display());
        let at = super::ffpath::FfmpegPath::input(source.path).map_err(|e| fail(&e))?;
        let input = ff::format::input(at.as_path()).map_err(|e| fail(&e))?;
        Ok(OpenedSource { source, input, at })
    }
}

/// Sound ending at most this long before a clip's first frame, or starting at most this long
/// after its last, is still the clip's (encoders' priming, muxers' timestamp shifts and their
/// streams' ends put a few tens of ms there); sound further out is left out.
const LEAD_KEPT: f64 = 0.05;

/// One source's audio packets, copied into the output's audio streams.
struct Segment {
    input: ff::format::context::Input,
    /// Keeps the path FFmpeg opened valid (dropped after `input`).
    _at: super::ffpath::FfmpegPath,
    /// Where each copied input stream goes.
    map: Vec<Route>,
    /// For each route, the converter re-encoding it and the input stream's time base (`None`:
    /// copied).
    converters: Vec<Option<(Converter, ff::Rational)>>,
    /// Packets the converters made, not yet written (their routes' time bases).
    converted: VecDeque<ff::Packet>,
    offset_seconds: f64,
    /// Where the source's first picture is in the output (seconds): its sound before that is
    /// left out.
    start_seconds: f64,
    until_seconds: f64,
    next: Option<ff::Packet>,
    done: bool,
    /// The source's name, for the message when sound before its first frame is left out
    /// (`None` once said).
    lead_unsaid: Option<String>,
    /// The source's name and how far its sound declares it runs past `until_seconds`, for the
    /// message when sound there is met (`None` once said).
    runs_on: Option<(String, f64)>,
}

/// One input audio stream's way into the output.
#[derive(Clone, Copy)]
struct Route {
    input: usize,
    output: usize,
    time_base: ff::Rational,
    /// How long one of its packets lasts (the codec's frame), for packets that do not say
    /// (Matroska's); 0 where the codec's frames vary or it is not known.
    frame_seconds: f64,
    /// A lossy codec whose encoders pad the last frame and let the container trim it: every
    /// packet decodes to a whole frame, whatever it declares.
    whole_frames: bool,
    /// Opus, whose packets say how long they are (their table of contents).
    opus: bool,
    /// How its AAC packets' ADTS headers meet the output stream's.
    adts: AdtsFix,
}

/// AAC packets copied between a stream whose packets carry ADTS headers (MPEG-TS, raw `.aac`)
/// and one whose do not (MP4, Matroska): the muxer takes one kind per stream.
#[derive(Clone, Copy, PartialEq, Eq)]
enum AdtsFix {
    Keep,
    /// The output stream's packets carry headers (its first source's came from MPEG-TS).
    Add {
        rate: u32,
        channels: u16,
    },
    Strip,
}

impl AdtsFix {
    fn between(source: &ff::codec::Parameters, output_adts: bool) -> AdtsFix {
        match (is_adts(source), output_adts, stream_shape(source.clone())) {
            (false, true, Some((_, rate, channels))) => AdtsFix::Add { rate, channels },
            (true, false, _) => AdtsFix::Strip,
            _ => AdtsFix::Keep,
        }
    }

    /// The packet with its data as the output stream takes it (`None`: a malformed one).
    fn apply(self, p: ff::Packet) -> Option<ff::Packet> {
        let data = p.data()?;
        let fixed = match self {
            AdtsFix::Keep => return Some(p),
            AdtsFix::Add { rate, channels } => super::silence::with_adts_header(data, rate, channels)?,
            // Seven bytes, or nine with a CRC (protection_absent = 0).
            AdtsFix::Strip => data.get(if data.get(1)? & 1 == 1 { 7 } else { 9 }..)?.to_vec(),
        };
        Some(with_data(&p, &fixed))
    }
}

/// A packet of `data` with `p`'s timing and flags (and none of its side data).
pub(super) fn with_data(p: &ff::Packet, data: &[u8]) -> ff::Packet {
    let mut out = ff::Packet::copy(data);
    out.set_pts(p.pts());
    out.set_dts(p.dts());
    out.set_duration(p.duration());
    out.set_flags(p.flags());
    out.set_stream(p.stream());
    out
}

/// A lossy codec whose encoders pad the last frame and let the container trim it (see
/// [`Route::whole_frames`]).
fn whole_frames(id: ff::codec::Id) -> bool {
    use ff::codec::Id::*;
    matches!(id, AAC | MP2 | MP3 | AC3 | EAC3 | OPUS)
}

/// Samples at 48 kHz in an Opus packet, from its table of contents (RFC 6716, 3.1): the frame
/// size by the configuration number, times the frame count. `None` for a malformed packet.
fn opus_packet_samples(data: &[u8]) -> Option<u32> {
    let toc = *data.first()?;
    let config = toc >> 3;
    // Frame size in 1/400 s (2.5 ms) units, by configuration: SILK 10/20/40/60 ms, hybrid
    // 10/20 ms, CELT 2.5/5/10/20 ms.
    let units: u32 = match config {
        0..=11 => [4, 8, 16, 24][usize::from(config % 4)],
        12..=15 => [4, 8][usize::from(config % 2)],
        _ => [1, 2, 4, 8][usize::from(config % 4)],
    };
    let frames = match toc & 3 {
        0 => 1,
        1 | 2 => 2,
        _ => u32::from(*data.get(1)? & 0x3f),
    };
    (frames > 0).then_some(units * 120 * frames)
}

impl Route {
    /// How long a packet that does not say lasts: an Opus packet by its own table of contents
    /// (Opus frames vary), else the codec's frame.
    fn seconds_of(&self, p: &ff::Packet) -> f64 {
        match (self.opus, p.data().and_then(opus_packet_samples)) {
            (true, Some(samples)) => f64::from(samples) / 48_000.0,
            _ => self.frame_seconds,
        }
    }

    fn new(ist: &ff::format::stream::Stream<'_>, output: usize) -> Route {
        let id = ist.parameters().id();
        let frame_seconds = ff::codec::context::Context::from_parameters(ist.parameters())
            .ok()
            .and_then(|c| c.decoder().audio().ok())
            .map_or(0.0, |a| if a.rate() > 0 { f64::from(a.frame_size()) / f64::from(a.rate()) } else { 0.0 });
        Route {
            input: ist.index(),
            output,
            time_base: ist.time_base(),
            frame_seconds,
            whole_frames: whole_frames(id),
            opus: id == ff::codec::Id::OPUS,
            adts: AdtsFix::Keep,
        }
    }

    /// The route of a stream re-encoded for `target`: its packets come from the converter,
    /// timed in samples at the target's rate.
    fn converted(ist: &ff::format::stream::Stream<'_>, output: usize, target: &Target, converter: &Converter) -> Route {
        Route {
            input: ist.index(),
            output,
            time_base: ff::Rational::new(1, target.rate as i32),
            frame_seconds: converter.frame_samples() as f64 / f64::from(target.rate),
            whole_frames: whole_frames(target.id),
            opus: target.id == ff::codec::Id::OPUS,
            adts: AdtsFix::Keep,
        }
    }
}

/// Audio packets copied (not re-encoded) from other files, one after another in the same output
/// streams, interleaved with the video by time as it is written, so nothing is buffered whole.
pub(super) struct AudioCopy {
    segments: Vec<Segment>,
    /// The output's audio streams (their indices).
    outs: Vec<usize>,
    /// What has been written to each output stream (by stream index).
    written: std::collections::HashMap<usize, Written>,
}

#[derive(Clone, Copy)]
enum End {
    At(i64),
    /// The last packet's duration is not known: no silence is added after it.
    Unknown,
}

/// One output audio stream's state as packets are written.
#[derive(Default)]
struct Written {
    /// The last decoding time: a packet at or before it (two sources overlapping by a packet)
    /// is left out, as muxers refuse it.
    last_dts: Option<i64>,
    /// Where the sound written so far ends (the last packet's time plus its duration), in the
    /// stream's time base; `None` before the first packet.
    end: Option<End>,
    /// Silence in the stream's codec, made when a gap first needs it (`None` inside: the codec
    /// has none kino can make).
    silence: Option<Option<Silence>>,
    /// A gap without silence has been reported.
    warned: bool,
    /// The last packet's own duration (in the stream's time base): a whole-frame codec's frame.
    frame: i64,
    /// The stream's AAC packets carry ADTS headers (MPEG-TS, raw `.aac`): its silence must too,
    /// as the muxer strips them from every packet.
    adts: bool,
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

/// AAC whose configuration comes in each packet's ADTS header, not in the stream's extradata
/// (MPEG-TS, a raw `.aac`): MP4 and Matroska muxers take such packets through
/// `aac_adtstoasc`, which refuses packets without the header. ffmpeg-next has no getter for it.
#[allow(unsafe_code)]
fn is_adts(params: &ff::codec::Parameters) -> bool {
    if params.id() != ff::codec::Id::AAC {
        return false;
    }
    // SAFETY: `as_ptr` points at the AVCodecParameters this `Parameters` owns or borrows, alive
    // for the borrow of `params`; `extradata_size` is a plain integer field.
    unsafe { (*params.as_ptr()).extradata_size == 0 }
}

/// Samples a decoder drops at the start of a stream of these parameters (Opus's pre-skip,
/// Matroska's CodecDelay): 0 where none is said. ffmpeg-next has no getter for it.
#[allow(unsafe_code)]
fn initial_padding(params: &ff::codec::Parameters) -> i64 {
    // SAFETY: as in `is_adts`; `initial_padding` is a plain integer field.
    i64::from(unsafe { (*params.as_ptr()).initial_padding }.max(0))
}

/// Marks an output stream as its source marks it (default, forced, comment, ...): ffmpeg-next
/// has no setter for it.
#[allow(unsafe_code)]
fn set_disposition(stream: &mut ff::format::stream::StreamMut<'_>, disposition: ff::format::stream::Disposition) {
    // SAFETY: `as_mut_ptr` points at the stream this `StreamMut` borrows mutably, owned by the
    // output context that outlives the borrow; `disposition` is a plain integer field.
    unsafe {
        (*stream.as_mut_ptr()).disposition = disposition.bits();
    }
}

/// The source time of the video's first frame, which written videos put at 0: the video
/// stream's start time (0 where the file does not say). A camera's MPEG-TS clip, or one cut out of a
/// longer recording, starts well after 0, and its audio must move with its video.
pub(super) fn video_origin(input: &ff::format::context::Input) -> f64 {
    let video = input.streams().best(ff::media::Type::Video);
    video.and_then(|s| seconds(s.start_time(), s.time_base())).unwrap_or(0.0)
}

/// What must agree for two sources' audio to share one output stream.
fn stream_shape(p: ff::codec::Parameters) -> Option<(ff::codec::Id, u32, u16)> {
    let audio = ff::codec::context::Context::from_parameters(p.clone()).ok()?.decoder().audio().ok()?;
    Some((p.id(), audio.rate(), audio.channels()))
}

/// A stream's coding for messages: "aac, 44100 Hz, 1 channel".
fn describe(p: &ff::codec::Parameters) -> String {
    match stream_shape(p.clone()) {
        Some((id, rate, channels)) => format!("{}, {rate} Hz, {channels} channel{}", id.name(), if channels == 1 { "" } else { "s" }),
        None => p.id().name().to_string(),
    }
}

/// The output's container as people call it ("MP4", "WebM", "Matroska"), for messages.
fn container_name(octx: &ff::format::context::Output) -> String {
    match octx.format().name() {
        "webm" => "WebM".into(),
        "matroska" => "Matroska".into(),
        "ipod" => "M4V".into(),
        "mov" => "MOV".into(),
        other => other.to_uppercase(),
    }
}

/// Whether the output's container holds a stream coded as `params`: its header is written, for
/// a stream of that coding alone, to nowhere (muxers refuse codecs they cannot hold there, and
/// some they hold only experimentally, as FFmpeg 5's MP4 does FLAC).
fn container_takes(octx: &ff::format::context::Output, params: &ff::codec::Parameters) -> bool {
    // FFmpeg writes Vorbis into MP4 and MOV, which no standard provides and players do not play.
    if params.id() == ff::codec::Id::VORBIS && matches!(octx.format().name(), "mp4" | "mov" | "ipod") {
        return false;
    }
    let Ok(mut probe) = ff::format::output_as(Path::new("/dev/null"), octx.format().name()) else { return true };
    let Ok(mut st) = probe.add_stream(ff::encoder::find(ff::codec::Id::None)) else { return true };
    st.set_parameters(params.clone());
    clear_codec_tag(&mut st);
    probe.write_header().is_ok()
}

/// How a source stream's packets reach an output stream: copied (`None`), or through a
/// converter reading the input stream's time base.
type Conversion = Option<(Converter, ff::Rational)>;

/// One output audio stream, as the first source with audio set it up.
struct OutStream {
    index: usize,
    /// Its codec, rate and channels when copied from that source: later sources of the same
    /// are copied too.
    shape: Option<(ff::codec::Id, u32, u16)>,
    /// The coding kino encodes it in (the container could not hold the source's): every
    /// source's sound is re-encoded into it.
    encoded: Option<Target>,
}

/// What the output is, for the choices below.
struct Container {
    name: String,
    webm: bool,
    global_header: bool,
}

/// The converter for `ist` into `target`, and the route of its packets.
fn converted_route(ist: &ff::format::stream::Stream<'_>, out: usize, target: &Target, adts: bool) -> Result<(Route, Conversion), String> {
    let converter = Converter::new(ist.parameters(), target, adts)?;
    Ok((Route::converted(ist, out, target, &converter), Some((converter, ist.time_base()))))
}

/// Adds the output stream for the first source's stream `ist` (track `track` of `tracks`):
/// a copy of it, or, where the container cannot hold its codec, one kino encodes (said).
fn start_stream(
    octx: &mut ff::format::context::Output,
    container: &Container,
    ist: &ff::format::stream::Stream<'_>,
    (track, tracks): (usize, usize),
    name: &str,
    written: &mut std::collections::HashMap<usize, Written>,
) -> Result<(OutStream, Route, Conversion), String> {
    let out = octx.add_stream(ff::encoder::find(ff::codec::Id::None)).map_err(|e| e.to_string())?.index();
    let params = ist.parameters();
    let made = if container_takes(octx, &params) {
        let mut ost = octx.stream_mut(out).expect("the stream just added");
        ost.set_parameters(params.clone());
        clear_codec_tag(&mut ost);
        ost.set_time_base(ist.time_base());
        written.entry(out).or_default().adts = is_adts(&params);
        (OutStream { index: out, shape: stream_shape(params), encoded: None }, Route::new(ist, out), None)
    } else {
        let (rate, channels) = stream_shape(params.clone()).map_or((48_000, 2), |(_, r, c)| (r, c));
        let target = Target::for_container(container.webm, rate, channels, container.global_header);
        let way_out = match super::convert::pcm_codec(params.id()) {
            _ if container.webm => ".mkv or .mp4",
            true => ".mov or .mkv",
            false => ".mkv",
        };
        let muxer = &container.name;
        let (route, conversion) = converted_route(ist, out, &target, false).map_err(|e| {
            format!("{muxer} cannot hold the input's {} audio, and it cannot be re-encoded ({e}): write {way_out}", params.id().name())
        })?;
        let (converter, _) = conversion.as_ref().expect("a converted route");
        let mut ost = octx.stream_mut(out).expect("the stream just added");
        ost.set_parameters(converter.encoder());
        ost.set_time_base(ff::Rational::new(1, target.rate as i32));
        let what = if tracks > 1 { format!("audio track {track}") } else { "sound".to_string() };
        log::warn!(
            "{name}: its {what} ({}) is re-encoded as {} for {muxer}, which cannot hold it (write {way_out} to keep it as it is)",
            describe(&params),
            target.id.name(),
        );
        (OutStream { index: out, shape: None, encoded: Some(target) }, route, conversion)
    };
    let mut ost = octx.stream_mut(out).expect("the stream just added");
    // The track's language, title and default / forced flags.
    ost.set_metadata(ist.metadata().to_owned());
    set_disposition(&mut ost, ist.disposition());
    Ok(made)
}

/// The way a later source's track `track` joins output stream `out`: copied where it is coded
/// as the output's, else re-encoded into it (said); `None` where kino cannot encode the
/// output's codec (said).
fn join_stream(
    octx: &ff::format::context::Output,
    container: &Container,
    ist: &ff::format::stream::Stream<'_>,
    track: usize,
    out: &OutStream,
    name: &str,
    written: &std::collections::HashMap<usize, Written>,
) -> Option<(Route, Conversion)> {
    let params = ist.parameters();
    let output_adts = written.get(&out.index).is_some_and(|w| w.adts);
    let theirs = || octx.stream(out.index).map(|s| describe(&s.parameters())).unwrap_or_default();
    let target = match out.encoded {
        Some(target) => {
            log::warn!("{name}: its audio track {track} ({}) is re-encoded as {} too", describe(&params), target.id.name());
            target
        }
        None if out.shape.is_some() && stream_shape(params.clone()) == out.shape => {
            return Some((Route { adts: AdtsFix::between(&params, output_adts), ..Route::new(ist, out.index) }, None));
        }
        None => {
            let Some(target) = octx.stream(out.index).and_then(|s| Target::of_stream(&s.parameters(), container.global_header)) else {
                log::warn!(
                    "{name}: its audio track {track} ({}) differs from the first clip's ({}), which kino cannot encode: it is not copied",
                    describe(&params),
                    theirs()
                );
                return None;
            };
            log::warn!(
                "{name}: its audio track {track} ({}) is re-encoded as the first clip's ({}) to follow it in one track",
                describe(&params),
                theirs()
            );
            target
        }
    };
    converted_route(ist, out.index, &target, output_adts)
        .map_err(|e| log::warn!("{name}: its audio track {track} ({}) is not copied: {e}", describe(&params)))
        .ok()
}

/// Where a source's sound ends, in its own time (seconds), as its streams declare it, or
/// the file (Matroska declares no stream's length); `None` where neither says.
fn declared_sound_end(input: &ff::format::context::Input, audio: &[ff::format::stream::Stream<'_>]) -> Option<f64> {
    let end = audio.iter().filter_map(stream_end).fold(f64::NEG_INFINITY, f64::max);
    if end.is_finite() {
        return Some(end);
    }
    super::decode::declared_end(input)
}

impl AudioCopy {
    /// Opens the sources and adds one output stream per audio stream of the first that has any
    /// (container metadata from the first source). Sound is copied where it can be, else
    /// re-encoded, with a warning: a first source's codec the container cannot hold (AAC in
    /// WebM, PCM in MP4) as one it holds (Opus, AAC), and a later source's stream that differs
    /// from the output's (codec, rate or channels) into the output's. A later source's streams
    /// beyond the output's count are left out. `None`: no audio at all.
    pub(super) fn add_streams(
        octx: &mut ff::format::context::Output,
        sources: Vec<OpenedSource<'_>>,
    ) -> std::result::Result<Option<Self>, String> {
        let container = Container {
            name: container_name(octx),
            webm: octx.format().name() == "webm",
            global_header: octx.format().flags().contains(ff::format::Flags::GLOBAL_HEADER),
        };
        let mut segments: Vec<Segment> = Vec::new();
        let mut outs: Vec<OutStream> = Vec::new();
        let mut written: std::collections::HashMap<usize, Written> = Default::default();
        for OpenedSource { source: src, input, at } in sources {
            let name = src.path.display().to_string();
            let audio: Vec<ff::format::stream::Stream<'_>> =
                input.streams().filter(|s| s.parameters().medium() == ff::media::Type::Audio).collect();
            if audio.is_empty() {
                continue;
            }
            let (mut map, mut converters) = (Vec::new(), Vec::new());
            if outs.is_empty() {
                for (track, ist) in audio.iter().enumerate() {
                    let (out, route, conversion) = start_stream(octx, &container, ist, (track, audio.len()), &name, &mut written)?;
                    outs.push(out);
                    map.push(route);
                    converters.push(conversion);
                }
            } else {
                let count = |n: usize| format!("{n} track{}", if n == 1 { "" } else { "s" });
                if audio.len() != outs.len() {
                    let others = if audio.len() < outs.len() { "the others are silent under it" } else { "the others are left out" };
                    log::warn!("{name}: its audio has {} where the first clip's has {}: {others}", count(audio.len()), outs.len());
                }
                for (track, (ist, out)) in audio.iter().zip(&outs).enumerate() {
                    if let Some((route, conversion)) = join_stream(octx, &container, ist, track, out, &name, &written) {
                        map.push(route);
                        converters.push(conversion);
                    }
                }
                if map.is_empty() {
                    continue;
                }
            }
            let origin = video_origin(&input);
            let until = src.until_seconds.unwrap_or(f64::INFINITY);
            // Sound past the source's last picture (or where other footage follows) is left
            // out: said where the source declares that it runs on.
            // Said once sound past it is met (a file cut short declares more than it holds).
            let runs_on = until.is_finite().then(|| {
                let declared = declared_sound_end(&input, &audio).map_or(0.0, |end| end - origin + src.offset_seconds - until);
                (name.clone(), declared)
            });
            drop(audio);
            segments.push(Segment {
                input,
                _at: at,
                map,
                converters,
                converted: VecDeque::new(),
                offset_seconds: src.offset_seconds - origin,
                start_seconds: src.offset_seconds,
                until_seconds: until,
                next: None,
                done: false,
                lead_unsaid: Some(name),
                runs_on,
            });
        }
        if segments.is_empty() {
            return Ok(None);
        }
        Ok(Some(AudioCopy { segments, outs: outs.iter().map(|o| o.index).collect(), written }))
    }

    /// How many audio streams the output has.
    pub(super) fn streams(&self) -> usize {
        self.outs.len()
    }

    /// Writes every audio packet that starts before `until` seconds (all of them for infinity),
    /// source after source: their times do not overlap, so the streams stay in order.
    pub(super) fn write_until(&mut self, octx: &mut ff::format::context::Output, until: f64) -> std::result::Result<(), String> {
        for seg in &mut self.segments {
            seg.write_until(octx, until, &mut self.written)?;
        }
        Ok(())
    }

    /// Pads every output audio stream with silence up to the video's end (`seconds`): after an
    /// append the new footage is silent, and a stream that no source put sound into (a bridge
    /// written alone carries the clips' audio streams with none of their sound) is silent over
    /// the whole video; an empty or short stream is one that editors and muxers handle badly.
    /// A stream in a codec kino has no silence for ends where its sound does (an empty one
    /// with a warning).
    pub(super) fn pad_with_silence(&mut self, octx: &mut ff::format::context::Output, seconds: f64) -> std::result::Result<(), String> {
        for &out in &self.outs {
            let state = self.written.entry(out).or_default();
            let Some(tb) = octx.stream(out).map(|s| s.time_base()) else { continue };
            if silence_of(octx, out, state.adts, &mut state.silence).is_none() {
                if state.end.is_none() {
                    let codec = codec_name(octx, out);
                    log::warn!("audio stream {out} ({codec}): {NO_SILENCE}; the stream carries no sound");
                }
                continue;
            }
            let until = (seconds / f64::from(tb)).round() as i64;
            fill_silence(octx, out, tb, state, until)?;
        }
        Ok(())
    }
}

impl Segment {
    /// Moves a converter's packets to the queue, as packets of input stream `input`.
    fn take_converted(converter: &mut Converter, input: usize, queue: &mut VecDeque<ff::Packet>) {
        while let Some(mut p) = converter.pop() {
            p.set_stream(input);
            queue.push_back(p);
        }
    }

    fn write_until(
        &mut self,
        octx: &mut ff::format::context::Output,
        until: f64,
        written: &mut std::collections::HashMap<usize, Written>,
    ) -> std::result::Result<(), String> {
        loop {
            if self.next.is_none() {
                if let Some(p) = self.converted.pop_front() {
                    self.next = Some(p);
                } else if !self.done {
                    let mut p = ff::Packet::empty();
                    match p.read(&mut self.input) {
                        Ok(()) => {
                            if let Some(k) = self.map.iter().position(|m| m.input == p.stream()) {
                                match &mut self.converters[k] {
                                    Some((converter, tb)) => {
                                        converter.push(&p, *tb);
                                        Self::take_converted(converter, self.map[k].input, &mut self.converted);
                                    }
                                    None => self.next = Some(p),
                                }
                            }
                        }
                        // The end, or a damaged tail of the source's audio: it ends the copy,
                        // not the video.
                        Err(_) => {
                            self.done = true;
                            for (k, c) in self.converters.iter_mut().enumerate() {
                                if let Some((converter, tb)) = c {
                                    converter.finish(*tb);
                                    Self::take_converted(converter, self.map[k].input, &mut self.converted);
                                }
                            }
                        }
                    }
                    continue;
                }
            }
            let Some(p) = self.next.take() else { return Ok(()) };
            let route = *self.map.iter().find(|m| m.input == p.stream()).expect("mapped stream");
            let (out, in_tb) = (route.output, route.time_base);
            let t = p.pts().or(p.dts()).unwrap_or(0) as f64 * f64::from(in_tb) + self.offset_seconds;
            // As before the first picture, sound starting within a few tens of ms after the
            // last picture (where a mux ends its streams) is still the clip's.
            if t >= self.until_seconds + LEAD_KEPT {
                // Other footage follows from here: the rest of this source is left out.
                if let Some((name, declared)) = self.runs_on.take() {
                    let over = declared.max(t - self.until_seconds);
                    log::warn!("{name}: its sound runs on {over:.2} s past its last picture; that part is left out");
                }
                self.done = true;
                self.converted.clear();
                return Ok(());
            }
            let lasts = match p.duration() {
                d if d > 0 => d as f64 * f64::from(in_tb),
                _ => route.seconds_of(&p),
            };
            if t - self.start_seconds + lasts < -LEAD_KEPT {
                // Sound from well before the clip's first frame (a cut whose audio starts
                // early). A packet that reaches into the clip, or nearly, stays: its sound plays
                // under the first frame (an AAC stream's first packet primes the decoder for the
                // next; Matroska's Opus starts a pre-skip, 6.5 ms, earlier on each copy).
                if let Some(name) = self.lead_unsaid.take() {
                    log::warn!(
                        "{name}: its sound starts {:.2} s before its first picture; that part is left out (the output starts with the picture, in sync)",
                        self.start_seconds - t
                    );
                }
                continue;
            }
            if t > until {
                self.next = Some(p);
                return Ok(());
            }
            let Some(mut p) = route.adts.apply(p) else { continue };
            let out_tb = octx.stream(out).map(|s| s.time_base()).unwrap_or(in_tb);
            p.rescale_ts(in_tb, out_tb);
            let shift = (self.offset_seconds / f64::from(out_tb)).round() as i64;
            p.set_pts(p.pts().map(|x| x + shift));
            p.set_dts(p.dts().map(|x| x + shift));
            p.set_position(-1);
            p.set_stream(out);
            let state = written.entry(out).or_default();
            if let Some(dts) = p.dts().or(p.pts()) {
                if state.last_dts.is_some_and(|last| dts <= last) {
                    continue;
                }
            }
            if let Some(pts) = p.pts() {
                // Sound missing before this packet (a bridge's new footage, the new footage
                // before a clip extended backwards) becomes real silence.
                fill_silence(octx, out, out_tb, state, pts)?;
                // A packet without a duration (Matroska's PCM) is measured by its size. A lossy
                // codec's frame decodes whole whatever its packet declares (an encoder's trimmed
                // last frame), and readers that take sound sample after sample play all of it,
                // so silence after it starts where its frame ends.
                // The frame is the one before's (the codec's own frame size is not always known:
                // Opus frames vary).
                let frame = state.frame.max((route.frame_seconds / f64::from(out_tb)).round() as i64);
                let declared = match p.duration() {
                    d if d > 0 => Some(d),
                    _ => silence_of(octx, out, state.adts, &mut state.silence).and_then(|s| s.pcm_duration(p.size(), out_tb)),
                };
                let duration = match declared {
                    Some(d) if route.whole_frames => Some(d.max(frame)),
                    Some(d) => Some(d),
                    None => match (route.seconds_of(&p) / f64::from(out_tb)).round() as i64 {
                        0 => (frame > 0).then_some(frame),
                        own => Some(own),
                    },
                };
                state.frame = declared.unwrap_or(state.frame);
                state.end = Some(duration.map_or(End::Unknown, |d| End::At(pts + d)));
            }
            state.last_dts = p.dts().or(p.pts()).or(state.last_dts);
            p.write_interleaved(octx).map_err(|e| format!("copying audio: {e}"))?;
        }
    }
}

/// Why a stream gets no silence, for both warnings.
const NO_SILENCE: &str = "kino cannot write silence in this codec or channel layout (it writes PCM, and the codecs whose FFmpeg encoder makes frames this stream decodes: AAC-LC, Opus, MP3, MP2, AC-3, E-AC-3, FLAC, ALAC)";

/// Output stream `out`'s codec, for messages.
fn codec_name(octx: &ff::format::context::Output, out: usize) -> String {
    octx.stream(out).map(|s| format!("{:?}", s.parameters().id())).unwrap_or_default()
}

/// Output stream `out`'s silence, made the first time it is asked for.
fn silence_of<'a>(
    octx: &ff::format::context::Output,
    out: usize,
    adts: bool,
    slot: &'a mut Option<Option<Silence>>,
) -> Option<&'a Silence> {
    slot.get_or_insert_with(|| octx.stream(out).and_then(|s| Silence::for_stream(s.parameters(), adts))).as_ref()
}

/// Writes silence into output stream `out` from where its sound ends (0 before any) up to
/// `until` (both in `tb`), when that is at least half a frame of silence long.
fn fill_silence(
    octx: &mut ff::format::context::Output,
    out: usize,
    tb: ff::Rational,
    state: &mut Written,
    until: i64,
) -> std::result::Result<(), String> {
    let (from, until) = match state.end {
        // The decoder drops the stream's first samples (Opus's pre-skip): silence that starts
        // the stream covers them too, or all the sound after it would play that much early.
        None => {
            let padding = octx.stream(out).map_or(0, |s| initial_padding(&s.parameters()));
            let rate = silence_of(octx, out, state.adts, &mut state.silence).map_or(0, |s| s.rate);
            let ahead = if rate > 0 { ff::rescale::Rescale::rescale(&padding, ff::Rational::new(1, rate as i32), tb) } else { 0 };
            (0, until + ahead)
        }
        Some(End::At(t)) => (t, until),
        Some(End::Unknown) => return Ok(()),
    };
    if until <= from {
        return Ok(());
    }
    let Some(silence) = silence_of(octx, out, state.adts, &mut state.silence) else {
        if !state.warned && (until - from) as f64 * f64::from(tb) > 0.05 {
            state.warned = true;
            let codec = codec_name(octx, out);
            log::warn!("audio stream {out} ({codec}): {NO_SILENCE}; the stretch without sound is a jump in its timestamps (players keep it, some editors close it)");
        }
        return Ok(());
    };
    // In samples at the stream's rate.
    let samples = ff::Rational::new(1, silence.rate as i32);
    let (start, stop) = (ff::rescale::Rescale::rescale(&from, tb, samples), ff::rescale::Rescale::rescale(&until, tb, samples));
    // Under half a frame of silence is timestamp rounding (Matroska's milliseconds), not a gap.
    if stop - start < silence.frame_samples() / 2 {
        return Ok(());
    }
    let mut wrote = false;
    for (at, n, data) in silence.packets(start, stop - start) {
        let mut p = ff::Packet::copy(&data);
        let t = ff::rescale::Rescale::rescale(&at, samples, tb);
        p.set_pts(Some(t));
        p.set_dts(Some(t));
        p.set_duration(ff::rescale::Rescale::rescale(&n, samples, tb));
        p.set_stream(out);
        p.set_flags(ff::packet::Flags::KEY);
        if state.last_dts.is_some_and(|last| t <= last) {
            continue;
        }
        state.last_dts = Some(t);
        state.end = Some(End::At(t + p.duration()));
        p.write_interleaved(octx).map_err(|e| format!("writing silence: {e}"))?;
        wrote = true;
    }
    if wrote {
        log::debug!("audio stream {out}: silence from {from} to {until} (time base {tb})");
    }
    Ok(())
}

/// Whether `path` has an audio stream (false where it cannot be read).
pub(super) fn has_audio(path: &Path) -> bool {
    let Ok(at) = super::ffpath::FfmpegPath::input(path) else { return false };
    let Ok(input) = ff::format::input(at.as_path()) else { return false };
    let found = input.streams().any(|s| s.parameters().medium() == ff::media::Type::Audio);
    found
}

/// The tracks of `path` that kino does not carry into its output (it writes one video track,
/// copies audio, and carries a timecode track's timecode): other video tracks, subtitles, data
/// tracks, attachments,
/// as "1 subtitle track". Empty
/// when there are none or the file cannot be read (reading it for frames says why).
pub fn tracks_left_behind(path: &std::path::Path) -> Vec<String> {
    if super::init().is_err() {
        return Vec::new();
    }
    let Ok(at) = super::ffpath::FfmpegPath::input(path) else { return Vec::new() };
    let Ok(input) = ff::format::input(at.as_path()) else { return Vec::new() };
    let mut counts: Vec<(&str, usize)> = Vec::new();
    let best_video = input.streams().best(ff::media::Type::Video).map(|s| s.index());
    let is_mov = input.format().name().starts_with("mov");
    for s in input.streams() {
        let kind = match s.parameters().medium() {
            // kino reads the file's main video stream; another (a second angle, a cover picture) stays behind.
            ff::media::Type::Video if s.disposition().contains(ff::format::stream::Disposition::ATTACHED_PIC) => "cover picture",
            ff::media::Type::Video if Some(s.index()) != best_video => "other video",
            ff::media::Type::Video | ff::media::Type::Audio => continue,
            // MP4 and MOV keep chapters' titles in a text track as well, a sample per chapter
            // (FFmpeg shows it as text, or as data once it has read the chapters from it): the
            // chapters are carried.
            ff::media::Type::Subtitle | ff::media::Type::Data
                if is_mov
                    && matches!(s.parameters().id(), ff::codec::Id::MOV_TEXT | ff::codec::Id::TEXT | ff::codec::Id::BIN_DATA)
                    && input.nb_chapters() > 0
                    && s.frames() == i64::from(input.nb_chapters()) =>
            {
                continue
            }
            ff::media::Type::Subtitle => "subtitle",
            // A timecode track: its timecode is the output's (moved to its first frame).
            ff::media::Type::Data if s.metadata().iter().any(|(k, _)| k.eq_ignore_ascii_case("timecode")) => continue,
            ff::media::Type::Data => "data",
            ff::media::Type::Attachment => "attachment",
            _ => "other",
        };
        match counts.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, n)) => *n += 1,
            None => counts.push((kind, 1)),
        }
    }
    counts.into_iter().map(|(k, n)| format!("{n} {k} track{}", if n == 1 { "" } else { "s" })).collect()
}

#[cfg(test)]
mod tests {
    use super::opus_packet_samples;

    #[test]
    fn opus_packets_last_as_their_table_of_contents_says() {
        assert_eq!(opus_packet_samples(&[0xF8, 0]), Some(960), "CELT 20 ms, one frame");
        assert_eq!(opus_packet_samples(&[0x18, 0]), Some(2880), "SILK 60 ms");
        assert_eq!(opus_packet_samples(&[0x60, 0]), Some(480), "hybrid 10 ms");
        assert_eq!(opus_packet_samples(&[0x81]), Some(240), "CELT 2.5 ms, two frames");
        assert_eq!(opus_packet_samples(&[0xFB, 0x03]), Some(2880), "CELT 20 ms, three frames (code 3)");
        assert_eq!(opus_packet_samples(&[0xFB]), None, "code 3 without its count byte");
        assert_eq!(opus_packet_samples(&[]), None);
    }
}
