//! Tests: syntax (to be written).
