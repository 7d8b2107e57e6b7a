//! The busybox bundle (made by skopeo and umoci, not by pocky) and the
//! `pocky-runtime` invocations that the end-to-end tests share.
#![allow(dead_code)] // each test crate uses its own part

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_pocky-runtime");

pub struct Env {
    pub dir: tempfile::TempDir,
    pub cgroup_parent: String,
}

impl Env {
    /// A busybox bundle whose process is `args`, with its cgroup under the
    /// sandbox's test parent.
    pub fn new(test: &str, args: &[&str]) -> Option<Env> {
        Self::unpacked_with(test, args, &[])
    }

    /// [`Env::new`] with more `umoci unpack` flags (`--uid-map` makes a
    /// bundle for a user namespace, its files owned by the mapped ids).
    pub fn unpacked_with(test: &str, args: &[&str], umoci: &[&str]) -> Option<Env> {
        let sb = pocky_testkit::sandbox(test)?;
        let dir = tempfile::tempdir().unwrap();
        let oci = format!("oci:{}:busybox", dir.path().join("oci").display());
        run_ok(Command::new("skopeo").args([
            "copy",
            "-q",
            "--src-tls-verify=false",
            &format!("docker://{}/busybox", sb.registry),
            &oci,
        ]));
        let image = format!("{}:busybox", dir.path().join("oci").display());
        let bundle = dir.path().join("bundle");
        run_ok(
            Command::new("umoci")
                .args(["unpack", "--image", &image])
                .args(umoci)
                .arg(&bundle),
        );
        let cgroup_parent =
            std::env::var("POCKY_CGROUP_PARENT").unwrap_or_else(|_| "pocky-oci-test".into());
        let env = Env { dir, cgroup_parent };
        env.edit(|s| {
            s["process"]["args"] = args.into();
            s["process"]["terminal"] = false.into();
        });
        Some(env)
    }

    pub fn bundle(&self) -> PathBuf {
        self.dir.path().join("bundle")
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    pub fn edit(&self, f: impl FnOnce(&mut Value)) {
        let path = self.bundle().join("config.json");
        let mut spec: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        f(&mut spec);
        std::fs::write(&path, serde_json::to_vec(&spec).unwrap()).unwrap();
    }

    /// An absolute cgroupsPath under the sandbox's test parent.
    pub fn set_cgroup(&self, id: &str) -> String {
        let cg = format!("/{}/{id}", self.cgroup_parent);
        let c = cg.clone();
        self.edit(|s| s["linux"]["cgroupsPath"] = c.into());
        cg
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.arg("--root").arg(self.root()).args(args);
        c
    }

    /// `VERB --bundle <bundle> ID` (`run` or `create`) with no stdin, as
    /// it came out: the caller checks the status.
    pub fn on_bundle(&self, verb: &str, id: &str) -> Output {
        let bundle = self.bundle();
        self.cmd(&[verb, "--bundle", bundle.to_str().unwrap(), id])
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    pub fn ok(&self, args: &[&str]) -> Output {
        let out = self.cmd(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        out
    }

    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.cmd(args).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?} should fail");
        text(&out.stderr)
    }

    /// `create`, with the container's stdio going to a file (a pipe would
    /// stay open in the waiting init).
    pub fn create(&self, id: &str, extra: &[&str]) -> PathBuf {
        let out = self.dir.path().join(format!("{id}.out"));
        let file = std::fs::File::create(&out).unwrap();
        let bundle = self.bundle();
        let pid_file = self.dir.path().join(format!("{id}.pid"));
        let mut args = vec![
            "create",
            "--bundle",
            bundle.to_str().unwrap(),
            "--pid-file",
            pid_file.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        args.push(id);
        let status = self
            .cmd(&args)
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .status()
            .unwrap();
        assert!(
            status.success(),
            "create: {}",
            std::fs::read_to_string(&out).unwrap()
        );
        let pid: i32 = std::fs::read_to_string(&pid_file).unwrap().parse().unwrap();
        assert!(pid > 0);
        out
    }

    pub fn state(&self, id: &str) -> Value {
        serde_json::from_slice(&self.ok(&["state", id]).stdout).unwrap()
    }

    pub fn wait_status(&self, id: &str, want: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.state(id)["status"] != want {
            assert!(Instant::now() < deadline, "{id} never became {want}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub fn run_ok(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?}: {}", text(&out.stderr));
}

pub fn cgroup_dirs(path: &str) -> Vec<PathBuf> {
    pocky_cgroup::Cgroup::detect(path).unwrap().dirs()
}
