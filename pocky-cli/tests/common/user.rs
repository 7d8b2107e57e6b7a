//! A throwaway user for rootless tests: made with `useradd` (with or
//! without subordinate id ranges), given a home and a runtime directory of
//! its own, and removed again with everything pocky made for it.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

static SERIAL: AtomicU32 = AtomicU32::new(0);

/// For a rootless test: a user with subordinate ranges and the sandbox's
/// busybox; `None` outside the sandbox (skipped, or failed under CI).
pub fn user(test: &str) -> Option<(User, String)> {
    let sb = pocky_testkit::sandbox(test)?;
    Some((User::create(true), format!("{}/busybox", sb.registry)))
}

/// A user that exists for one test.
pub struct User {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    /// Holds `home/` and `run/` (XDG_RUNTIME_DIR), both the user's.
    dir: tempfile::TempDir,
    ranges: bool,
    /// A cgroup v2 subtree delegated to the user, whose `shell` child its
    /// commands start in.
    cgroup: Option<PathBuf>,
}

fn run_ok(cmd: &mut Command) -> String {
    let o = cmd.output().expect("running a command");
    assert!(
        o.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn id_of(flag: &str, name: &str) -> u32 {
    run_ok(Command::new("id").args([flag, name]))
        .trim()
        .parse()
        .unwrap()
}

impl User {
    /// A new user named for the test; with `ranges`, 65536 subordinate
    /// uids and gids (a free range, which useradd picks under its lock).
    pub fn create(ranges: bool) -> User {
        let n = SERIAL.fetch_add(1, Ordering::SeqCst);
        let name = format!("pockyrl{}x{n}", std::process::id());
        let dir = tempfile::Builder::new()
            .prefix("pocky-rootless-")
            .tempdir()
            .unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let count = if ranges { "65536" } else { "0" };
        // useradd retries: concurrent tests may hold the passwd lock.
        let mut made = false;
        for _ in 0..50 {
            let o = Command::new("useradd")
                .args([
                    "--no-create-home",
                    "--shell",
                    "/usr/sbin/nologin",
                    "--user-group",
                ])
                .arg("--home-dir")
                .arg(dir.path().join("home"))
                .args(["-K", &format!("SUB_UID_COUNT={count}")])
                .args(["-K", &format!("SUB_GID_COUNT={count}")])
                .arg(&name)
                .output()
                .unwrap();
            if o.status.success() {
                made = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        assert!(made, "useradd {name} failed");
        let (uid, gid) = (id_of("-u", &name), id_of("-g", &name));
        let user = User {
            name,
            uid,
            gid,
            dir,
            ranges,
            cgroup: None,
        };
        for sub in ["home", "run"] {
            let p = user.dir.path().join(sub);
            std::fs::create_dir(&p).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o700)).unwrap();
            std::os::unix::fs::chown(&p, Some(uid), Some(gid)).unwrap();
        }
        let subuid = std::fs::read_to_string("/etc/subuid").unwrap_or_default();
        assert_eq!(
            subuid
                .lines()
                .any(|l| l.starts_with(&format!("{}:", user.name))),
            ranges,
            "{subuid}"
        );
        user
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// XDG_RUNTIME_DIR.
    pub fn runtime(&self) -> PathBuf {
        self.dir.path().join("run")
    }

    /// The default state root: `~/.local/share/pocky`.
    pub fn state(&self) -> PathBuf {
        self.home().join(".local/share/pocky")
    }

    /// A directory of the user's under the test's directory.
    pub fn own_dir(&self, name: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::create_dir(&p).unwrap();
        std::os::unix::fs::chown(&p, Some(self.uid), Some(self.gid)).unwrap();
        p
    }

    /// Delegates a cgroup v2 subtree to the user, as the kernel's
    /// cgroup-v2.rst says (and systemd does for `user@UID.service`): a
    /// directory below the root, with memory, pids and cpu enabled for it,
    /// whose directory, `cgroup.procs`, `cgroup.subtree_control` and
    /// `cgroup.threads` are the user's; the user's commands start in its
    /// child `shell`, as a login's would in a scope. Returns its path.
    pub fn delegate_cgroup(&mut self) -> PathBuf {
        let root = Path::new("/sys/fs/cgroup");
        let offered = std::fs::read_to_string(root.join("cgroup.controllers")).unwrap();
        let wanted: Vec<String> = ["memory", "pids", "cpu"]
            .iter()
            .filter(|c| offered.split_whitespace().any(|o| o == **c))
            .map(|c| format!("+{c}"))
            .collect();
        std::fs::write(root.join("cgroup.subtree_control"), wanted.join(" ")).unwrap();
        let dir = root.join(format!("{}.delegated", self.name));
        for d in [dir.clone(), dir.join("shell")] {
            std::fs::create_dir(&d).unwrap();
            for f in [
                "",
                "cgroup.procs",
                "cgroup.subtree_control",
                "cgroup.threads",
            ] {
                std::os::unix::fs::chown(d.join(f), Some(self.uid), Some(self.gid)).unwrap();
            }
        }
        self.cgroup = Some(dir.clone());
        dir
    }

    /// `program` as this user, with a clean environment as a login would
    /// give: HOME, XDG_RUNTIME_DIR and a PATH without the sbin dirs.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = match &self.cgroup {
            // Moved while still root, then the user.
            Some(dir) => {
                let mut c = Command::new("sh");
                c.args(["-c", "echo $$ > \"$0/shell/cgroup.procs\" && exec \"$@\""])
                    .arg(dir)
                    .arg("setpriv");
                c
            }
            None => Command::new("setpriv"),
        };
        c.arg(format!("--reuid={}", self.uid))
            .arg(format!("--regid={}", self.gid))
            .arg("--init-groups")
            .arg("--")
            .arg(program)
            .env_clear()
            .env("HOME", self.home())
            .env("XDG_RUNTIME_DIR", self.runtime())
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .current_dir(self.home())
            .stdin(Stdio::null());
        c
    }

    /// `pocky ARGS` as this user.
    pub fn pocky(&self, args: &[&str]) -> Output {
        self.command(env!("CARGO_BIN_EXE_pocky"))
            .args(args)
            .output()
            .expect("running pocky as the user")
    }

    /// `pocky ARGS` as this user, which must succeed; its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.pocky(args);
        assert!(
            o.status.success(),
            "{} pocky {args:?} failed ({:?}): {}",
            self.name,
            o.status.code(),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// `pocky ARGS` as this user, which must fail as pocky's own failure
    /// (125) with one line; that line.
    pub fn fails(&self, args: &[&str]) -> String {
        let o = self.pocky(args);
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(o.status.code(), Some(125), "pocky {args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
        assert!(err.starts_with("pocky: "), "{err}");
        err
    }

    /// The pids of this user's processes.
    pub fn processes(&self) -> Vec<u32> {
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                std::fs::metadata(format!("/proc/{pid}")).is_ok_and(|m| m.uid() == self.uid)
                    && !std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
                        s.rsplit(')')
                            .next()
                            .is_some_and(|r| r.trim().starts_with('Z'))
                    })
            })
            .collect()
    }

    /// Names of this user's processes (`comm`), sorted.
    pub fn process_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .processes()
            .iter()
            .filter_map(|p| std::fs::read_to_string(format!("/proc/{p}/comm")).ok())
            .map(|c| c.trim().to_owned())
            .collect();
        names.sort();
        names
    }
}

/// Waits, bounded, for `cond`.
fn until(mut cond: impl FnMut() -> bool) -> bool {
    for _ in 0..200 {
        if cond() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    false
}

impl Drop for User {
    fn drop(&mut self) {
        let mut problems = Vec::new();
        if self.ranges {
            let o = self.pocky(&["system", "reset", "--force"]);
            if !o.status.success() {
                problems.push(format!(
                    "system reset: {}",
                    String::from_utf8_lossy(&o.stderr)
                ));
            }
            if !until(|| self.processes().is_empty()) {
                problems.push(format!("processes left: {:?}", self.process_names()));
            }
        }
        // Whatever is left (after a failed test) goes, by pid. userdel
        // removes the user's subordinate ranges too.
        for pid in self.processes() {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
        until(|| self.processes().is_empty());
        if let Some(dir) = &self.cgroup {
            // Depth first: a cgroup goes only once its children have.
            let mut dirs = vec![dir.clone()];
            let mut i = 0;
            while i < dirs.len() {
                if let Ok(rd) = std::fs::read_dir(&dirs[i]) {
                    dirs.extend(rd.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
                }
                i += 1;
            }
            for d in dirs.iter().rev() {
                if std::fs::remove_dir(d).is_err() {
                    problems.push(format!("cgroup {} left", d.display()));
                }
            }
        }
        for _ in 0..50 {
            let o = Command::new("userdel").arg(&self.name).output().unwrap();
            if o.status.success() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        if !problems.is_empty() && !std::thread::panicking() {
            panic!("{}: {}", self.name, problems.join("; "));
        }
    }
}

/// The owner of `path` (not following a link).
pub fn owner_of(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap().uid()
}
