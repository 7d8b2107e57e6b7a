//! The runtime's types a front end hands in or gets back (a process's
//! stdio, its exit status, the foreground's signal forwarding and
//! terminal relay), re-exported so that front ends depend on the engine
//! alone.

pub use pocky_ns::pty::{
    Relayed, copy_winsize, hold_detached, relay, relay_detachable, set_winsize,
};
pub use pocky_ns::{ExitStatus, FORWARDED, SignalForwarder};
pub use pocky_runtime::exec::ExecOptions;
pub use pocky_runtime::launch::Stdio;
pub use pocky_runtime::process::parse_signal;
