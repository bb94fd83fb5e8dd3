//! `Serialize` and `Deserialize` (the `serde` feature): a [`HashMap`] is a
//! map, a [`HashSet`] a sequence, as std's are.
//!
//! Serializing takes one snapshot under a single pin, then writes exactly
//! the elements it collected, with their count: a length-prefixed format
//! (bincode, postcard) must never see a declared length that differs from
//! the elements that follow, which concurrent writes would otherwise cause.
//! The snapshot is weakly consistent, like iteration. The pin is held until
//! the last element is written, which delays reclamation for that long.
//!
//! Deserializing inserts in input order: a duplicate key replaces the
//! earlier value (the last one wins, as std's map does); a duplicate set
//! element is dropped (the first one stays, as std's set does). Malformed
//! input is the format's error, never a panic. The new map is presized by
//! the input's size hint, capped (see `presize`) so that a hostile length
//! prefix cannot make it allocate much before any element has arrived.

use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::marker::PhantomData;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use crate::{HashMap, HashSet};

/// The most elements a size hint presizes for: tables for 64 Ki entries
/// take about 1 MiB (entries themselves are allocated one at a time, as
/// they arrive). Beyond that the map grows as usual while it fills.
const PRESIZE_LIMIT: usize = 1 << 16;

/// The capacity to presize for, given a format's size hint. The presized
/// capacity is the new map's floor, as with `FromIterator`; call
/// `shrink_to_fit` to forget it.
fn presize(hint: Option<usize>) -> usize {
    hint.unwrap_or(0).min(PRESIZE_LIMIT)
}

impl<K, V, S> Serialize for HashMap<K, V, S>
where
    K: Serialize + Hash + Eq + Send + 'static,
    V: Serialize + Send + 'static,
    S: BuildHasher,
{
    fn serialize<Ser: Serializer>(&self, serializer: Ser) -> Result<Ser::Ok, Ser::Error> {
        let pinned = self.pin();
        let entries: Vec<(&K, &V)> = pinned.iter().collect();
        let mut map = serializer.serialize_map(Some(entries.len()))?;
        for (key, value) in entries {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

impl<T, S> Serialize for HashSet<T, S>
where
    T: Serialize + Hash + Eq + Send + 'static,
    S: BuildHasher,
{
    fn serialize<Ser: Serializer>(&self, serializer: Ser) -> Result<Ser::Ok, Ser::Error> {
        let pinned = self.pin();
        let elements: Vec<&T> = pinned.iter().collect();
        let mut seq = serializer.serialize_seq(Some(elements.len()))?;
        for element in elements {
            seq.serialize_element(element)?;
        }
        seq.end()
    }
}

impl<'de, K, V, S> Deserialize<'de> for HashMap<K, V, S>
where
    K: Deserialize<'de> + Hash + Eq + Send + 'static,
    V: Deserialize<'de> + Send + 'static,
    S: BuildHasher + Default,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(MapVisitor(PhantomData))
    }
}

struct MapVisitor<K, V, S>(PhantomData<HashMap<K, V, S>>);

impl<'de, K, V, S> Visitor<'de> for MapVisitor<K, V, S>
where
    K: Deserialize<'de> + Hash + Eq + Send + 'static,
    V: Deserialize<'de> + Send + 'static,
    S: BuildHasher + Default,
{
    type Value = HashMap<K, V, S>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let map = HashMap::with_capacity_and_hasher(presize(access.size_hint()), S::default());
        {
            // One pin for the whole batch; replaced values of duplicate keys
            // are dropped once it is released.
            let pinned = map.pin();
            while let Some((key, value)) = access.next_entry()? {
                pinned.insert(key, value);
            }
        }
        Ok(map)
    }
}

impl<'de, T, S> Deserialize<'de> for HashSet<T, S>
where
    T: Deserialize<'de> + Hash + Eq + Send + 'static,
    S: BuildHasher + Default,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(SetVisitor(PhantomData))
    }
}

struct SetVisitor<T, S>(PhantomData<HashSet<T, S>>);

impl<'de, T, S> Visitor<'de> for SetVisitor<T, S>
where
    T: Deserialize<'de> + Hash + Eq + Send + 'static,
    S: BuildHasher + Default,
{
    type Value = HashSet<T, S>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a sequence")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let set = HashSet::with_capacity_and_hasher(presize(access.size_hint()), S::default());
        {
            let pinned = set.pin();
            while let Some(element) = access.next_element()? {
                pinned.insert(element);
            }
        }
        Ok(set)
    }
}
