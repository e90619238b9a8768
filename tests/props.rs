//! Tests: props (to be written).
