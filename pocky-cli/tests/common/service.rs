//! The API service (`pocky system service`) on a socket of a test's own,
//! and the clients that drive it (the docker CLI, the python SDK).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use super::{Ctx, eventually, stderr, stdout};

/// `pocky system service` on a socket of the test's own, stopped (SIGTERM)
/// when the test ends.
pub struct Service {
    child: Child,
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Service {
    pub fn start(root: &Path) -> Service {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("docker.sock");
        let child = Command::new(env!("CARGO_BIN_EXE_pocky"))
            .arg("--root")
            .arg(root)
            .args(["system", "service", "--socket"])
            .arg(&socket)
            .env_remove("POCKY_ROOT")
            .stderr(Stdio::null())
            .spawn()
            .expect("starting the service");
        eventually("the service listens", || {
            std::os::unix::net::UnixStream::connect(&socket).is_ok()
        });
        Service {
            child,
            socket,
            _dir: dir,
        }
    }

    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        // SAFETY: a signal to our own child, which we reap just below.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

/// A client command with DOCKER_HOST set to the service.
pub fn client(svc: &Service, ctx: &Ctx, program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .env("DOCKER_HOST", svc.host())
        .env("REG", ctx.image("").trim_end_matches('/'))
        .env_remove("DOCKER_CONFIG")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {program}: {e}"))
}

pub fn client_ok(svc: &Service, ctx: &Ctx, program: &str, args: &[&str]) -> String {
    let o = client(svc, ctx, program, args);
    assert!(
        o.status.success(),
        "{program} {args:?} failed ({:?}): {}{}",
        o.status.code(),
        stdout(&o),
        stderr(&o)
    );
    stdout(&o)
}

/// The docker CLI if the machine has one (never Debian's docker.io).
pub fn docker_cli() -> Option<PathBuf> {
    ["/usr/local/bin/docker", "/usr/bin/docker"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}
