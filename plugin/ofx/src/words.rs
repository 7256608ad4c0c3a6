//! The panel's words for the engine's advice ([`kino_plugin_common::words`]): a missing model
//! says "set Model package ...", never a command-line flag.

use kino_plugin_common::words::Words;

pub static WORDS: Words = Words {
    choose_model: "set Model package to a model package folder (one with a kino.json) or a package's name, or leave it empty for the shipped kino-shapes",
    ort_library: "set ORT_DYLIB_PATH to libonnxruntime.so in the environment the editor starts from",
    gpu_runtime: "set ORT_DYLIB_PATH to that build's libonnxruntime.so before starting the editor, or set Device to cpu",
};

/// Makes the panel's words the ones kino's messages use in this plugin and installs its logger
/// (idempotent, cheap). Warnings go to stderr only, not the host's message suite: its messages
/// are modal dialogs in most editors, need an instance, and may not be posted from the render
/// threads the library warns on.
pub fn install() {
    kino_plugin_common::install("kino ofx", &WORDS);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_name_panel_labels_not_flags() {
        install();
        assert!(WORDS.all().iter().all(|h| !h.contains("--")), "{:?}", WORDS.all());
        let e = kino::ModelPackage::load("/nowhere/model").unwrap_err().to_string();
        assert!(e.contains("set Model package to") && !e.contains("--model") && !e.contains("kino models"), "{e}");
    }
}
