//! Progress bars.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

use kino::{Progress, Stage};

use crate::signals;

/// Progress bars on stderr, only when it is a terminal.
pub(crate) struct Bars {
    denoise: Option<ProgressBar>,
    decode: Option<ProgressBar>,
}

impl Bars {
    pub(crate) fn new(quiet: bool) -> Self {
        if quiet || !std::io::stderr().is_terminal() {
            return Bars { denoise: None, decode: None };
        }
        let style = ProgressStyle::with_template("{prefix:>8} [{bar:30}] {pos}/{len} {elapsed_precise}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        let make = |p: &str| {
            let b = ProgressBar::new(0).with_style(style.clone()).with_prefix(p.to_string());
            b.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            b
        };
        Bars { denoise: Some(make("denoise")), decode: Some(make("decode")) }
    }

    pub(crate) fn update(&self, p: Progress) -> bool {
        if signals::stopping() {
            return false;
        }
        let bar = match p.stage {
            Stage::Denoise => &self.denoise,
            Stage::Decode => &self.decode,
            Stage::Encode => return true,
        };
        if let Some(b) = bar {
            b.set_length(p.total as u64);
            b.set_position(p.done as u64);
        }
        true
    }

    pub(crate) fn finish(&self) {
        for b in [&self.denoise, &self.decode].into_iter().flatten() {
            b.finish();
        }
    }
}
