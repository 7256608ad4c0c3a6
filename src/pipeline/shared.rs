//! One loaded pipeline per (model folder, runtime options) for the whole process: hosts build
//! many plugin instances, and loading a model is expensive.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use super::Pipeline;
use crate::runtime::RuntimeOptions;

/// What a model folder looked like when a load failed: its entries' names, sizes and times.
type Stamp = Vec<(std::ffi::OsString, u64, Option<SystemTime>)>;

enum State {
    Loaded(Arc<Pipeline>),
    /// The message, and the folder as it was: the load is tried again once the folder changes.
    Failed(String, Stamp),
}

type Cell = Arc<Mutex<Option<State>>>;

impl Pipeline {
    /// The pipeline for a package folder with `opts`, loaded once per process by whichever caller
    /// asks first. A failure is kept (as its message) while the folder stays as it was, so a host
    /// that asks every frame gets the answer at the cost of listing the folder; once the user
    /// fixes the folder, the next call loads it. The plugins share pipelines this way.
    pub fn shared(dir: &Path, opts: &RuntimeOptions) -> std::result::Result<Arc<Pipeline>, String> {
        static LOADED: OnceLock<Mutex<HashMap<(PathBuf, String), Cell>>> = OnceLock::new();
        let key = (dir.to_path_buf(), format!("{opts:?}"));
        let cell = LOADED.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner()).entry(key).or_default().clone();
        // Callers for the same key wait for one load; other keys load in parallel.
        let mut state = cell.lock().unwrap_or_else(|e| e.into_inner());
        let now = stamp(dir);
        match &*state {
            Some(State::Loaded(p)) => return Ok(p.clone()),
            Some(State::Failed(msg, was)) if *was == now => return Err(msg.clone()),
            _ => {}
        }
        // Package errors name the folder already; others (the runtime's) get it in front.
        let named = |e: crate::Error| {
            let (msg, dir) = (e.to_string(), dir.display().to_string());
            if msg.contains(&dir) {
                msg
            } else {
                format!("model {dir}: {msg}")
            }
        };
        let result = Pipeline::load(dir, opts).map(Arc::new).map_err(named);
        *state = Some(match &result {
            Ok(p) => State::Loaded(p.clone()),
            Err(msg) => State::Failed(msg.clone(), now),
        });
        result
    }
}

fn stamp(dir: &Path) -> Stamp {
    let mut out: Stamp = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .flatten()
            .map(|e| {
                let meta = e.metadata().ok();
                (e.file_name(), meta.as_ref().map_or(0, |m| m.len()), meta.and_then(|m| m.modified().ok()))
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A folder that fails to load is loaded once the user fixes it, without a restart; while it
    /// stays broken, the same message comes back.
    #[test]
    fn a_fixed_model_folder_loads_on_the_next_call() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/kino-shapes");
        let dir = std::env::temp_dir().join(format!("kino-shared-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for e in std::fs::read_dir(&src).unwrap().flatten() {
            if e.path().is_file() {
                std::fs::copy(e.path(), dir.join(e.file_name())).unwrap();
            }
        }
        let manifest = std::fs::read(dir.join("kino.json")).unwrap();
        std::fs::remove_file(dir.join("kino.json")).unwrap();
        let opts = RuntimeOptions { threads: Some(1), ..RuntimeOptions::from_env() };
        let first = Pipeline::shared(&dir, &opts).err().expect("no kino.json: an error");
        assert_eq!(first.matches(&dir.display().to_string()).count(), 1, "the folder named once: {first}");
        let again = Pipeline::shared(&dir, &opts).err().expect("still broken: the same error");
        assert_eq!(first, again);
        std::fs::write(dir.join("kino.json"), manifest).unwrap();
        let fixed = Pipeline::shared(&dir, &opts);
        let cached = Pipeline::shared(&dir, &opts);
        std::fs::remove_dir_all(&dir).unwrap();
        let fixed = fixed.expect("the fixed folder loads");
        assert!(Arc::ptr_eq(&fixed, &cached.unwrap()), "a loaded pipeline is shared");
    }
}
