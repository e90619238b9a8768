//! Tests: util (to be written).
