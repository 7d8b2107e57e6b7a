//! `execvp` with Docker's semantics and exit codes.

use std::ffi::CString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;

use crate::spawn::{ChildError, SETUP_FAILED_EXIT_CODE};

/// `PATH` when the process environment has none (Docker's default).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Why a child failed to `exec` its command, as Docker reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExecFailure {
    /// The command exists but cannot be executed (exit code 126).
    CannotExecute,
    /// The command was not found (exit code 127).
    NotFound,
}

impl ExecFailure {
    /// The exit code Docker uses for this failure.
    pub fn exit_code(self) -> i32 {
        match self {
            ExecFailure::CannotExecute => 126,
            ExecFailure::NotFound => 127,
        }
    }

    /// Classifies an `execve` error: a missing file (or a missing
    /// interpreter, which execve also reports as ENOENT) is "not found",
    /// everything else (EACCES, ENOEXEC, ...) "cannot execute".
    pub fn from_errno(errno: Errno) -> Self {
        match errno {
            Errno::ENOENT | Errno::ENOTDIR => ExecFailure::NotFound,
            _ => ExecFailure::CannotExecute,
        }
    }
}

fn failure(kind: ExecFailure, errno: Errno, message: String) -> ChildError {
    ChildError {
        stage: "exec",
        errno: errno as i32,
        message,
        exit_code: kind.exit_code(),
    }
}

/// Resolves `name` like `execvp`, but against the `PATH` of the container's
/// environment `env`, not the runtime's own.
///
/// A name containing `/` is used as is (execve reports its errors). Otherwise
/// the first regular file with an execute bit wins; if only non-executable
/// files or directories match, the result is 126 "permission denied", and
/// 127 "executable file not found in $PATH" when nothing matches.
pub(crate) fn lookup(name: &str, env: &[String]) -> Result<PathBuf, ChildError> {
    if name.contains('/') {
        return Ok(PathBuf::from(name));
    }
    if name.is_empty() {
        return Err(failure(
            ExecFailure::NotFound,
            Errno::ENOENT,
            "exec: \"\": executable file not found in $PATH".into(),
        ));
    }
    let path = env
        .iter()
        .find_map(|kv| kv.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    let mut denied = false;
    for dir in path.split(':') {
        // An empty PATH element means the working directory, as in execvp.
        let dir = if dir.is_empty() { "." } else { dir };
        let candidate = Path::new(dir).join(name);
        let Ok(meta) = std::fs::metadata(&candidate) else {
            continue;
        };
        if meta.is_file() && meta.permissions().mode() & 0o111 != 0 {
            return Ok(candidate);
        }
        denied = true;
    }
    if denied {
        Err(failure(
            ExecFailure::CannotExecute,
            Errno::EACCES,
            format!("exec: \"{name}\": permission denied"),
        ))
    } else {
        Err(failure(
            ExecFailure::NotFound,
            Errno::ENOENT,
            format!("exec: \"{name}\": executable file not found in $PATH"),
        ))
    }
}

/// Marks every fd from `first` on close-on-exec. Marking rather than
/// closing keeps the channel open until the exec itself, so a failed exec
/// can still be reported.
fn cloexec_from(first: u32) {
    // SAFETY: close_range takes plain integers and touches only our fd table.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if rc == 0 {
        return;
    }
    // Kernels before 5.11 lack CLOSE_RANGE_CLOEXEC: walk /proc/self/fd.
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let fds: Vec<i32> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|fd| u32::try_from(*fd).is_ok_and(|fd| fd >= first))
        .collect();
    for fd in fds {
        // SAFETY: F_SETFD on an fd number that may already be closed (the
        // read_dir fd itself) fails harmlessly with EBADF.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
}

fn to_cstrings(items: &[String], what: &str) -> Result<Vec<CString>, ChildError> {
    items
        .iter()
        .map(|s| {
            CString::new(s.as_bytes()).map_err(|_| ChildError {
                stage: "exec",
                errno: Errno::EINVAL as i32,
                message: format!("{what} contains a NUL byte: {s:?}"),
                exit_code: SETUP_FAILED_EXIT_CODE,
            })
        })
        .collect()
}

/// Executes `args` with environment `env`, searching `PATH` from `env`.
///
/// Every fd above 2 is made close-on-exec first. Returns only on failure,
/// with Docker's exit code: 127 when the command is not found, 126 when it
/// is found but cannot be executed (no execute bit, a directory, EACCES).
pub fn exec(args: &[String], env: &[String]) -> ChildError {
    exec_preserving(args, env, 0)
}

/// [`exec`], but fds 3 to 3+`preserve`-1 stay open into the new program
/// (runc's `--preserve-fds`: sockets handed down for socket activation).
pub fn exec_preserving(args: &[String], env: &[String], preserve: u32) -> ChildError {
    let Some(name) = args.first() else {
        return ChildError {
            stage: "exec",
            errno: Errno::EINVAL as i32,
            message: "no command specified".into(),
            exit_code: SETUP_FAILED_EXIT_CODE,
        };
    };
    let path = match lookup(name, env) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let cpath = match to_cstrings(&[path.to_string_lossy().into_owned()], "path") {
        Ok(mut v) => v.remove(0),
        Err(e) => return e,
    };
    let (cargs, cenv) = match (
        to_cstrings(args, "argument"),
        to_cstrings(env, "environment"),
    ) {
        (Ok(a), Ok(e)) => (a, e),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    cloexec_from(preserve.saturating_add(3));
    let errno = match nix::unistd::execve(&cpath, &cargs, &cenv) {
        Err(e) => e,
        Ok(never) => match never {},
    };
    let kind = ExecFailure::from_errno(errno);
    failure(
        kind,
        errno,
        format!("exec: \"{name}\": {}", errno.desc().to_lowercase()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn exit_codes_match_docker() {
        assert_eq!(ExecFailure::CannotExecute.exit_code(), 126);
        assert_eq!(ExecFailure::NotFound.exit_code(), 127);
        assert_eq!(
            ExecFailure::from_errno(Errno::ENOENT),
            ExecFailure::NotFound
        );
        assert_eq!(
            ExecFailure::from_errno(Errno::EACCES),
            ExecFailure::CannotExecute
        );
        assert_eq!(
            ExecFailure::from_errno(Errno::ENOEXEC),
            ExecFailure::CannotExecute
        );
    }

    fn path_env(dirs: &[&Path]) -> Vec<String> {
        let joined: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
        vec!["HOME=/".into(), format!("PATH={}", joined.join(":"))]
    }

    #[test]
    fn path_search_uses_the_given_env_and_docker_codes() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        // In a: a non-executable "tool" and a directory "dir"; in b: an
        // executable "tool".
        fs::write(a.path().join("tool"), "#!/bin/sh\n").unwrap();
        fs::create_dir(a.path().join("dir")).unwrap();
        let exe = b.path().join("tool");
        fs::write(&exe, "#!/bin/sh\n").unwrap();
        fs::set_permissions(&exe, fs::Permissions::from_mode(0o755)).unwrap();

        let env = path_env(&[a.path(), b.path()]);
        assert_eq!(lookup("tool", &env).unwrap(), exe);

        let only_a = path_env(&[a.path()]);
        let e = lookup("tool", &only_a).unwrap_err();
        assert_eq!((e.exit_code, e.stage), (126, "exec"));
        let e = lookup("dir", &only_a).unwrap_err();
        assert_eq!(e.exit_code, 126);
        let e = lookup("absent", &env).unwrap_err();
        assert_eq!(e.exit_code, 127);
        assert!(e.message.contains("executable file not found in $PATH"));

        // Names with a slash are not searched.
        assert_eq!(lookup("./tool", &only_a).unwrap(), PathBuf::from("./tool"));
    }

    #[test]
    fn empty_command_is_refused() {
        assert_eq!(exec(&[], &[]).exit_code, SETUP_FAILED_EXIT_CODE);
        assert!(exec(&["/a\0b".into()], &[]).message.contains("NUL"));
    }
}
