//! Times people type (`2`, `2.5s`, `16f`) and storyboards (a prompt per line, each from a time
//! on), parsed once for every front door. Errors name the flag or line they came from.

use crate::error::{Error, Result};

use super::PromptAt;

/// A time as a frame index at `fps`: seconds (`2`, `2.5`, `2s`) rounded to the nearest frame, or
/// frames (`16f`). `what` names the value in messages (a flag, a storyboard line).
pub fn parse_time(s: &str, fps: f64, what: &str) -> Result<u32> {
    let t = s.trim().to_ascii_lowercase();
    let bad =
        |why: &str| Error::InvalidRequest(format!("{what}: {} {why}; use seconds (2, 2.5 or 2s) or frames (16f)", crate::error::quoted(s)));
    // Frames: digits and an `f` (`inf` is a word, read below as a time).
    if let Some(n) = t.strip_suffix('f').map(str::trim).filter(|n| n.bytes().all(|b| b.is_ascii_digit() || b == b'.' || b == b'-')) {
        if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("is not a whole number of frames"));
        }
        return n.parse::<u32>().map_err(|_| bad("is too large"));
    }
    let secs: f64 = t.strip_suffix('s').unwrap_or(&t).trim().parse().map_err(|_| bad("is not a time"))?;
    if !secs.is_finite() || secs < 0.0 {
        return Err(bad("is not a time from 0 on"));
    }
    let frames = (secs * fps).round();
    if frames > u32::MAX as f64 {
        return Err(bad("is too large"));
    }
    Ok(frames as u32)
}

/// A storyboard: lines `TIME PROMPT` (`0s a red circle moving left`), blank lines and lines
/// starting with `#` skipped (a `#` later in a line is part of its prompt). The first line is at
/// 0; times rise line by line. A leading byte-order mark (some editors write one) is skipped.
pub fn parse_storyboard(text: &str, fps: f64) -> Result<Vec<PromptAt>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out: Vec<PromptAt> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let what = format!("storyboard line {}", i + 1);
        let (time, prompt) = line.split_once(char::is_whitespace).ok_or_else(|| {
            Error::InvalidRequest(format!(
                "{what}: {} has no prompt after its time; write TIME PROMPT, e.g. 0s a red circle moving left",
                crate::error::quoted(line)
            ))
        })?;
        let frame = parse_time(time, fps, &what)?;
        let chars = prompt.trim().chars().count();
        if chars > crate::text::MAX_PROMPT_CHARS {
            return Err(Error::InvalidRequest(format!(
                "{what}: its prompt is {chars} characters long; the limit is {}",
                crate::text::MAX_PROMPT_CHARS
            )));
        }
        match out.last() {
            None if frame != 0 => {
                return Err(Error::InvalidRequest(format!("{what}: the first prompt starts the clip, so its time is 0s, not {time}")));
            }
            Some(prev) if frame <= prev.frame => {
                return Err(Error::InvalidRequest(format!("{what}: {time} is not after the line before it; list prompts in time order")));
            }
            _ => {}
        }
        out.push(PromptAt::typed(frame, prompt, what));
    }
    if out.is_empty() {
        return Err(Error::InvalidRequest("the storyboard has no lines: write one TIME PROMPT per line".into()));
    }
    Ok(out)
}

/// One keyframe as typed: `TIME=IMAGE` (`2s=start.png`, `16f=/path/to/key.png`); its frame at
/// `fps` and the image's path. `what` names it in messages (a flag, a panel field).
pub fn parse_keyframe(entry: &str, fps: f64, what: &str) -> Result<(u32, std::path::PathBuf)> {
    let (time, path) = entry.split_once('=').ok_or_else(|| {
        Error::InvalidRequest(format!("{what} {}: write TIME=IMAGE, e.g. 2s=start.png", crate::error::quoted(entry.trim())))
    })?;
    let frame = parse_time(time, fps, what)?;
    let path = path.trim();
    if path.is_empty() {
        return Err(Error::InvalidRequest(format!("{what} {}: no image after =", crate::error::quoted(entry.trim()))));
    }
    Ok((frame, path.into()))
}

/// Keyframes typed in one text field: `TIME=IMAGE` entries, or `TIME IMAGE` (hosts such as MLT
/// read any value with `=` in it as an animation of their own), one per line or `;` between,
/// blank entries skipped. Errors name the entry's place (`Keyframes entry 2`).
pub fn parse_keyframe_list(text: &str, fps: f64, what: &str) -> Result<Vec<(u32, std::path::PathBuf)>> {
    text.split(['\n', ';'])
        .filter(|e| !e.trim().is_empty())
        .enumerate()
        .map(|(i, e)| {
            let e = e.trim();
            let place = format!("{what} entry {}", i + 1);
            // `TIME=IMAGE` where what comes before the first `=` is a time; else `TIME IMAGE`.
            let equals = e.split_once('=').is_some_and(|(t, _)| parse_time(t, fps, &place).is_ok());
            match e.split_once(char::is_whitespace) {
                _ if equals => parse_keyframe(e, fps, &place),
                Some((time, image)) => parse_keyframe(&format!("{time}={}", image.trim()), fps, &place),
                None => Err(Error::InvalidRequest(format!(
                    "{place} {}: write TIME IMAGE or TIME=IMAGE, e.g. 2s /path/start.png",
                    crate::error::quoted(e)
                ))),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyframes_as_typed() {
        assert_eq!(parse_keyframe("2s=a.png", 8.0, "--keyframe").unwrap(), (16, "a.png".into()));
        let list = parse_keyframe_list("0=a.png;\n 16f = /tmp/b c.png ;", 8.0, "Keyframes").unwrap();
        assert_eq!(list, [(0, "a.png".into()), (16, "/tmp/b c.png".into())]);
        assert!(parse_keyframe_list("", 8.0, "Keyframes").unwrap().is_empty());
        // Without `=` (MLT): TIME, then the image.
        let list = parse_keyframe_list("0 a.png; 2s /tmp/b c.png; 3 /x=y.png", 8.0, "Keyframes").unwrap();
        assert_eq!(list, [(0, "a.png".into()), (16, "/tmp/b c.png".into()), (24, "/x=y.png".into())]);
        // An image alone (MLT kept only what followed an `=`): both forms are named.
        let e = parse_keyframe_list("/tmp/a.png", 8.0, "Keyframes").unwrap_err().to_string();
        assert!(e.contains("Keyframes entry 1") && e.contains("TIME IMAGE"), "{e}");
        let e = parse_keyframe_list("1=a.png; 2s", 8.0, "Keyframes").unwrap_err().to_string();
        assert!(e.contains("Keyframes entry 2") && e.contains("TIME=IMAGE"), "{e}");
        let e = parse_keyframe("x=a.png", 8.0, "--keyframe").unwrap_err().to_string();
        assert!(e.contains("--keyframe") && e.contains("not a time"), "{e}");
        assert!(parse_keyframe("2=", 8.0, "--keyframe").unwrap_err().to_string().contains("no image"));
    }

    #[test]
    fn times_in_seconds_or_frames() {
        assert_eq!(parse_time("2", 8.0, "t").unwrap(), 16);
        assert_eq!(parse_time("2.5s", 8.0, "t").unwrap(), 20);
        assert_eq!(parse_time(" 16f ", 8.0, "t").unwrap(), 16);
        assert_eq!(parse_time("0.06", 8.0, "t").unwrap(), 0);
        for bad in ["", "-1", "x", "2m", "1.5f", "f", "nan", "inf", "99999999999f"] {
            let e = parse_time(bad, 8.0, "--prompt-at").unwrap_err().to_string();
            assert!(e.contains("--prompt-at"), "{bad}: {e}");
        }
        let e = parse_time("inf", 8.0, "t").unwrap_err().to_string();
        assert!(e.contains("not a time"), "a word ending in f is not frames: {e}");
    }

    #[test]
    fn storyboards_name_the_line_at_fault() {
        let board = parse_storyboard("# a story\n0s a red circle moving left\n\n4s a red circle moving up\n", 8.0).unwrap();
        assert_eq!(
            board,
            vec![
                PromptAt::typed(0, "a red circle moving left", "storyboard line 2"),
                PromptAt::typed(32, "a red circle moving up", "storyboard line 4"),
            ]
        );
        let err = |text: &str| parse_storyboard(text, 8.0).unwrap_err().to_string();
        assert!(err("0s a\n4s b\n2s c").contains("line 3"));
        assert!(err("0s a\n0s b").contains("line 2"));
        assert!(err("1s a").contains("line 1"));
        assert!(err("0s a\n4s").contains("line 2"));
        assert!(err("0s a\nsoon b").contains("line 2"));
        assert!(err("\n# nothing\n").contains("no lines"));
        // A prompt over the limit is named by its line, the first line (the clip's prompt) too.
        let long = "x".repeat(crate::text::MAX_PROMPT_CHARS + 1);
        assert!(err(&format!("0s {long}\n4s b")).starts_with("storyboard line 1: its prompt is 20001 characters"));
        assert!(err(&format!("0s a\n\n4s {long}")).starts_with("storyboard line 3"));
        // Windows editors: a byte-order mark and CRLF line ends.
        let crlf = parse_storyboard("\u{feff}0s a red circle moving left\r\n4s a red circle moving up\r\n", 8.0).unwrap();
        let timed = |b: &[PromptAt]| b.iter().map(|p| (p.frame, p.prompt.clone())).collect::<Vec<_>>();
        assert_eq!(timed(&crlf), timed(&board));
        assert_eq!(crlf[1].place, "storyboard line 2");
    }
}
