//! Writing the holder's id maps through the setuid helpers `newuidmap`
//! and `newgidmap` (shadow's, Debian package `uidmap`): the only way an
//! unprivileged process may map more than its own id, and only the ranges
//! `/etc/subuid` and `/etc/subgid` give it. They are the one kind of
//! program pocky runs for itself, as podman does.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::{Result, RootlessError};
use crate::holder::IdSetup;
use crate::subid::{self, Range};

pub const SUBUID: &str = "/etc/subuid";
pub const SUBGID: &str = "/etc/subgid";

/// The first executable `name` in `$PATH`, else in the standard places
/// (a clean environment may have no PATH).
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/bin", "/bin", "/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    nix::unistd::access(p, nix::unistd::AccessFlags::X_OK).is_ok() && p.is_file()
}

/// The user's ranges from one of the files, or the named error.
fn ranges_from(file: &'static str, kind: &'static str, user: &str, id: u32) -> Result<Vec<Range>> {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(RootlessError::io("reading", file)(e)),
    };
    let ranges = subid::ranges(&text, user, id);
    if ranges.is_empty() {
        return Err(RootlessError::NoRanges {
            kind,
            user: user.to_owned(),
            uid: id,
            file,
        });
    }
    Ok(ranges)
}

/// What the holder is mapped with: the caller's ids and ranges, after
/// checking that the helpers are installed.
pub fn setup_for(uid: u32, gid: u32, user: &str) -> Result<IdSetup> {
    for helper in ["newuidmap", "newgidmap"] {
        if find_program(helper).is_none() {
            return Err(RootlessError::MissingHelper {
                helper,
                package: "uidmap",
            });
        }
    }
    Ok(IdSetup {
        uid,
        gid,
        uid_ranges: ranges_from(SUBUID, "uid", user, uid)?,
        gid_ranges: ranges_from(SUBGID, "gid", user, uid)?,
    })
}

fn run_helper(helper: &'static str, pid: i32, args: &[String]) -> Result<()> {
    let program = find_program(helper).ok_or(RootlessError::MissingHelper {
        helper,
        package: "uidmap",
    })?;
    let out = Command::new(&program)
        .arg(pid.to_string())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(RootlessError::io("running", &program))?;
    if out.status.success() {
        return Ok(());
    }
    let message = String::from_utf8_lossy(&out.stderr);
    let message = message.split_whitespace().collect::<Vec<_>>().join(" ");
    Err(RootlessError::Helper {
        helper,
        message: if message.is_empty() {
            out.status.to_string()
        } else {
            message
        },
    })
}

/// Maps process `pid`'s new user namespace: the caller's ids as 0, the
/// ranges after.
pub(crate) fn write_maps(pid: i32, ids: &IdSetup) -> Result<()> {
    let uid_map = subid::full_map(ids.uid, &ids.uid_ranges);
    let gid_map = subid::full_map(ids.gid, &ids.gid_ranges);
    run_helper("newuidmap", pid, &subid::helper_args(&uid_map))?;
    run_helper("newgidmap", pid, &subid::helper_args(&gid_map))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_pieces_are_named_in_one_line() {
        let e = RootlessError::NoRanges {
            kind: "uid",
            user: "alice".into(),
            uid: 1001,
            file: SUBUID,
        }
        .to_string();
        assert_eq!(
            e,
            "rootless pocky needs a subordinate uid range for user alice (uid 1001) in \
             /etc/subuid: as root, run `usermod --add-subuids 100000-165535 alice` (any free range)"
        );
        let e = RootlessError::MissingHelper {
            helper: "newgidmap",
            package: "uidmap",
        }
        .to_string();
        assert_eq!(
            e,
            "rootless pocky needs newgidmap (Debian package uidmap), which is not installed"
        );
    }
}
