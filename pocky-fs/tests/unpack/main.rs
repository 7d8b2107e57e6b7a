//! Integration tests of `unpack_layer`, hostile layers included.

mod archive;
mod compression;
mod erofs_twin;
mod escapes;
mod limits;
mod roundtrip;
mod support;
mod whiteouts;
