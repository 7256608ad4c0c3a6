//! kino's one error type. Every message says what went wrong and, where there is one, the fix.
//!
//! A fix that names a control the user has (a flag, a panel field, a parameter) is a [`Hint`],
//! worded by the front door the user is in: the `kino` command says `--model`, the OpenFX panel
//! "Model package", the frei0r plugin its `model` parameter. Each front door installs its words
//! once ([`set_words`]); [`Error::worded`] words one message explicitly.

use std::path::PathBuf;
use std::sync::OnceLock;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("ONNX Runtime library not found (searched: {searched}). Install it in a venv with `python3 -m pip install onnxruntime==1.32.0` and point kino at the venv with KINO_VENV, or at its libonnxruntime.so (site-packages/onnxruntime/capi/); {}", said(Hint::OrtLibrary))]
    RuntimeNotFound { searched: String },

    #[error("could not load ONNX Runtime from {path}: {reason}. Use a libonnxruntime.so of version 1.22 or newer (`python3 -m pip install onnxruntime==1.32.0`)")]
    RuntimeLoad { path: PathBuf, reason: String },

    #[error(
        "ONNX Runtime is already loaded from {} in this process and cannot also be loaded from {}: use one library per process; {}",
        shown(loaded),
        shown(asked),
        said(Hint::OrtLibrary)
    )]
    RuntimeConflict { loaded: PathBuf, asked: PathBuf },

    #[error("execution provider {provider} is not available in this ONNX Runtime ({library}): {hint}; {}", said(Hint::GpuRuntime))]
    ProviderUnavailable { provider: String, library: String, hint: String },

    #[error("unknown device {}: use cpu, cuda, cuda:N, tensorrt, tensorrt:N or auto", quoted(.0))]
    UnknownDevice(String),

    #[error("model package {}: {message}{}", shown(dir), hint.map(|h| format!("; {}", said(h))).unwrap_or_default())]
    Package { dir: PathBuf, message: String, hint: Option<Hint> },

    #[error("model package {}: {file}: {message}", shown(dir))]
    PackageFile { dir: PathBuf, file: String, message: String },

    #[error("{0}")]
    InvalidRequest(String),

    #[error("running {component} ({file}): {reason}")]
    Inference { component: String, file: String, reason: String },

    #[error("tokenizer: {0}")]
    Tokenizer(String),

    #[error("{} {}: {message}", media_word(path), shown(path))]
    Video { path: PathBuf, message: String },

    #[error("output {}: {message}", shown(path))]
    Output { path: PathBuf, message: String },

    #[error("frame: {0}")]
    Frame(String),

    #[error("{}: {source}", shown(path))]
    Io { path: PathBuf, source: std::io::Error },

    #[error("cancelled")]
    Cancelled,
}

/// Advice that names a control of the front door the user is in, worded by it ([`set_words`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Hint {
    /// Choose another model package: a folder with a kino.json, or a package's name.
    ChooseModel,
    /// Say where libonnxruntime.so is.
    OrtLibrary,
    /// Use ONNX Runtime's GPU build, or run on the CPU.
    GpuRuntime,
}

impl Hint {
    /// Words that name no front door's controls: for a library caller that installed none.
    pub fn neutral(self) -> String {
        match self {
            Hint::ChooseModel => "choose a model package folder (one with a kino.json) or a package's name",
            Hint::OrtLibrary => "set ORT_DYLIB_PATH to libonnxruntime.so",
            Hint::GpuRuntime => "use that build's libonnxruntime.so (ORT_DYLIB_PATH), or run on the CPU",
        }
        .into()
    }
}

/// How this process's front door words hints.
static WORDS: OnceLock<fn(Hint) -> String> = OnceLock::new();

/// Installs the front door's words for every hint in this process (its first call wins: a
/// process has one front door; each plugin library holds its own copy of kino). Returns
/// whether these words are the ones in use.
pub fn set_words(words: fn(Hint) -> String) -> bool {
    *WORDS.get_or_init(|| words) as usize == words as usize
}

/// `hint` in the installed words, else [`Hint::neutral`].
pub fn said(hint: Hint) -> String {
    WORDS.get().map_or_else(|| hint.neutral(), |w| w(hint))
}

/// A user's value quoted for a message: escaped, and cut to its first 40 characters so a pasted
/// file does not become the message.
pub fn quoted(s: &str) -> String {
    let head: String = s.chars().take(40).collect();
    if head.len() < s.len() {
        format!("{head:?}…")
    } else {
        format!("{head:?}")
    }
}

/// "image" for a path named like a still, else "video": what a message calls the user's file.
fn media_word(path: &std::path::Path) -> &'static str {
    const STILLS: [&str; 9] = ["png", "jpg", "jpeg", "webp", "bmp", "tif", "tiff", "gif", "exr"];
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    if ext.is_some_and(|e| STILLS.contains(&e.as_str())) {
        "image"
    } else {
        "video"
    }
}

/// A path for a one-line message: control characters (a newline in a file name) escaped.
pub fn shown(path: &std::path::Path) -> String {
    let s = path.display().to_string();
    if s.chars().any(char::is_control) {
        s.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect()
    } else {
        s
    }
}

impl Error {
    pub(crate) fn package(dir: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Package { dir: dir.into(), message: message.into(), hint: None }
    }

    /// This error with `hint` as its advice (errors that can carry one: a package's).
    pub(crate) fn with_hint(mut self, h: Hint) -> Self {
        if let Error::Package { hint, .. } = &mut self {
            *hint = Some(h);
        }
        self
    }

    /// The advice this error carries, if any.
    pub fn hint(&self) -> Option<Hint> {
        match self {
            Error::Package { hint, .. } => *hint,
            Error::RuntimeNotFound { .. } | Error::RuntimeConflict { .. } => Some(Hint::OrtLibrary),
            Error::ProviderUnavailable { .. } => Some(Hint::GpuRuntime),
            _ => None,
        }
    }

    /// The message with its hint in `words` (whatever words the process installed).
    pub fn worded(&self, words: fn(Hint) -> String) -> String {
        let Some(h) = self.hint() else { return self.to_string() };
        let bare = match self {
            Error::Package { dir, message, .. } => format!("model package {}: {message}", shown(dir)),
            Error::RuntimeNotFound { searched } => format!(
                "ONNX Runtime library not found (searched: {searched}). Install it with `python3 -m pip install onnxruntime==1.32.0`"
            ),
            Error::ProviderUnavailable { provider, library, hint } => {
                format!("execution provider {provider} is not available in this ONNX Runtime ({library}): {hint}")
            }
            _ => return self.to_string(),
        };
        format!("{bare}; {}", words(h))
    }

    pub(crate) fn package_file(dir: impl Into<PathBuf>, file: impl Into<String>, message: impl Into<String>) -> Self {
        Error::PackageFile { dir: dir.into(), file: file.into(), message: message.into() }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(h: Hint) -> String {
        match h {
            Hint::ChooseModel => "pass --model".into(),
            Hint::OrtLibrary => "pass --ort-lib".into(),
            Hint::GpuRuntime => "pass --device cpu".into(),
        }
    }

    #[test]
    fn hints_are_worded_by_the_front_door() {
        let e = Error::package("/nowhere/m", "no such folder").with_hint(Hint::ChooseModel);
        assert_eq!(e.hint(), Some(Hint::ChooseModel));
        assert_eq!(e.worded(flags), "model package /nowhere/m: no such folder; pass --model");
        assert_eq!(e.worded(Hint::neutral), format!("model package /nowhere/m: no such folder; {}", Hint::ChooseModel.neutral()));
        // Whatever words this test process installed, the message is the hint-less text and them.
        assert_eq!(e.to_string(), format!("model package /nowhere/m: no such folder; {}", said(Hint::ChooseModel)));
        let plain = Error::package("/m", "kino.json: bad");
        assert_eq!((plain.hint(), plain.worded(flags)), (None, plain.to_string()));
        let lib = Error::RuntimeNotFound { searched: "/usr/lib".into() };
        assert!(lib.worded(flags).ends_with("onnxruntime==1.32.0`; pass --ort-lib"), "{}", lib.worded(flags));
        assert!(!Hint::ChooseModel.neutral().contains("--"));
    }

    #[test]
    fn a_still_is_called_an_image() {
        let e = |p: &str| Error::Video { path: p.into(), message: "no such file".into() }.to_string();
        assert_eq!(e("/a/key.PNG"), "image /a/key.PNG: no such file");
        assert_eq!(e("photo.jpeg"), "image photo.jpeg: no such file");
        assert_eq!(e("clip.mp4"), "video clip.mp4: no such file");
        assert_eq!(e("noext"), "video noext: no such file");
    }
}
