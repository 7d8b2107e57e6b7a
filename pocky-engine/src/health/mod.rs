//! Healthchecks, as Docker defines them.

pub mod config;
