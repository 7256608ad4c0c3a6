//! OpenFX plugin: not implemented yet (issue 6).
