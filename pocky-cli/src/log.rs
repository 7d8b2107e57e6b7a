//! Diagnostics on stderr, filtered by `--log-level`.

use std::sync::atomic::{AtomicU8, Ordering};

use crate::cli::LogLevel;

static LEVEL: AtomicU8 = AtomicU8::new(LogLevel::Warn as u8);

pub fn set_level(level: LogLevel) {
    LEVEL.store(level as u8, Ordering::Relaxed);
}

pub fn enabled(level: LogLevel) -> bool {
    level as u8 <= LEVEL.load(Ordering::Relaxed)
}

macro_rules! debug {
    ($($arg:tt)*) => {
        if $crate::log::enabled($crate::cli::LogLevel::Debug) {
            eprintln!("pocky: debug: {}", format_args!($($arg)*));
        }
    };
}
pub(crate) use debug;
