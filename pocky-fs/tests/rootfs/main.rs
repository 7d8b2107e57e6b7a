//! Integration tests of rootfs setup. The privileged ones each run in a
//! forked child inside its own mount namespace, so every mount dies with it.

mod erofs;
mod overlay;
mod resolve;
mod setup;
mod support;
