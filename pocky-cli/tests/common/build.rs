//! Helpers for the build tests: contexts written by the test, podman
//! build as the reference builder, and filesystem trees read from export
//! tars for comparison.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use sha2::{Digest, Sha256};

use super::{ok, pocky, stderr};

/// Writes `files` (path, contents) under `dir`, creating parents.
pub fn write_context(dir: &Path, files: &[(&str, &str)]) {
    for (path, body) in files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    }
}

/// `pocky build ARGS`, stdin from `/dev/null`.
pub fn build(root: &Path, args: &[&str]) -> Output {
    let mut all = vec!["build"];
    all.extend_from_slice(args);
    pocky(root, &all)
}

/// `pocky build -q ARGS`: asserts success, returns the image id.
pub fn build_ok(root: &Path, args: &[&str]) -> String {
    let mut all = vec!["build", "-q"];
    all.extend_from_slice(args);
    ok(root, &all).trim().to_owned()
}

/// Podman with all of its state in `dir`, run by the sandbox's runc.
pub struct Podman<'a> {
    pub dir: &'a Path,
}

impl Podman<'_> {
    pub fn run(&self, args: &[&str]) -> Output {
        let d = self.dir;
        Command::new("podman")
            .arg("--root")
            .arg(d.join("root"))
            .arg("--runroot")
            .arg(d.join("run"))
            .args([
                "--storage-driver",
                "vfs",
                "--runtime",
                "runc",
                "--cgroup-manager",
                "cgroupfs",
                "--events-backend",
                "file",
            ])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("running podman")
    }

    pub fn ok(&self, args: &[&str]) -> Vec<u8> {
        let o = self.run(args);
        assert!(o.status.success(), "podman {args:?}: {}", stderr(&o));
        o.stdout
    }

    /// The image's filesystem: `podman create` + `podman export`.
    pub fn tree(&self, image: &str) -> Tree {
        let id = String::from_utf8(self.ok(&["create", image])).unwrap();
        let tar = self.ok(&["export", id.trim()]);
        self.ok(&["rm", id.trim()]);
        tree(&tar)
    }
}

/// The same for pocky.
pub fn pocky_tree(root: &Path, image: &str) -> Tree {
    let id = ok(root, &["create", image]).trim().to_owned();
    let o = pocky(root, &["export", &id]);
    assert!(o.status.success(), "export: {}", stderr(&o));
    ok(root, &["rm", &id]);
    tree(&o.stdout)
}

/// Path -> "type mode uid:gid [sha256|target]", times left out.
pub type Tree = BTreeMap<String, String>;

/// Files an engine writes per container, or mounts over, and `/run`,
/// which buildah creates for its RUN mounts.
fn engine_owned(path: &str) -> bool {
    matches!(
        path,
        "etc/hosts" | "etc/hostname" | "etc/resolv.conf" | "run" | "run/.containerenv"
    ) || ["dev", "proc", "sys"].contains(&path.split('/').next().unwrap_or(""))
}

pub fn tree(tar_bytes: &[u8]) -> Tree {
    let mut out = Tree::new();
    let mut archive = tar::Archive::new(tar_bytes);
    for entry in archive.entries().expect("tar entries") {
        let mut e = entry.expect("tar entry");
        let path = e.path().unwrap().to_string_lossy().into_owned();
        let path = path
            .trim_start_matches("./")
            .trim_end_matches('/')
            .to_owned();
        if path.is_empty() || engine_owned(&path) {
            continue;
        }
        let h = e.header().clone();
        let kind = h.entry_type();
        let mut desc = format!(
            "{:?} {:o} {}:{}",
            kind,
            h.mode().unwrap() & 0o7777,
            h.uid().unwrap(),
            h.gid().unwrap()
        );
        if kind.is_symlink() || kind.is_hard_link() {
            let target = e.link_name().unwrap().unwrap();
            desc += &format!(" -> {}", target.display());
        } else if kind.is_file() {
            let mut body = Vec::new();
            e.read_to_end(&mut body).unwrap();
            desc += &format!(" {:x}", Sha256::digest(&body));
        }
        out.insert(path, desc);
    }
    out
}

/// The entries where two trees differ, for an assertion message.
pub fn differences(a: &Tree, b: &Tree) -> Vec<String> {
    let keys: std::collections::BTreeSet<_> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| format!("{k}: {:?} vs {:?}", a.get(k), b.get(k)))
        .collect()
}
