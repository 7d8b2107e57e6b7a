//! A cgroup v2 subtree delegated to an unprivileged user, where rootless
//! pocky may make its containers' cgroups.
//!
//! Delegation (the kernel's cgroup-v2.rst, "Delegation"; systemd does it for
//! `user@UID.service`) gives a user a cgroup directory together with its
//! `cgroup.procs`, `cgroup.subtree_control` and `cgroup.threads`; the user
//! then makes and limits cgroups below it, with the controllers its parent
//! enabled (`cgroup.controllers`). The caller's own cgroup is inside the
//! subtree: the delegated root is the topmost of its ancestors that the user
//! owns that way. Nothing here applies to v1, where no such thing exists.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The user's delegated subtree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delegated {
    /// Its path below the hierarchy root, without a leading `/`
    /// (`user.slice/user-1000.slice/user@1000.service`).
    pub path: PathBuf,
    /// The controllers it may use (its `cgroup.controllers`).
    pub controllers: Vec<String>,
}

/// The caller's cgroup in the unified hierarchy, from the text of
/// `/proc/self/cgroup` (its `0::/path` line), without the leading `/`.
pub fn own_unified(proc_self_cgroup: &str) -> Option<PathBuf> {
    proc_self_cgroup.lines().find_map(|l| {
        let p = l.strip_prefix("0::")?;
        Some(PathBuf::from(p.trim().trim_start_matches('/')))
    })
}

fn owned_by(path: &Path, uid: u32) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.uid() == uid)
}

/// Whether `dir` is delegated to `uid`: the directory and the files that
/// move processes and enable controllers are the user's.
fn delegated_to(dir: &Path, uid: u32) -> bool {
    owned_by(dir, uid)
        && owned_by(&dir.join("cgroup.procs"), uid)
        && owned_by(&dir.join("cgroup.subtree_control"), uid)
}

/// Finds the subtree delegated to `uid` that holds `own` (the caller's
/// cgroup below the v2 hierarchy mounted at `root`). `None` when the
/// caller's own cgroup is not the user's: nothing is delegated.
pub fn find(root: &Path, own: &Path, uid: u32) -> Option<Delegated> {
    let mut best = None;
    let mut rel = own.to_path_buf();
    while !rel.as_os_str().is_empty() {
        if !delegated_to(&root.join(&rel), uid) {
            break;
        }
        best = Some(rel.clone());
        if !rel.pop() {
            break;
        }
    }
    let path = best?;
    let controllers = std::fs::read_to_string(root.join(&path).join("cgroup.controllers"))
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    Some(Delegated { path, controllers })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake v2 tree: `/a/b/c` with `b` and `c` delegated (owned by the
    /// test's uid, like all of a tempdir), `a` not: its files are faked
    /// as another owner's by being absent.
    fn tree() -> (tempfile::TempDir, PathBuf) {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().to_path_buf();
        std::fs::write(
            root.join("cgroup.controllers"),
            "cpuset cpu io memory pids\n",
        )
        .unwrap();
        for (dir, controllers) in [
            ("a", "cpu memory pids"),
            ("a/b", "memory pids"),
            ("a/b/c", ""),
        ] {
            let d = root.join(dir);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("cgroup.controllers"), controllers).unwrap();
            if dir != "a" {
                std::fs::write(d.join("cgroup.procs"), "").unwrap();
                std::fs::write(d.join("cgroup.subtree_control"), "").unwrap();
            }
        }
        (t, root)
    }

    #[test]
    fn the_topmost_owned_ancestor_is_the_delegated_root() {
        let (_t, root) = tree();
        let me = nix::unistd::geteuid().as_raw();
        let d = find(&root, Path::new("a/b/c"), me).unwrap();
        assert_eq!(d.path, PathBuf::from("a/b"));
        assert_eq!(d.controllers, ["memory", "pids"]);
        // Another user owns none of it.
        assert_eq!(find(&root, Path::new("a/b/c"), me + 1), None);
        // A caller outside the delegated part has none.
        assert_eq!(find(&root, Path::new("a"), me), None);
        assert_eq!(find(&root, Path::new(""), me), None);
    }

    #[test]
    fn own_cgroup_comes_from_the_unified_line() {
        let text = "12:pids:/user.slice\n1:name=systemd:/x\n0::/user.slice/user@1000.service/app.slice/a.scope\n";
        assert_eq!(
            own_unified(text),
            Some(PathBuf::from(
                "user.slice/user@1000.service/app.slice/a.scope"
            ))
        );
        assert_eq!(own_unified("0::/\n"), Some(PathBuf::new()));
        assert_eq!(own_unified("3:cpu:/\n"), None);
    }
}
