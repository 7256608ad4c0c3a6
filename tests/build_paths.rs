//! A copied or installed `kino` must not look for models in the folder it was built in (which
//! may be a world-writable temporary one): no build path is compiled into the binary.

use std::path::Path;

#[test]
fn the_binary_holds_no_build_folder_path() {
    let build = format!("{}/models", Path::new(env!("CARGO_MANIFEST_DIR")).canonicalize().unwrap().display());
    let bin = env!("CARGO_BIN_EXE_kino");
    let bytes = std::fs::read(bin).unwrap();
    assert!(!bytes.windows(build.len()).any(|w| w == build.as_bytes()), "{bin} names {build}");
}
