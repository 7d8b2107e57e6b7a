//! Integration tests of `pack_layer`, `pack_tree` and `LayerWriter`: trees
//! made by hand in overlay form, packed, read back with the tar crate, GNU
//! tar and the crate's own `unpack_layer`.

mod form;
mod gnu_tar;
mod roundtrip;
mod support;
mod walk_safety;
mod writer;
