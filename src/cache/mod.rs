//! The bounded concurrent cache.

#[doc(hidden)]
pub mod policy;
