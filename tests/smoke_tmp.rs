#[test]
fn smoke() { let m = evacmap::HashMap::<u64,u64>::new(); m.insert(1,2); assert_eq!(*m.get(&1).unwrap(), 2); }
