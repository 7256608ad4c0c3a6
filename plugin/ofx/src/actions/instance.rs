//! The effect instance an action works on, with the helpers every effect uses, and what the
//! output shows at a time.

use crate::abi::*;
use crate::jobs::{self, JobKey, Outcome};
use crate::params;
use crate::render;
use crate::suites::{Clip, Effect};
use crate::{animate, bridge, extend, generate, remix, Kind};

/// An effect instance during an action, with the helpers every effect uses.
pub struct Instance {
    pub kind: Kind,
    pub fx: Effect,
}

/// What the output shows at one time.
pub enum Shown {
    /// The source's own frame at this time, untouched.
    Source(f64),
    /// A frame of another input clip (Kino Bridge's A or B), untouched.
    Clip(&'static std::ffi::CStr, f64),
    /// A frame of generated footage.
    Generated { key: Box<JobKey>, pick: Pick },
}

/// Which frame of the footage (at the model's rate), clamped to the footage's length.
#[derive(Clone, Copy, Debug)]
pub enum Pick {
    FromStart(usize),
    FromEnd(usize),
}

impl Pick {
    pub fn index(self, len: usize) -> usize {
        match self {
            Pick::FromStart(i) => i.min(len.saturating_sub(1)),
            Pick::FromEnd(back) => len.saturating_sub(1).saturating_sub(back),
        }
    }
}

impl Instance {
    /// The main input: Source, or Kino Bridge's first clip (SourceFrom).
    pub fn source(&self) -> Result<Clip, String> {
        let name = if self.kind == Kind::Bridge { bridge::FROM } else { kOfxImageEffectSimpleSourceClipName };
        self.fx.clip(name).map_err(|e| format!("{} needs a {} clip (host status {e})", self.kind.label(), name.to_string_lossy()))
    }

    /// The project's frame rate, frames per second: "Frame rate (fps)" when set, else the
    /// host's ([`said_fps`]), else 24.
    pub fn host_fps(&self) -> f64 {
        let usable = |f: &f64| f.is_finite() && *f > 0.0;
        self.fx.param(params::FRAME_RATE).and_then(|p| p.double_at(0.0)).ok().filter(usable).or_else(|| said_fps(&self.fx)).unwrap_or(24.0)
    }

    /// How generated frames fit the host's frame ("Fit"; Letterbox where it cannot be read).
    pub fn fit(&self) -> kino::frame::Fit {
        match self.fx.param(params::FIT).and_then(|p| p.int_at(0.0)) {
            Ok(1) => kino::frame::Fit::Crop,
            Ok(_) => kino::frame::Fit::Letterbox,
            // Unreadable: the panel's default (Remix crops, see params::describe).
            Err(_) if self.kind == crate::Kind::Remix => kino::frame::Fit::Crop,
            Err(_) => kino::frame::Fit::Letterbox,
        }
    }

    /// The source clip's frame range [first, last], in frames.
    pub fn source_range(&self) -> Result<(f64, f64), String> {
        let r = self
            .source()?
            .props
            .doubles::<2>(kOfxImageEffectPropFrameRange)
            .map_err(|_| "the host does not say where the source clip starts and ends".to_string())?;
        Ok((r[0], r[1]))
    }

    /// Clip `name`'s frame at `time` at the model's size, read as [`Self::model_frame`] reads.
    pub fn clip_model_frame(&self, name: &std::ffi::CStr, time: f64, w: u32, h: u32) -> Result<kino::RgbFrame, String> {
        let what = name.to_string_lossy();
        let clip = self.fx.clip(name).map_err(|e| format!("{} needs a {what} clip (host status {e})", self.kind.label()))?;
        let (frame, par) = frame_of(&clip, &what, time)?;
        super::fitted::fitted(&frame, par, w, h, self.fit().inverse()).map_err(|e| format!("{what} frame at {time}: {e}"))
    }

    /// The source's frame at `time` at the model's size (`w` x `h`), read through the window
    /// generated frames are shown in (the inverse of "Fit"), so footage continues what is seen.
    pub fn model_frame(&self, time: f64, w: u32, h: u32) -> Result<kino::RgbFrame, String> {
        let (frame, par) = frame_of(&self.source()?, "the source", time)?;
        super::fitted::fitted(&frame, par, w, h, self.fit().inverse()).map_err(|e| format!("source frame at {time}: {e}"))
    }

    pub fn settings(&self, time: f64) -> Result<params::Settings, String> {
        params::read(&self.fx, time)
    }

    /// What time `t` shows.
    pub fn shown(&self, t: f64) -> Result<Shown, String> {
        match self.kind {
            Kind::Generate => generate::shown(self, t),
            Kind::Extend => extend::shown(self, t),
            Kind::Animate => animate::shown(self, t),
            Kind::Bridge => bridge::shown(self, t),
            Kind::Remix => remix::shown(self, t),
        }
    }

    /// The footage for `key`, made now with the host's progress bar if needed; `None` when the
    /// user cancelled or, with `honour_abort`, the host aborted.
    pub(super) fn footage(&self, key: &JobKey, honour_abort: bool) -> Result<Option<std::sync::Arc<jobs::Footage>>, String> {
        let (mut started, mut accepted) = (false, false);
        let fx = self.fx;
        let outcome = jobs::footage(
            key,
            &mut |fraction| {
                if !started {
                    started = true;
                    fx.progress_start(&format!("{}: generating", self.kind.label()));
                }
                // A progress bar that has not yet taken an update is not a cancel: Natron starts a
                // render thread's bar later, on its main thread, and answers "no" until then.
                let go_on = fx.progress_update(fraction);
                accepted |= go_on;
                (go_on || !accepted) && !(honour_abort && fx.aborted())
            },
            &|| !(honour_abort && fx.aborted()),
        );
        if started {
            fx.progress_end();
        }
        match outcome? {
            Outcome::Ready(f) => Ok(Some(f)),
            Outcome::Cancelled => Ok(None),
        }
    }

    /// Posts an error once per process per message (hosts render every frame, often in many
    /// threads), and to stderr for hosts without a message suite.
    pub(super) fn report(&self, msg: &str) {
        use std::collections::HashSet;
        use std::sync::{Mutex, OnceLock};
        static SEEN: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
        let first = SEEN.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner()).insert(msg.to_string());
        if first {
            crate::words::install();
            log::error!("{msg}");
            self.fx.message(kOfxMessageError, &format!("{}: {msg}", self.kind.label()));
        }
    }
}

/// `clip`'s frame at `time`, whole, as 8-bit RGB (top row first), and the shape of its pixels;
/// `what` names it in errors.
fn frame_of(clip: &Clip, what: &str, time: f64) -> Result<(kino::RgbFrame, kino::frame::PixelAspect), String> {
    let img = clip.image(time).map_err(|e| format!("{what} frame at {time}: host status {e}"))?;
    let img = img.ok_or_else(|| format!("{what} has no frame at time {time}"))?;
    Ok((render::read_frame(&img.pixels()?), img.pixel_aspect()))
}

/// The frame rate the host says: the output clip's, else the effect instance's (the
/// project's), else the source clip's. MLT 7.40 says none (it writes the project's rate where
/// getPropertySet does not reach).
pub fn said_fps(fx: &Effect) -> Option<f64> {
    let usable = |f: &f64| f.is_finite() && *f > 0.0;
    let from = |c: Result<Clip, OfxStatus>| c.ok().and_then(|c| c.props.double(kOfxImageEffectPropFrameRate, 0).ok()).filter(usable);
    from(fx.clip(kOfxImageEffectOutputClipName))
        .or_else(|| fx.props().ok().and_then(|p| p.double(kOfxImageEffectPropFrameRate, 0).ok()).filter(usable))
        .or_else(|| from(fx.clip(kOfxImageEffectSimpleSourceClipName)))
        .or_else(|| from(fx.clip(kOfxImageEffectTransitionSourceFromClipName)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    pub(super) fn picks_clamp_to_the_footage() {
        assert_eq!(Pick::FromStart(3).index(17), 3);
        assert_eq!(Pick::FromStart(30).index(17), 16);
        assert_eq!(Pick::FromEnd(0).index(17), 16);
        assert_eq!(Pick::FromEnd(20).index(17), 0);
    }
}
