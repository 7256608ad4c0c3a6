//! The OpenFX plugin in a spec-following test host ([`host`]): the bundle is laid out and
//! found as editors find it, each effect renders to PNG, and the frames are compared with the
//! `kino` binary's (lossless PNG/FFV1, so "equal" means bit-exact).
//!
//! Needs the `kino` binary beside the test (cargo build --release --workspace) and ONNX Runtime
//! (scripts/setup.sh). The tests share one loaded bundle per process and take turns; footage is
//! cached process-wide, so each test uses its own prompts and seeds.

#[path = "../common/mod.rs"]
mod common;
#[path = "../host/mod.rs"]
mod host;

mod bridge;
mod describe;
mod extend;
mod generate;
mod hosting;
mod remix;
