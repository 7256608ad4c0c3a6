//! A test's scratch folder under the system's temp folder, removed when the test passes.
//!
//! Each test run used to leave its folders behind (copies of the model package among them),
//! gigabytes after a few runs. A failing test keeps its folder to look at.

use std::ffi::OsStr;
use std::ops::Deref;
use std::path::{Path, PathBuf};

pub struct Scratch {
    root: PathBuf,
    path: PathBuf,
}

impl Scratch {
    /// A fresh, empty `<temp>/<name>-<pid>`.
    pub fn new(name: &str) -> Scratch {
        let root = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        Scratch { path: root.clone(), root }
    }

    /// The same scratch folder, pointing at a sub-folder (created) of it.
    pub fn sub(mut self, name: &str) -> Scratch {
        self.path = self.path.join(name);
        std::fs::create_dir_all(&self.path).unwrap();
        self
    }
}

impl Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<OsStr> for Scratch {
    fn as_ref(&self) -> &OsStr {
        self.path.as_os_str()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}
