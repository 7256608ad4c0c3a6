//! frei0r plugin: not implemented yet (issue 5).
