//! The `serde` feature: round trips through serde_json, the last duplicate
//! key wins, malformed input is an error that says what was wrong (never a
//! panic), and a serialized snapshot's declared length always matches the
//! elements written, even under concurrent writes.
#![cfg(feature = "serde")]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::thread;

use evacmap::{HashMap, HashSet};

fn sorted_pairs<V: Clone + Ord + Send + 'static>(map: &HashMap<String, V>) -> Vec<(String, V)> {
    let mut pairs: Vec<_> = map
        .iter()
        .map(|e| (e.key().clone(), e.value().clone()))
        .collect();
    pairs.sort();
    pairs
}

#[test]
fn maps_round_trip() {
    let map: HashMap<String, Vec<u32>> = HashMap::new();
    for i in 0..500u32 {
        map.insert(format!("key{i}"), vec![i, i * 2]);
    }
    let json = serde_json::to_string(&map).unwrap();
    let back: HashMap<String, Vec<u32>> = serde_json::from_str(&json).unwrap();
    assert_eq!(back.len(), 500);
    assert_eq!(sorted_pairs(&back), sorted_pairs(&map));
    // The same JSON a std map writes, as a BTreeMap reads it back.
    let std_view: BTreeMap<String, Vec<u32>> = serde_json::from_str(&json).unwrap();
    assert_eq!(std_view.len(), 500);
    assert_eq!(std_view["key7"], [7, 14]);
}

#[test]
fn integer_keys_round_trip() {
    // JSON object keys are strings: serde_json quotes and parses integers.
    let map: HashMap<u64, bool> = (0..100).map(|i| (i, i % 2 == 0)).collect();
    let json = serde_json::to_string(&map).unwrap();
    let back: HashMap<u64, bool> = serde_json::from_str(&json).unwrap();
    assert_eq!(back.len(), 100);
    assert!((0..100).all(|i| back.get_cloned(&i) == Some(i % 2 == 0)));
}

#[test]
fn sets_round_trip() {
    let set: HashSet<String> = (0..300).map(|i| format!("e{i}")).collect();
    let json = serde_json::to_string(&set).unwrap();
    assert!(json.starts_with('['), "a set is a sequence: {json:.20}");
    let back: HashSet<String> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, set);
    let std_view: Vec<String> = serde_json::from_str(&json).unwrap();
    assert_eq!(std_view.len(), 300);
}

#[test]
fn empty_ones_round_trip() {
    let map: HashMap<String, u8> = HashMap::new();
    assert_eq!(serde_json::to_string(&map).unwrap(), "{}");
    let back: HashMap<String, u8> = serde_json::from_str("{}").unwrap();
    assert!(back.is_empty());
    let set: HashSet<u8> = HashSet::new();
    assert_eq!(serde_json::to_string(&set).unwrap(), "[]");
    let back: HashSet<u8> = serde_json::from_str("[]").unwrap();
    assert!(back.is_empty());
}

#[test]
fn the_last_duplicate_key_wins() {
    let map: HashMap<String, u32> =
        serde_json::from_str(r#"{"a": 1, "b": 2, "a": 3, "c": 4, "a": 5}"#).unwrap();
    assert_eq!(map.len(), 3);
    assert_eq!(map.get_cloned("a"), Some(5));
    // std's map agrees.
    let std_map: std::collections::HashMap<String, u32> =
        serde_json::from_str(r#"{"a": 1, "b": 2, "a": 3, "c": 4, "a": 5}"#).unwrap();
    assert_eq!(std_map["a"], 5);
}

#[test]
fn duplicate_set_elements_collapse() {
    let set: HashSet<u32> = serde_json::from_str("[3, 1, 3, 2, 1, 3]").unwrap();
    assert_eq!(set.len(), 3);
    assert_eq!(set, HashSet::from([1, 2, 3]));
}

/// The error's message, which must say what was wrong.
fn error<T: serde::de::DeserializeOwned + std::fmt::Debug>(json: &str) -> String {
    serde_json::from_str::<T>(json)
        .expect_err("malformed input must be an error")
        .to_string()
}

#[test]
fn malformed_input_is_a_clear_error() {
    type Map = HashMap<String, u32>;
    type Set = HashSet<u32>;
    // Wrong value type.
    let e = error::<Map>(r#"{"a": "one"}"#);
    assert!(
        e.contains("invalid type: string \"one\", expected u32"),
        "{e}"
    );
    // Wrong key type (keys must parse as the key type).
    let e = error::<HashMap<u32, u32>>(r#"{"x": 1}"#);
    assert!(e.contains("expected key to be a number"), "{e}");
    // Truncated input.
    let e = error::<Map>(r#"{"a": 1, "b""#);
    assert!(e.contains("EOF while parsing"), "{e}");
    let e = error::<Set>("[1, 2");
    assert!(e.contains("EOF while parsing"), "{e}");
    // A map where a sequence is expected, and the other way round.
    let e = error::<Set>(r#"{"a": 1}"#);
    assert!(e.contains("invalid type: map, expected a sequence"), "{e}");
    let e = error::<Map>("[1, 2]");
    assert!(e.contains("invalid type: sequence, expected a map"), "{e}");
    // Not a collection at all, and an element of the wrong type.
    let e = error::<Map>("null");
    assert!(e.contains("expected a map"), "{e}");
    let e = error::<Set>("[1, -2]");
    assert!(e.contains("expected u32"), "{e}");
    let e = error::<Set>("[1, 2] trailing");
    assert!(e.contains("trailing characters"), "{e}");
}

/// What a length-prefixed format (bincode, postcard) relies on: the declared
/// length equals the number of elements written. serde_json ignores the
/// declared length, so a counting serializer checks it.
fn declared_and_written_agree<T: serde::Serialize>(value: &T) -> bool {
    let mut counter = Counter::default();
    value.serialize(&mut counter).unwrap();
    counter.declared == Some(counter.written)
}

#[test]
fn a_snapshot_declares_exactly_the_elements_it_writes_under_concurrent_writes() {
    let map: HashMap<u64, u64> = (0..2000).map(|i| (i, i)).collect();
    let set: HashSet<u64> = (0..2000).collect();
    let stop = AtomicBool::new(false);
    let agreed = thread::scope(|s| {
        s.spawn(|| {
            let mut i = 2000;
            while !stop.load(Relaxed) {
                map.insert(i, i);
                map.remove(&(i - 2000));
                set.insert(i);
                set.remove(&(i - 2000));
                i += 1;
            }
        });
        // Assert after the writer has stopped: a panic inside the scope
        // would wait for it forever.
        let agreed = (0..200)
            .filter(|_| declared_and_written_agree(&map) & declared_and_written_agree(&set))
            .count();
        stop.store(true, Relaxed);
        agreed
    });
    assert_eq!(
        agreed, 200,
        "a declared length differed from what was written"
    );
}

/// Counts the entries or elements of one top-level map or sequence and
/// records the length it was declared with.
#[derive(Default)]
struct Counter {
    declared: Option<usize>,
    written: usize,
}

#[derive(Debug)]
struct CountError;
impl std::fmt::Display for CountError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("counting cannot fail")
    }
}
impl std::error::Error for CountError {}
impl serde::ser::Error for CountError {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        CountError
    }
}

mod counter_impl {
    use super::{CountError, Counter};
    use serde::ser::{self, Impossible, Serialize};

    macro_rules! scalars {
        ($($name:ident: $t:ty),*) => {$(
            fn $name(self, _: $t) -> Result<(), CountError> { Ok(()) }
        )*};
    }

    impl ser::Serializer for &mut Counter {
        type Ok = ();
        type Error = CountError;
        type SerializeSeq = Self;
        type SerializeMap = Self;
        type SerializeTuple = Impossible<(), CountError>;
        type SerializeTupleStruct = Impossible<(), CountError>;
        type SerializeTupleVariant = Impossible<(), CountError>;
        type SerializeStruct = Impossible<(), CountError>;
        type SerializeStructVariant = Impossible<(), CountError>;

        scalars!(serialize_bool: bool, serialize_i8: i8, serialize_i16: i16,
            serialize_i32: i32, serialize_i64: i64, serialize_u8: u8,
            serialize_u16: u16, serialize_u32: u32, serialize_u64: u64,
            serialize_f32: f32, serialize_f64: f64, serialize_char: char,
            serialize_str: &str, serialize_bytes: &[u8]);

        fn serialize_none(self) -> Result<(), CountError> {
            Ok(())
        }
        fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<(), CountError> {
            Ok(())
        }
        fn serialize_unit(self) -> Result<(), CountError> {
            Ok(())
        }
        fn serialize_unit_struct(self, _: &'static str) -> Result<(), CountError> {
            Ok(())
        }
        fn serialize_unit_variant(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
        ) -> Result<(), CountError> {
            Ok(())
        }
        fn serialize_newtype_struct<T: Serialize + ?Sized>(
            self,
            _: &'static str,
            _: &T,
        ) -> Result<(), CountError> {
            Ok(())
        }
        fn serialize_newtype_variant<T: Serialize + ?Sized>(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: &T,
        ) -> Result<(), CountError> {
            Ok(())
        }
        fn serialize_seq(self, len: Option<usize>) -> Result<Self, CountError> {
            self.declared = len;
            Ok(self)
        }
        fn serialize_map(self, len: Option<usize>) -> Result<Self, CountError> {
            self.declared = len;
            Ok(self)
        }
        fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, CountError> {
            unimplemented!()
        }
        fn serialize_tuple_struct(
            self,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeTupleStruct, CountError> {
            unimplemented!()
        }
        fn serialize_tuple_variant(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeTupleVariant, CountError> {
            unimplemented!()
        }
        fn serialize_struct(
            self,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeStruct, CountError> {
            unimplemented!()
        }
        fn serialize_struct_variant(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeStructVariant, CountError> {
            unimplemented!()
        }
    }

    impl ser::SerializeSeq for &mut Counter {
        type Ok = ();
        type Error = CountError;
        fn serialize_element<T: Serialize + ?Sized>(&mut self, _: &T) -> Result<(), CountError> {
            self.written += 1;
            Ok(())
        }
        fn end(self) -> Result<(), CountError> {
            Ok(())
        }
    }

    impl ser::SerializeMap for &mut Counter {
        type Ok = ();
        type Error = CountError;
        fn serialize_key<T: Serialize + ?Sized>(&mut self, _: &T) -> Result<(), CountError> {
            self.written += 1;
            Ok(())
        }
        fn serialize_value<T: Serialize + ?Sized>(&mut self, _: &T) -> Result<(), CountError> {
            Ok(())
        }
        fn end(self) -> Result<(), CountError> {
            Ok(())
        }
    }
}

#[test]
fn a_huge_declared_length_does_not_preallocate_it() {
    // A length-prefixed format can claim any length before sending a single
    // element; the presize is capped, so this neither aborts nor allocates
    // for a billion entries.
    use serde::de::value::{Error, SeqDeserializer};
    use serde::Deserialize;
    struct Lying(std::vec::IntoIter<u32>);
    impl Iterator for Lying {
        type Item = u32;
        fn next(&mut self) -> Option<u32> {
            self.0.next()
        }
        fn size_hint(&self) -> (usize, Option<usize>) {
            (1 << 40, Some(1 << 40))
        }
    }
    let de = SeqDeserializer::<_, Error>::new(Lying(vec![1, 2, 3].into_iter()));
    let set = HashSet::<u32>::deserialize(de).unwrap();
    assert_eq!(set.len(), 3);
    assert!(
        set.capacity() >= 3 && set.capacity() < 1 << 20,
        "{}",
        set.capacity()
    );
}
