//! The default hasher: evacmap's own types around foldhash's fast hasher, so
//! that moving to another foldhash release (or another hash function) is not
//! a breaking change for code that names [`DefaultHashBuilder`].

use core::hash::{BuildHasher, Hasher};

/// The hasher builder every map, set and cache uses unless told otherwise:
/// fast, and randomly seeded per builder.
///
/// It wraps foldhash's fast hasher today (the one hashbrown uses). It is
/// **not designed to resist hash flooding**: an attacker who can choose many
/// keys and observe timing may be able to make them collide. Keys that come
/// from untrusted input (request headers, user names, anything a client
/// picks) are better hashed with std's SipHash-based `RandomState`, at some
/// cost per lookup:
///
/// ```
/// use std::collections::hash_map::RandomState;
/// use evacmap::HashMap;
///
/// let by_user: HashMap<String, u64, RandomState> = HashMap::with_hasher(RandomState::new());
/// by_user.insert("mallory".to_string(), 1);
/// assert_eq!(by_user.get_cloned("mallory"), Some(1));
/// ```
///
/// The default one, named (two builders hash differently; clones agree):
///
/// ```
/// use std::hash::BuildHasher;
/// use evacmap::DefaultHashBuilder;
///
/// let s = DefaultHashBuilder::default();
/// assert_eq!(s.hash_one("key"), s.clone().hash_one("key"));
/// ```
#[derive(Clone, Default)]
pub struct DefaultHashBuilder(foldhash::fast::RandomState);

impl core::fmt::Debug for DefaultHashBuilder {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // The seed stays private, as std's `RandomState` keeps its keys.
        f.debug_struct("DefaultHashBuilder").finish_non_exhaustive()
    }
}

impl BuildHasher for DefaultHashBuilder {
    type Hasher = DefaultHasher;

    #[inline]
    fn build_hasher(&self) -> DefaultHasher {
        DefaultHasher(self.0.build_hasher())
    }
}

/// The hasher [`DefaultHashBuilder`] builds. Every method forwards, inlined,
/// to foldhash's, so hashing costs what foldhash's does.
///
/// ```
/// use std::hash::{BuildHasher, Hasher};
///
/// let mut h = evacmap::DefaultHashBuilder::default().build_hasher();
/// h.write_u64(7);
/// let _ = h.finish();
/// ```
#[derive(Clone)]
pub struct DefaultHasher(foldhash::fast::FoldHasher);

impl core::fmt::Debug for DefaultHasher {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DefaultHasher").finish_non_exhaustive()
    }
}

impl Hasher for DefaultHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0.finish()
    }
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        self.0.write(bytes)
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.0.write_u8(i)
    }
    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.0.write_u16(i)
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.0.write_u32(i)
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.0.write_u64(i)
    }
    #[inline]
    fn write_u128(&mut self, i: u128) {
        self.0.write_u128(i)
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.0.write_usize(i)
    }
}
