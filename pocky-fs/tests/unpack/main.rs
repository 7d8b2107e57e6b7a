//! Integration tests of `unpack_layer`, hostile layers included.

mod archive;
mod compression;
mod escapes;
mod limits;
mod roundtrip;
mod support;
mod whiteouts;
