//! Tests: validate (to be written).
