//! What a written video carries over from the clips it is made of besides pictures and sound:
//! the first clip's container tags (title, comment, ...), its timecode moved to the output's first
//! frame, and every clip's chapters at the clip's place in the output.

use ffmpeg_next as ff;

use super::audio::{video_origin, OpenedSource};

/// Sets `octx`'s tags and chapters from `sources` (the output's video runs at `fps`); what cannot
/// be read is left out (reading the clips for frames says why).
pub(super) fn carry_tags_and_chapters(octx: &mut ff::format::context::Output, sources: &[OpenedSource<'_>], fps: f64) {
    let mut chapters: Vec<(f64, f64, String)> = Vec::new();
    let mut tags = ff::Dictionary::new();
    let mut timecode = Carried::NotFound;
    for (k, OpenedSource { source: src, input, .. }) in sources.iter().enumerate() {
        if k == 0 {
            for (key, value) in input.metadata().iter().filter(|(key, _)| !is_timecode(key)) {
                tags.set(key, value);
            }
        }
        // The first clip that has a timecode gives the output's (a bridge's B where A has none).
        if matches!(timecode, Carried::NotFound) {
            if let Some(tc) = clip_timecode(input) {
                timecode = moved(&tc, src.offset_seconds, fps, src.path).map_or(Carried::Unmovable, Carried::Moved);
            }
        }
        let origin = video_origin(input);
        let until = src.until_seconds.unwrap_or(f64::INFINITY);
        for chapter in input.chapters() {
            let tb = f64::from(chapter.time_base());
            // In output seconds: the clip's first frame is at its offset.
            let start = (chapter.start() as f64 * tb - origin + src.offset_seconds).max(src.offset_seconds);
            let end = (chapter.end() as f64 * tb - origin + src.offset_seconds).min(until);
            // A chapter of no length is a marker, kept where it falls inside the clip; one of
            // some length is kept where any of it does.
            let marker = chapter.end() == chapter.start();
            if end < start || end == start && !marker {
                continue;
            }
            chapters.push((start, end, chapter.metadata().get("title").unwrap_or_default().to_string()));
        }
    }
    if let Carried::Moved(tc) = timecode {
        tags.set("timecode", &tc);
    }
    octx.set_metadata(tags);
    // MP4 and MOV keep chapters as a track of titles that runs from 0 s: a first chapter that
    // starts later would be read back as starting at 0, so the footage before it is a chapter
    // without a title.
    let mov = matches!(octx.format().name(), "mp4" | "mov" | "ipod");
    if mov && chapters.first().is_some_and(|c| c.0 >= 0.001) {
        chapters.insert(0, (0.0, chapters[0].0, String::new()));
    }
    let ms = |t: f64| (t * 1000.0).round() as i64;
    for (id, (start, end, title)) in chapters.iter().enumerate() {
        if octx.add_chapter(id as i64 + 1, (1, 1000), ms(*start), ms(*end), title).is_err() {
            log::debug!("chapter {title:?} ({start:.3} to {end:.3} s) is not written");
        }
    }
}

/// The output's timecode as the clips give it.
enum Carried {
    /// No clip has been found with one yet.
    NotFound,
    /// The first clip that has one, moved to the output's first frame.
    Moved(String),
    /// The first clip that has one has one that cannot be moved (said): the output has none.
    Unmovable,
}

fn is_timecode(key: &str) -> bool {
    key.eq_ignore_ascii_case("timecode")
}

/// A clip's timecode: its container's, else its video or timecode track's.
fn clip_timecode(input: &ff::format::context::Input) -> Option<String> {
    let own = |d: ff::DictionaryRef<'_>| d.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>();
    own(input.metadata()).into_iter().chain(input.streams().flat_map(|s| own(s.metadata()))).find(|(k, _)| is_timecode(k)).map(|(_, v)| v)
}

/// Timecode `tc` of a clip whose first frame is `shift` seconds into the output, moved to the
/// output's first frame; `None` (said) where it cannot be.
fn moved(tc: &str, shift: f64, fps: f64, path: &std::path::Path) -> Option<String> {
    let frames = (shift * fps).round() as i64;
    match Timecode::parse(tc, fps) {
        Some(t) => Some(t.plus(-frames).to_string()),
        None if frames == 0 => Some(tc.to_string()),
        None => {
            log::warn!("{}: its timecode {tc:?} is not one kino can move to the output's first frame; it is left out", path.display());
            None
        }
    }
}

/// A SMPTE timecode at a frame rate: `HH:MM:SS:FF`, or `HH:MM:SS;FF` counted drop-frame (29.97
/// and 59.94 fps leave out frame numbers 0 and 1 (0 to 3) of each minute but every tenth).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Timecode {
    /// Frames since 00:00:00:00.
    frame: i64,
    /// Frame numbers per second (30 for 29.97 fps).
    rate: i64,
    drop: bool,
}

impl Timecode {
    /// `text` at `fps`; `None` where it is not a timecode of that rate.
    pub(super) fn parse(text: &str, fps: f64) -> Option<Timecode> {
        let rate = fps.round() as i64;
        let drop = text.contains(';') || text.matches('.').count() == 1;
        let digits = |f: &str| (!f.is_empty() && f.bytes().all(|b| b.is_ascii_digit())).then(|| f.parse::<i64>().ok()).flatten();
        let fields: Vec<i64> = text.trim().split([':', ';', '.']).map(digits).collect::<Option<_>>()?;
        let &[h, m, s, f] = fields.as_slice() else { return None };
        if rate < 1
            || drop && rate % 30 != 0
            || !(0..24).contains(&h)
            || !(0..60).contains(&m)
            || !(0..60).contains(&s)
            || !(0..rate).contains(&f)
        {
            return None;
        }
        let minutes = h * 60 + m;
        let dropped = if drop { rate / 15 * (minutes - minutes / 10) } else { 0 };
        Some(Timecode { frame: (minutes * 60 + s) * rate + f - dropped, rate, drop })
    }

    /// This timecode `frames` later (earlier where negative), round the clock as timecode is.
    pub(super) fn plus(self, frames: i64) -> Timecode {
        let day = if self.drop { 24 * 6 * self.per_ten_minutes() } else { 24 * 3600 * self.rate };
        Timecode { frame: (self.frame + frames).rem_euclid(day), ..self }
    }

    /// Frames in ten minutes (drop-frame: nine of its minutes lose `rate / 15` numbers).
    fn per_ten_minutes(self) -> i64 {
        600 * self.rate - if self.drop { 9 * (self.rate / 15) } else { 0 }
    }
}

impl std::fmt::Display for Timecode {
    fn fmt(&self, out: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut n = self.frame;
        if self.drop {
            // Put back the numbers left out before this frame.
            let d = self.rate / 15;
            let (tens, rest) = (n / self.per_ten_minutes(), n % self.per_ten_minutes());
            n += 9 * d * tens + if rest > d { d * ((rest - d) / (60 * self.rate - d)) } else { 0 };
        }
        let (f, s) = (n % self.rate, n / self.rate);
        let sep = if self.drop { ';' } else { ':' };
        write!(out, "{:02}:{:02}:{:02}{sep}{:02}", s / 3600, s / 60 % 60, s % 60, f)
    }
}

#[cfg(test)]
mod tests {
    use super::Timecode;

    fn moved(tc: &str, fps: f64, frames: i64) -> String {
        Timecode::parse(tc, fps).unwrap().plus(frames).to_string()
    }

    #[test]
    fn timecode_moves_by_frames_at_its_rate() {
        assert_eq!(moved("01:00:00:00", 8.0, -17), "00:59:57:07");
        assert_eq!(moved("01:00:00:0", 8.0, 0), "01:00:00:00", "FFmpeg writes one digit under 10 fps");
        assert_eq!(moved("10:00:00:00", 25.0, 25 * 3600), "11:00:00:00");
        assert_eq!(moved("00:00:01:00", 24.0, -48), "23:59:59:00", "round the clock");
        assert_eq!(moved("23:59:59:23", 24.0, 1), "00:00:00:00");
        // Drop-frame: 00:01:00;00 and ;01 do not exist; the frame before 00:01:00;02 is 00:00:59;29.
        assert_eq!(moved("00:01:00;02", 30000.0 / 1001.0, -1), "00:00:59;29");
        assert_eq!(moved("00:00:59;29", 30000.0 / 1001.0, 1), "00:01:00;02");
        // Every tenth minute keeps its numbers.
        assert_eq!(moved("00:09:59;29", 30000.0 / 1001.0, 1), "00:10:00;00");
        assert_eq!(moved("00:10:00;00", 30000.0 / 1001.0, -1), "00:09:59;29");
        // An hour of 29.97 fps is 107892 frames.
        assert_eq!(moved("01:00:00;00", 30000.0 / 1001.0, -107_892), "00:00:00;00");
        assert_eq!(moved("00:00:00;00", 60000.0 / 1001.0, 60 * 60), "00:01:00;04");
        for bad in ["1:2:3", "aa:00:00:00", "00:61:00:00", "00:00:00:30", "00:00:00;00", "-00:00:01:00", "+01:00:00:00"] {
            assert_eq!(Timecode::parse(bad, if bad.contains(';') { 25.0 } else { 30.0 }), None, "{bad}");
        }
    }
}
