//! The engine's diagnostics on stderr; the front end sets how much.

use std::sync::atomic::{AtomicBool, Ordering};

static DEBUG: AtomicBool = AtomicBool::new(false);

/// Turns debug lines on or off (the CLI's `--log-level debug`).
pub fn set_debug(on: bool) {
    DEBUG.store(on, Ordering::Relaxed);
}

pub fn debug_enabled() -> bool {
    DEBUG.load(Ordering::Relaxed)
}

macro_rules! debug {
    ($($arg:tt)*) => {
        if $crate::log::debug_enabled() {
            eprintln!("pocky: debug: {}", format_args!($($arg)*));
        }
    };
}
pub(crate) use debug;
