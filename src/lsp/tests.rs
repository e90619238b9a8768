//! In-process tests of the server.
