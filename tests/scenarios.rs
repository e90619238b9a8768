//! Tests: scenarios (to be written).
