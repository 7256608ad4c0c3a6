//! The `kino` command's parts: arguments, the job around the engine, one file per subcommand,
//! progress bars. `main.rs` parses, dispatches and prints the error.

pub(crate) mod args;
pub(crate) mod bridge;
pub(crate) mod commands;
pub(crate) mod extend;
pub(crate) mod job;
pub(crate) mod memory;
pub(crate) mod progress;
pub(crate) mod remix;
