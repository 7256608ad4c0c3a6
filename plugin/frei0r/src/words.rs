//! The plugin's words for the engine's advice ([`kino_plugin_common::words`]): they name this
//! plugin's parameters (`model`), which is what a user of ffmpeg's `filter_params` or MLT's
//! properties can change, never a command-line flag.

use kino_plugin_common::words::Words;

pub static WORDS: Words = Words {
    choose_model: "set the model parameter to a model package folder (one with a kino.json) or a package's name, or leave it empty for the shipped kino-shapes",
    ort_library: "set ORT_DYLIB_PATH to libonnxruntime.so in the host's environment",
    gpu_runtime: "set ORT_DYLIB_PATH to that build's libonnxruntime.so, or set the device parameter to cpu",
};

/// Makes these the words kino's messages use in this plugin and installs its logger
/// (idempotent, cheap).
pub fn install() {
    kino_plugin_common::install("kino frei0r", &WORDS);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_name_parameters_not_flags() {
        install();
        assert!(WORDS.all().iter().all(|h| !h.contains("--")), "{:?}", WORDS.all());
        let e = kino::ModelPackage::load("/nowhere/model").unwrap_err().to_string();
        assert!(e.contains("set the model parameter") && !e.contains("--model") && !e.contains("kino models"), "{e}");
    }
}
