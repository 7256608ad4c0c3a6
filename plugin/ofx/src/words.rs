//! The panel's words for the engine's advice. kino's errors carry their fix as a
//! [`kino::error::Hint`]; the plugin installs these words for them ([`install`]), so a missing
//! model says "set Model package ...", never a command-line flag.

use kino::error::Hint;

/// A hint in the panel's labels.
pub fn hint(h: Hint) -> String {
    match h {
        Hint::ChooseModel => "set Model package to a model package folder (one with a kino.json) or a package's name, or leave it empty for the shipped kino-shapes",
        Hint::OrtLibrary => "set ORT_DYLIB_PATH to libonnxruntime.so in the environment the editor starts from",
        Hint::GpuRuntime => "set ORT_DYLIB_PATH to that build's libonnxruntime.so before starting the editor, or set Device to cpu",
    }
    .into()
}

/// Makes the panel's words the ones kino's messages use in this plugin (idempotent, cheap).
pub fn install() {
    kino::error::set_words(hint);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_name_panel_labels_not_flags() {
        install();
        for h in [Hint::ChooseModel, Hint::OrtLibrary, Hint::GpuRuntime] {
            assert!(!hint(h).contains("--"), "{}", hint(h));
        }
        let e = kino::ModelPackage::load("/nowhere/model").unwrap_err().to_string();
        assert!(e.contains("set Model package to") && !e.contains("--model") && !e.contains("kino models"), "{e}");
    }
}
