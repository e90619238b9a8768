//! Tests: hostile (to be written).
