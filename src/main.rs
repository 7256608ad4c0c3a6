//! The `kino` command line: parses arguments and drives the engine library.

mod cli;

use clap::{CommandFactory, FromArgMatches};

use cli::args::{Cli, Command};
use cli::bridge::bridge;
use cli::commands::{animate, bench, generate, list_models};
use cli::extend::extend;
use cli::remix::remix;

fn main() {
    // A negative number is a value (`--seconds -1`, refused with the flag's own message), not
    // an unknown flag whose hint (`-- -1`) would make it the prompt.
    let command = Cli::command()
        .mut_subcommands(|sub| sub.mut_args(|a| if a.get_action().takes_values() { a.allow_negative_numbers(true) } else { a }));
    let cli = match command.try_get_matches().and_then(|m| Cli::from_arg_matches(&m)) {
        Ok(cli) => cli,
        Err(e) if e.kind() == clap::error::ErrorKind::InvalidUtf8 => {
            eprintln!("error: {}", not_utf8_argument(std::env::args_os().collect()));
            std::process::exit(2);
        }
        Err(e) => e.exit(),
    };
    signals::install();
    kino::error::set_words(hint_words);
    // FFmpeg's own log lines would come before kino's one-line error about the same problem.
    ffmpeg_next::util::log::set_level(ffmpeg_next::util::log::Level::Quiet);
    log::set_logger(&STDERR_LOG).map(|()| log::set_max_level(log::LevelFilter::Warn)).ok();
    let result = match cli.command {
        Command::Generate(args) => generate(args),
        Command::Extend(args) => extend(args),
        Command::Animate(args) => animate(args),
        Command::Bridge(args) => bridge(args),
        Command::Remix(args) => remix(args),
        Command::Bench(args) => bench(args),
        Command::Models { paths } => list_models(paths),
    };
    if let Err(e) = result {
        if let Some(code) = signals::exit_code() {
            // Stopped by a signal: the partial output is already gone (dropped with the job).
            kino::video::remove_partial_outputs();
            eprintln!("kino: stopped by a signal; nothing was written");
            std::process::exit(code);
        }
        eprintln!("error: {}", one_line(&e));
        std::process::exit(1);
    }
}

/// Which argument is not UTF-8 text (the argument parser only says that one is): the flag it
/// belongs to, and the argument as far as it reads. Input and output clips may have any name;
/// the other paths (model, keyframe images, storyboard) and prompts are text.
fn not_utf8_argument(args: Vec<std::ffi::OsString>) -> String {
    let Some(i) = args.iter().position(|a| a.to_str().is_none()) else {
        return "an argument is not valid UTF-8; kino takes prompts and paths as UTF-8 text".into();
    };
    let shown = args[i].to_string_lossy().into_owned();
    let flag = args[..i].last().and_then(|a| a.to_str()).filter(|a| a.starts_with("--"));
    let (name, value) = match (flag, shown.split_once('=')) {
        (Some(flag), _) => (flag.to_string(), shown),
        (None, Some((f, v))) if f.starts_with("--") => (f.to_string(), v.to_string()),
        (None, _) => (format!("argument {i}"), shown),
    };
    // --prompt, --negative-prompt and --prompt-at take text; the other flags, names.
    let file = !name.contains("prompt") && (flag.is_some() || name.starts_with("--"));
    let advice = if file {
        "kino reads model folders, keyframe images and storyboards by UTF-8 names: rename the file or make a link with a UTF-8 name"
    } else {
        "kino reads prompts as UTF-8 text"
    };
    format!("{name} {value:?} is not valid UTF-8 text (unreadable bytes shown as \u{FFFD}); {advice}")
}

/// The engine's advice in the command line's words.
fn hint_words(h: kino::error::Hint) -> String {
    use kino::error::Hint;
    match h {
        Hint::ChooseModel => "pass --model with a model package folder (one with a kino.json), or run `kino models` to list the ones found",
        Hint::OrtLibrary => "point kino at libonnxruntime.so with --ort-lib or ORT_DYLIB_PATH",
        Hint::GpuRuntime => "point --ort-lib at its libonnxruntime.so, or use --device cpu / --device auto",
    }
    .into()
}

/// The library's warnings, on stderr as the CLI's own are (`kino: warning: ...`), so a script
/// can tell them from its progress notes.
struct StderrLog;

static STDERR_LOG: StderrLog = StderrLog;

impl log::Log for StderrLog {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= log::Level::Warn
    }
    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            let level = if r.level() == log::Level::Error { "error" } else { "warning" };
            eprintln!("kino: {level}: {}", r.args());
        }
    }
    fn flush(&self) {}
}

/// The chain of causes on one line, outermost first, leaving out a cause whose text the
/// message before it already contains (many errors quote their source).
fn one_line(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if text.is_empty() || parts.last().is_some_and(|p| p.contains(&text)) {
            continue;
        }
        parts.push(text);
    }
    parts.join(": ").replace('\n', " ")
}

/// SIGINT, SIGTERM and SIGHUP stop the job: it notices between steps and frames, drops its
/// partial output and exits with 128 + the signal. If it has not stopped within a few seconds
/// (a long model load or run), or on a second signal, partials are removed here and the
/// process exits at once.
mod signals {
    use std::sync::atomic::{AtomicI32, Ordering};

    static RECEIVED: AtomicI32 = AtomicI32::new(0);

    pub fn install() {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else { return };
        let _ = std::thread::Builder::new().name("kino-signals".into()).spawn(move || {
            for sig in signals.forever() {
                if RECEIVED.swap(sig, Ordering::SeqCst) != 0 {
                    stop_now(sig);
                }
                let _ = std::thread::Builder::new().name("kino-stop".into()).spawn(move || {
                    std::thread::sleep(std::time::Duration::from_secs(3));
                    stop_now(sig);
                });
            }
        });
    }

    fn stop_now(sig: i32) -> ! {
        kino::video::remove_partial_outputs();
        eprintln!("kino: stopped by a signal; nothing was written");
        std::process::exit(128 + sig);
    }

    /// Whether a signal asked the job to stop.
    pub fn stopping() -> bool {
        RECEIVED.load(Ordering::SeqCst) != 0
    }

    /// The exit code for the signal received, if any.
    pub fn exit_code() -> Option<i32> {
        let sig = RECEIVED.load(Ordering::SeqCst);
        (sig != 0).then_some(128 + sig)
    }
}
