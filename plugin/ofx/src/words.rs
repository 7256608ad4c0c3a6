//! Messages in the panel's words. kino's engine speaks to the command line ("pass --model ...",
//! "run `kino models`"); an editor's panel has no flags, so every message the plugin posts, shows
//! in Status or prints is put through [`panel`] first.

/// Whole phrases of the engine's that have no flag-for-label equivalent, first.
const PHRASES: &[(&str, &str)] = &[
    (
        "pass --model with a model package folder (one with a kino.json), or run `kino models` to list the ones found",
        "set Model package to a model package folder (one with a kino.json), or leave it empty for the shipped kino-shapes",
    ),
    ("pass --model with a model package folder (one with a kino.json)", "set Model package to a model package folder (one with a kino.json)"),
    ("or run `kino models` to list the ones found", "or leave Model package empty for the shipped kino-shapes"),
    ("point kino at libonnxruntime.so with --ort-lib or ORT_DYLIB_PATH", "set ORT_DYLIB_PATH to libonnxruntime.so in the environment the editor starts from"),
    ("point --ort-lib at its libonnxruntime.so", "set ORT_DYLIB_PATH to its libonnxruntime.so before starting the editor"),
    ("use --device cpu / --device auto", "set Device to cpu"),
    ("--ort-lib, ", ""),
];

/// CLI flags and the panel labels that stand for them (longest flags first, so `--negative-prompt`
/// is not read as `--prompt`).
const FLAGS: &[(&str, &str)] = &[
    ("--negative-prompt", "Negative prompt"),
    ("--prompt", "Prompt"),
    ("--model", "Model package"),
    ("--seed", "Seed"),
    ("--steps", "Steps"),
    ("--guidance", "Guidance"),
    ("--seconds", "Duration (s)"),
    ("--frames", "Duration (s)"),
    ("--device", "Device"),
    ("--at", "Placement"),
];

/// `msg` with the command line's words replaced by the panel's.
pub fn panel(msg: &str) -> String {
    let mut s = msg.to_string();
    for (from, to) in PHRASES {
        s = s.replace(from, to);
    }
    for (flag, label) in FLAGS {
        s = s.replace(flag, label);
    }
    s.replace("`kino models`", "the Model package folder")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_words_become_panel_labels() {
        let engine = "/nowhere/model: no such folder; pass --model with a model package folder (one with a kino.json), or run `kino models` to list the ones found";
        let m = panel(engine);
        assert!(m.contains("set Model package to a model package folder"), "{m}");
        assert!(!m.contains("--") && !m.contains("kino models"), "{m}");
        assert_eq!(panel("--negative-prompt and --prompt"), "Negative prompt and Prompt");
        assert!(!panel("point kino at libonnxruntime.so with --ort-lib or ORT_DYLIB_PATH").contains("--"));
    }
}
