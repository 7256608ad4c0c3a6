//! The plugin's words for the engine's advice: kino's errors carry their fix as a
//! [`kino::error::Hint`], and here it names this plugin's parameters (`model`), which is what a
//! user of ffmpeg's `filter_params` or MLT's properties can change, never a command-line flag.

use kino::error::Hint;

/// A hint in the plugin's parameter names.
pub fn hint(h: Hint) -> String {
    match h {
        Hint::ChooseModel => "set the model parameter to a model package folder (one with a kino.json) or a package's name, or leave it empty for the shipped kino-shapes",
        Hint::OrtLibrary => "set ORT_DYLIB_PATH to libonnxruntime.so in the host's environment",
        Hint::GpuRuntime => "set ORT_DYLIB_PATH to that build's libonnxruntime.so, or set the device parameter to cpu",
    }
    .into()
}

/// Makes these the words kino's messages use in this plugin (idempotent, cheap).
pub fn install() {
    kino::error::set_words(hint);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_name_parameters_not_flags() {
        install();
        for h in [Hint::ChooseModel, Hint::OrtLibrary, Hint::GpuRuntime] {
            assert!(!hint(h).contains("--"), "{}", hint(h));
        }
        let e = kino::ModelPackage::load("/nowhere/model").unwrap_err().to_string();
        assert!(e.contains("set the model parameter") && !e.contains("--model") && !e.contains("kino models"), "{e}");
    }
}
