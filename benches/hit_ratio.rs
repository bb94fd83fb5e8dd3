//! Hit-ratio replay over ../shared/traces (to be written).
fn main() {}
