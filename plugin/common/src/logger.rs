//! Where the library's `log` records go inside a host: one line each on the host's stderr,
//! prefixed with the plugin's name (`kino frei0r: warning: ...`). Warnings and errors by default;
//! `KINO_LOG=info|debug|trace` (read here, by the front door, never by the library) shows more,
//! `KINO_LOG=off` nothing. A warning or error already printed is not printed again: a host that
//! renders the same footage many times shows it once.

use std::collections::HashSet;
use std::io::Write;
use std::sync::{Mutex, Once};

use log::{Level, LevelFilter, Log, Metadata, Record};

struct PluginLogger {
    prefix: &'static str,
    seen: Mutex<HashSet<String>>,
}

/// Lines remembered for de-duplication; past this, repeats print again rather than grow memory.
const SEEN_MAX: usize = 1024;

impl Log for PluginLogger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let line = format!("{}: {}: {}", self.prefix, level_word(record.level()), record.args());
        if record.level() <= Level::Warn {
            let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            if seen.contains(&line) {
                return;
            }
            if seen.len() < SEEN_MAX {
                seen.insert(line.clone());
            }
        }
        // One write of the whole line, so lines from several threads do not interleave.
        let _ = std::io::stderr().lock().write_all(format!("{line}\n").as_bytes());
    }

    fn flush(&self) {}
}

fn level_word(level: Level) -> &'static str {
    match level {
        Level::Error => "error",
        Level::Warn => "warning",
        Level::Info => "info",
        Level::Debug => "debug",
        Level::Trace => "trace",
    }
}

/// The level `KINO_LOG` asks for: `off`, `error`, `warn`, `info`, `debug` or `trace`; anything
/// else (or nothing) is warnings and errors.
pub fn level_from(value: Option<&str>) -> LevelFilter {
    value.and_then(|v| v.trim().parse().ok()).unwrap_or(LevelFilter::Warn)
}

/// Installs the logger once for this plugin library (`prefix`: `kino frei0r`, `kino ofx`). Each
/// plugin library holds its own copy of `log`, so this never takes over the host's logging.
pub fn install(prefix: &'static str) {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let logger = Box::leak(Box::new(PluginLogger { prefix, seen: Mutex::new(HashSet::new()) }));
        if log::set_logger(logger).is_ok() {
            let value = std::env::var("KINO_LOG").ok();
            log::set_max_level(level_from(value.as_deref()));
            if let Some(v) = value.as_deref().map(str::trim).filter(|v| !v.is_empty() && v.parse::<LevelFilter>().is_err()) {
                log::warn!("KINO_LOG: {v:?} is not a level (off, error, warn, info, debug, trace); showing warnings");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kino_log_picks_the_level_and_defaults_to_warnings() {
        assert_eq!(level_from(None), LevelFilter::Warn);
        assert_eq!(level_from(Some("info")), LevelFilter::Info);
        assert_eq!(level_from(Some(" debug ")), LevelFilter::Debug);
        assert_eq!(level_from(Some("OFF")), LevelFilter::Off);
        assert_eq!(level_from(Some("loud")), LevelFilter::Warn);
    }

    #[test]
    fn a_warning_prints_once_per_text() {
        let logger = PluginLogger { prefix: "kino test", seen: Mutex::new(HashSet::new()) };
        log::set_max_level(LevelFilter::Warn);
        let rec = |msg: std::fmt::Arguments| logger.log(&Record::builder().level(Level::Warn).args(msg).build());
        rec(format_args!("one"));
        rec(format_args!("one"));
        rec(format_args!("two"));
        let seen = logger.seen.lock().unwrap();
        assert_eq!(seen.len(), 2);
        assert!(seen.contains("kino test: warning: one"));
    }
}
