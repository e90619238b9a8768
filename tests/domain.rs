//! Tests: domain (to be written).
