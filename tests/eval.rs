//! Tests: eval (to be written).
