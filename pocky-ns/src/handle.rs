//! The parent's handle on a spawned child and its side of the protocol.

use std::os::fd::OwnedFd;

use nix::errno::Errno;
use nix::unistd::Pid;

use crate::channel::{ParentChannel, ToChild, ToParent};
use crate::error::NsError;
use crate::wait::{ExitStatus, wait_exit};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Cloned; Ready not yet received.
    Created,
    /// Ready received; Go not yet sent.
    Ready,
    /// The command was exec'd.
    Started,
    /// The child failed or vanished and was reaped.
    Reaped,
}

/// The parent's handle on a spawned child. Dropping it before
/// [`start`](Child::start) succeeded tells the child to abort and reaps it.
#[derive(Debug)]
pub struct Child {
    pub pid: Pid,
    channel: ParentChannel,
    state: State,
    pty_master: Option<OwnedFd>,
    net_ns: Option<OwnedFd>,
}

impl Child {
    pub(crate) fn new(pid: Pid, channel: ParentChannel) -> Self {
        Child {
            pid,
            channel,
            state: State::Created,
            pty_master: None,
            net_ns: None,
        }
    }

    /// Waits for the child's Ready: the point where the parent sets up
    /// cgroups and (through `/proc/<pid>/ns/net`) the network.
    ///
    /// A child that failed is reaped and reported as [`NsError::Child`].
    pub fn wait_ready(&mut self) -> Result<(), NsError> {
        if self.state != State::Created {
            return Ok(());
        }
        match self.channel.recv()? {
            Some((ToParent::Ready, net_ns)) => {
                self.net_ns = net_ns;
                self.state = State::Ready;
                Ok(())
            }
            Some((failed @ ToParent::Failed { .. }, _)) => {
                Err(self.failed_or_vanished(Some(failed), "ready"))
            }
            None => Err(self.failed_or_vanished(None, "ready")),
            Some((other, _)) => Err(NsError::Protocol(format!("expected Ready, got {other:?}"))),
        }
    }

    /// A path to the child's network namespace, once it is Ready: the
    /// descriptor it sent (`/proc/self/fd/N`, which this process and its
    /// forks may open), else `/proc/PID/ns/net`, which needs
    /// CAP_SYS_PTRACE over a child that is not dumpable yet.
    pub fn net_ns_path(&self) -> std::path::PathBuf {
        match &self.net_ns {
            Some(fd) => format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(fd)).into(),
            None => format!("/proc/{}/ns/net", self.pid).into(),
        }
    }

    /// Tells a child in a new user namespace that its id maps exist.
    pub(crate) fn send_mapped(&self) -> Result<(), NsError> {
        self.channel.send(ToChild::Mapped)
    }

    /// Lets the child continue to its `exec`. Returns `Ok(())` once the exec
    /// happened (the close-on-exec channel closed without a message), or the
    /// child's failure, e.g. exit code 127 `exec: "foo": executable file not
    /// found in $PATH`. Calls [`wait_ready`](Child::wait_ready) first if the
    /// caller did not.
    ///
    /// A child killed by a signal between Go and exec also closes the
    /// channel without a message and is indistinguishable here; its exit
    /// status tells.
    pub fn start(&mut self) -> Result<(), NsError> {
        self.wait_ready()?;
        if self.state != State::Ready {
            return Ok(());
        }
        if let Err(e) = self.channel.send(ToChild::Go) {
            if matches!(
                e,
                NsError::Channel {
                    source: Errno::EPIPE | Errno::ECONNRESET,
                    ..
                }
            ) {
                return Err(self.failed_or_vanished(None, "start"));
            }
            return Err(e);
        }
        loop {
            match self.channel.recv()? {
                None => {
                    self.state = State::Started;
                    return Ok(());
                }
                Some((ToParent::PtyMaster, Some(fd))) => self.pty_master = Some(fd),
                Some((failed @ ToParent::Failed { .. }, _)) => {
                    return Err(self.failed_or_vanished(Some(failed), "start"));
                }
                Some((other, _)) => {
                    return Err(NsError::Protocol(format!("unexpected {other:?} after Go")));
                }
            }
        }
    }

    /// The pty master the child sent with
    /// [`ChildChannel::send_pty_master`](crate::ChildChannel::send_pty_master), once [`start`](Child::start)
    /// returned.
    pub fn take_pty_master(&mut self) -> Option<OwnedFd> {
        self.pty_master.take()
    }

    /// Tells a child that has not started to exit, and reaps it.
    pub fn abort(mut self) -> Result<(), NsError> {
        self.abort_and_reap()
    }

    /// Waits for the started child to exit.
    pub fn wait(&self) -> Result<ExitStatus, NsError> {
        wait_exit(self.pid)
    }

    fn abort_and_reap(&mut self) -> Result<(), NsError> {
        if matches!(self.state, State::Created | State::Ready) {
            // A child that already exited makes this EPIPE: nothing to tell.
            let _ = self.channel.send(ToChild::Abort);
            self.state = State::Reaped;
            wait_exit(self.pid)?;
        }
        Ok(())
    }

    /// Reaps a child that reported `failed` (or closed the channel without a
    /// message) and builds the error.
    fn failed_or_vanished(&mut self, failed: Option<ToParent>, during: &'static str) -> NsError {
        self.state = State::Reaped;
        let status = wait_exit(self.pid);
        match failed {
            Some(ToParent::Failed {
                stage,
                errno,
                message,
                exit_code,
            }) => NsError::Child {
                stage,
                errno,
                message,
                exit_code,
            },
            _ => match status {
                Ok(st) => NsError::Child {
                    stage: during.to_owned(),
                    errno: 0,
                    message: format!("process exited ({st}) without a message"),
                    exit_code: st.code,
                },
                Err(_) => NsError::Vanished {
                    pid: self.pid.as_raw(),
                    during,
                },
            },
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        // Errors cannot be reported from drop; the child is gone either way.
        let _ = self.abort_and_reap();
    }
}
