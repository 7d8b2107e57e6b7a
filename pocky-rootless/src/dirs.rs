//! Where a user's pocky keeps its state and its runtime files, and the
//! checks that keep one user's (or root's) state out of another's reach.

use std::ffi::OsString;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::error::{Result, RootlessError};

/// Root's state root, as before rootless mode existed.
pub const ROOT_STATE: &str = "/var/lib/pocky";

/// The directories of one user's pocky.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dirs {
    /// The state root (`--root`): images, containers, volumes, networks.
    pub state: PathBuf,
    /// Runtime files: the namespace holder's record and lock, the
    /// firewall lock of the user's network namespace, the API socket.
    pub runtime: PathBuf,
    /// True when `$XDG_RUNTIME_DIR` was unset and `runtime` is the
    /// fallback under /tmp.
    pub runtime_fallback: bool,
}

/// An absolute path from the environment (XDG ignores relative ones).
fn absolute(v: Option<OsString>) -> Option<PathBuf> {
    v.map(PathBuf::from).filter(|p| p.is_absolute())
}

/// The user's directories from the environment (`env` looks a variable
/// up) and `home`, the passwd entry's home for when `$HOME` is unset:
/// state in `$XDG_DATA_HOME/pocky` (default `~/.local/share/pocky`),
/// runtime files in `$XDG_RUNTIME_DIR/pocky`, else `/tmp/pocky-UID`.
pub fn user_dirs(
    env: impl Fn(&str) -> Option<OsString>,
    uid: u32,
    home: Option<PathBuf>,
) -> Result<Dirs> {
    let state = match absolute(env("XDG_DATA_HOME")) {
        Some(data) => data.join("pocky"),
        None => absolute(env("HOME"))
            .or(home)
            .ok_or(RootlessError::NoHome { uid })?
            .join(".local/share/pocky"),
    };
    let (runtime, runtime_fallback) = match absolute(env("XDG_RUNTIME_DIR")) {
        Some(dir) => (dir.join("pocky"), false),
        None => (PathBuf::from(format!("/tmp/pocky-{uid}")), true),
    };
    Ok(Dirs {
        state,
        runtime,
        runtime_fallback,
    })
}

/// Creates `dir` (mode 0700) if missing, its parents with the usual
/// mode, and checks that it is a directory of `uid`'s that no one else
/// may enter: a runtime directory under a shared /tmp could otherwise
/// have been made by another user first.
pub fn private_dir(dir: &Path, uid: u32) -> Result<()> {
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent).map_err(RootlessError::io("creating", parent))?;
    }
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(RootlessError::io("creating", dir)(e)),
    }
    let meta = std::fs::symlink_metadata(dir).map_err(RootlessError::io("reading", dir))?;
    let unsafe_dir = |reason: String| RootlessError::Unsafe {
        path: dir.to_owned(),
        reason,
    };
    if !meta.is_dir() {
        return Err(unsafe_dir("it is not a directory".into()));
    }
    if meta.uid() != uid {
        return Err(unsafe_dir(format!(
            "it belongs to uid {}, not to uid {uid}",
            meta.uid()
        )));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(unsafe_dir(format!(
            "its mode is {:o}: others may enter it (make it 0700)",
            meta.mode() & 0o7777
        )));
    }
    Ok(())
}

/// Checks that a state root, if it exists, belongs to `uid`: root's
/// and users' states never mix, and no user works in another's.
pub fn check_state_owner(root: &Path, uid: u32) -> Result<()> {
    let meta = match std::fs::metadata(root) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            return Err(RootlessError::Unsafe {
                path: root.to_owned(),
                reason: format!("it is not uid {uid}'s: this user may not even look into it"),
            });
        }
        Err(e) => return Err(RootlessError::io("reading", root)(e)),
    };
    if meta.uid() == uid {
        return Ok(());
    }
    let whose = match meta.uid() {
        0 => "root's state (run pocky as root for it)".to_owned(),
        other => format!("the state of uid {other} (run pocky as that user for it)"),
    };
    Err(RootlessError::Unsafe {
        path: root.to_owned(),
        reason: format!("it is {whose}, and this is uid {uid}"),
    })
}

/// Creates the default state root of a user, private to them (0700): its
/// layers and volumes hold the containers' files.
pub fn create_state_dir(dir: &Path) -> Result<()> {
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent).map_err(RootlessError::io("creating", parent))?;
    }
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(RootlessError::io("creating", dir)(e)),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| OsString::from(v))
        }
    }

    #[test]
    fn xdg_variables_win_and_defaults_follow_the_spec() {
        let d = user_dirs(
            env(&[
                ("HOME", "/home/u"),
                ("XDG_DATA_HOME", "/data"),
                ("XDG_RUNTIME_DIR", "/run/user/1000"),
            ]),
            1000,
            None,
        )
        .unwrap();
        assert_eq!(d.state, PathBuf::from("/data/pocky"));
        assert_eq!(d.runtime, PathBuf::from("/run/user/1000/pocky"));
        assert!(!d.runtime_fallback);

        let d = user_dirs(env(&[("HOME", "/home/u")]), 1000, None).unwrap();
        assert_eq!(d.state, PathBuf::from("/home/u/.local/share/pocky"));
        assert_eq!(d.runtime, PathBuf::from("/tmp/pocky-1000"));
        assert!(d.runtime_fallback);
    }

    #[test]
    fn relative_xdg_values_are_ignored_and_home_comes_from_passwd() {
        let d = user_dirs(
            env(&[("XDG_DATA_HOME", "rel"), ("XDG_RUNTIME_DIR", "x")]),
            7,
            Some(PathBuf::from("/home/seven")),
        )
        .unwrap();
        assert_eq!(d.state, PathBuf::from("/home/seven/.local/share/pocky"));
        assert_eq!(d.runtime, PathBuf::from("/tmp/pocky-7"));
        assert!(matches!(
            user_dirs(env(&[]), 7, None),
            Err(RootlessError::NoHome { uid: 7 })
        ));
    }

    #[test]
    fn a_private_dir_must_be_ours_and_closed() {
        let t = tempfile::tempdir().unwrap();
        let me = nix::unistd::geteuid().as_raw();
        let dir = t.path().join("a/pocky");
        private_dir(&dir, me).unwrap();
        assert_eq!(
            std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        private_dir(&dir, me).unwrap();
        let err = private_dir(&dir, me + 1).unwrap_err();
        assert!(err.to_string().contains("belongs to uid"), "{err}");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let err = private_dir(&dir, me).unwrap_err();
        assert!(err.to_string().contains("others may enter"), "{err}");
        let link = t.path().join("link");
        std::os::unix::fs::symlink(&dir, &link).unwrap();
        let err = private_dir(&link, me).unwrap_err();
        assert!(err.to_string().contains("not a directory"), "{err}");
    }

    #[test]
    fn a_state_root_of_another_uid_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let me = nix::unistd::geteuid().as_raw();
        check_state_owner(t.path(), me).unwrap();
        check_state_owner(&t.path().join("missing"), me).unwrap();
        let err = check_state_owner(t.path(), me + 1).unwrap_err();
        assert!(err.to_string().contains("run pocky as"), "{err}");
    }
}
