//! The cache against its peers (to be written).
fn main() {}
