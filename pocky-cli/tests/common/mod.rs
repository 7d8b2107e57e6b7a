//! Helpers for end-to-end tests of the `pocky` binary.

#![allow(dead_code)]

pub mod build;
pub mod outside;
pub mod records;
pub mod service;
pub mod user;

use std::path::Path;
use std::process::{Command, Output};

/// A fresh state root holding images pulled from the sandbox's registry,
/// for the tests that run containers.
pub struct Ctx {
    root: tempfile::TempDir,
    registry: String,
    /// Flags that come first in every `run` made through the context.
    run_flags: Vec<&'static str>,
}

/// What a test's state root made outside itself (its bridges, firewall
/// rules, cgroup parents) goes with it: `system reset`, as a user would
/// remove pocky. Without it every test's default bridge stays in the
/// sandbox and the later ones run out of free subnets.
impl Drop for Ctx {
    fn drop(&mut self) {
        let out = pocky(self.root.path(), &["system", "reset", "--force"]);
        if !out.status.success() && !std::thread::panicking() {
            panic!("system reset of the test's root failed: {}", stderr(&out));
        }
    }
}

impl Ctx {
    /// `None` outside the sandbox, where the test is skipped.
    pub fn new(test: &str, images: &[&str]) -> Option<Self> {
        let sb = pocky_testkit::sandbox(test)?;
        let root = tempfile::tempdir().unwrap();
        for i in images {
            ok(
                root.path(),
                &["pull", "-q", &format!("{}/{i}", sb.registry)],
            );
        }
        Some(Self {
            root,
            registry: sb.registry,
            run_flags: Vec::new(),
        })
    }

    pub fn with_run_flags(mut self, flags: &[&'static str]) -> Self {
        self.run_flags.extend_from_slice(flags);
        self
    }

    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// The sandbox registry's image `name`.
    pub fn image(&self, name: &str) -> String {
        format!("{}/{name}", self.registry)
    }

    pub fn busybox(&self) -> String {
        self.image("busybox")
    }

    fn run_args<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        let mut all = vec!["run"];
        all.extend_from_slice(&self.run_flags);
        all.extend_from_slice(args);
        all
    }

    /// `pocky run ARGS` (flags, image, command).
    pub fn run(&self, args: &[&str]) -> Output {
        pocky(self.root(), &self.run_args(args))
    }

    /// `pocky run FLAGS busybox CMD...`: asserts success, returns stdout.
    pub fn run_busybox(&self, flags: &[&str], cmd: &[&str]) -> String {
        let image = self.busybox();
        let mut args = flags.to_vec();
        args.push(&image);
        args.extend_from_slice(cmd);
        ok(self.root(), &self.run_args(&args))
    }

    /// `pocky run --rm FLAGS IMAGE sh -c SCRIPT`.
    pub fn sh_in(&self, image: &str, flags: &[&str], script: &str) -> Output {
        let image = self.image(image);
        let mut args = vec!["--rm"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&[&image, "sh", "-c", script]);
        self.run(&args)
    }

    /// `pocky run --rm FLAGS busybox sh -c SCRIPT`.
    pub fn sh(&self, flags: &[&str], script: &str) -> Output {
        self.sh_in("busybox", flags, script)
    }

    /// [`Ctx::sh`] that must succeed; returns stdout.
    pub fn sh_ok(&self, flags: &[&str], script: &str) -> String {
        let o = self.sh(flags, script);
        assert!(o.status.success(), "{flags:?} {script}: {}", stderr(&o));
        stdout(&o)
    }
}

/// `system reset` of a test's own state root when the test ends, pass or
/// fail: what its containers made outside the root (the default bridge,
/// firewall rules, cgroups) goes with it.
pub struct Reset<'a>(pub &'a Path);

impl Drop for Reset<'_> {
    fn drop(&mut self) {
        let _ = pocky(self.0, &["system", "reset", "--force"]);
    }
}

pub fn pocky(root: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pocky"))
        .arg("--root")
        .arg(root)
        .args(args)
        .env_remove("POCKY_ROOT")
        .output()
        .expect("running pocky")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// [`ok`]'s output trimmed: one value (an id, a formatted field).
pub fn one(root: &Path, args: &[&str]) -> String {
    ok(root, args).trim().to_owned()
}

/// An image's id and manifest digest: what a push, save or load must keep.
pub fn id_and_digest(root: &Path, image: &str) -> (String, String) {
    (
        one(root, &["inspect", "--format", "{{.Id}}", image]),
        one(
            root,
            &[
                "image",
                "inspect",
                "--format",
                "{{.Manifest.Digest}}",
                image,
            ],
        ),
    )
}

/// Runs pocky and asserts success, returning stdout.
pub fn ok(root: &Path, args: &[&str]) -> String {
    let o = pocky(root, args);
    assert!(
        o.status.success(),
        "pocky {args:?} failed ({:?}): {}",
        o.status.code(),
        stderr(&o)
    );
    stdout(&o)
}

/// Runs pocky and asserts Docker's engine-failure code and a one-line error.
pub fn fails(root: &Path, args: &[&str]) -> String {
    let o = pocky(root, args);
    assert_eq!(o.status.code(), Some(125), "pocky {args:?}: {}", stderr(&o));
    let err = stderr(&o);
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "one-line error expected: {err}"
    );
    assert!(err.starts_with("pocky: "), "{err}");
    err
}

/// `images --format json`: Docker's lines, gathered into an array.
pub fn images_json(root: &Path) -> serde_json::Value {
    ok(root, &["images", "--format", "json"])
        .lines()
        .map(|l| serde_json::from_str(l).expect("images json line"))
        .collect::<Vec<serde_json::Value>>()
        .into()
}

/// `pocky inspect NAME`'s one container document.
pub fn container(root: &Path, name: &str) -> serde_json::Value {
    let v: serde_json::Value =
        serde_json::from_str(&ok(root, &["inspect", name])).expect("inspect json");
    v[0].clone()
}

/// `pocky network inspect NAME`'s one document.
pub fn network(c: &Ctx, name: &str) -> serde_json::Value {
    let v: serde_json::Value =
        serde_json::from_str(&ok(c.root(), &["network", "inspect", name])).expect("inspect json");
    v[0].clone()
}

/// Waits (bounded) until `cond` holds; the bound only stops a hung test.
pub fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..600 {
        if cond() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("never happened: {what}");
}

pub fn inspect(root: &Path, name: &str) -> serde_json::Value {
    let v: serde_json::Value =
        serde_json::from_str(&ok(root, &["image", "inspect", name])).expect("inspect json");
    v[0].clone()
}

/// Every file name below `dir`, relative, sorted: a fingerprint of a store.
pub fn tree(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            out.push(p.strip_prefix(base).unwrap().display().to_string());
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                walk(base, &p, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// A control file of container `id`'s cgroup in v1 `controller`, trimmed;
/// `None` once the cgroup is gone (or on v2).
pub fn v1_cgroup_file(controller: &str, id: &str, file: &str) -> Option<String> {
    let parent = std::env::var("POCKY_CGROUP_PARENT").unwrap_or_else(|_| "pocky".into());
    let v1 = format!("/sys/fs/cgroup/{controller}/{parent}/{id}/{file}");
    std::fs::read_to_string(v1)
        .ok()
        .map(|s| s.trim().to_owned())
}

/// This process's mount table but the layer images, which a container's
/// start mounts in its caller's namespace once, to stay (docs/IMAGES.md):
/// what else a command mounts here is a leak.
pub fn caller_mounts() -> String {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| {
            l.split(' ')
                .nth(4)
                .is_none_or(|m| !(m.contains("/layers/") && m.ends_with("/mnt")))
        })
        .map(|l| format!("{l}\n"))
        .collect()
}
