//! A plugin's words for the engine's advice. kino's errors carry their fix as a
//! [`kino::error::Hint`]; each plugin words it in what its users can change (a parameter, a
//! panel label, the host's environment), never a command-line flag, and installs its words once.

use std::sync::OnceLock;

use kino::error::Hint;

/// One plugin's wording of every hint.
pub struct Words {
    pub choose_model: &'static str,
    pub ort_library: &'static str,
    pub gpu_runtime: &'static str,
}

impl Words {
    pub fn hint(&self, h: Hint) -> &'static str {
        match h {
            Hint::ChooseModel => self.choose_model,
            Hint::OrtLibrary => self.ort_library,
            Hint::GpuRuntime => self.gpu_runtime,
        }
    }

    /// Every hint in these words (for checks that none names a flag).
    pub fn all(&self) -> [&'static str; 3] {
        [self.choose_model, self.ort_library, self.gpu_runtime]
    }
}

static INSTALLED: OnceLock<&'static Words> = OnceLock::new();

fn said(h: Hint) -> String {
    INSTALLED.get().map_or_else(|| h.neutral(), |w| w.hint(h).into())
}

/// Makes `words` the ones kino's messages use in this plugin (idempotent, cheap; each plugin
/// library holds its own copy of this code and of kino, so the first call is this plugin's).
pub fn install(words: &'static Words) {
    INSTALLED.get_or_init(|| words);
    kino::error::set_words(said);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installed_words_word_the_engine_errors() {
        static W: Words = Words { choose_model: "pick one in the test", ort_library: "o", gpu_runtime: "g" };
        install(&W);
        assert_eq!(kino::error::said(Hint::ChooseModel), "pick one in the test");
        let e = kino::ModelPackage::load("/nowhere/model").unwrap_err().to_string();
        assert!(e.contains("pick one in the test") && !e.contains("--model"), "{e}");
    }
}
