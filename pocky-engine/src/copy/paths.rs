//! Docker's rules for what `cp SRC DEST` means, on plain data: which
//! argument names a container, and where the copy lands for each form of
//! SRC (file, directory, `dir/.`) and DEST (an existing directory, an
//! existing file, nothing yet, a name ending in `/`). Nothing here touches
//! the filesystem; the caller looks and passes what it found.

use std::path::{Component, Path, PathBuf};

/// One side of a copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A path on the host.
    Local(PathBuf),
    /// `-`: a tar stream on stdin or stdout.
    Stream,
    /// `CONTAINER:PATH`.
    Container { container: String, path: String },
}

/// Docker's `splitCpArg`: an absolute path is local whatever it holds; else
/// what precedes the first `:` names a container, unless it starts with
/// `.` (`./a:b` is a local file called `a:b`).
pub fn endpoint(arg: &str) -> Endpoint {
    if arg == "-" {
        return Endpoint::Stream;
    }
    if arg.starts_with('/') {
        return Endpoint::Local(arg.into());
    }
    match arg.split_once(':') {
        Some((c, path)) if !c.starts_with('.') && !c.is_empty() => Endpoint::Container {
            container: c.to_owned(),
            path: path.to_owned(),
        },
        _ => Endpoint::Local(arg.into()),
    }
}

/// A container path is relative to the container's `/`, as Docker's.
pub fn container_path(path: &str) -> String {
    if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    }
}

/// `dir/.` (or `.`): the directory's contents, not the directory.
pub fn names_contents(path: &str) -> bool {
    path == "." || path.ends_with("/.")
}

/// A path that must name a directory: `dir/` or `dir/.`.
pub fn asserts_dir(path: &str) -> bool {
    path.ends_with('/') || names_contents(path)
}

/// The name the source takes in the archive: its last component, or `.`
/// for its contents (the `/.` form, and `/` itself, which has no name).
pub fn archive_name(src: &str) -> PathBuf {
    if names_contents(src) {
        return ".".into();
    }
    match Path::new(src).components().next_back() {
        Some(Component::Normal(n)) => n.into(),
        _ => ".".into(),
    }
}

/// What the source turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SrcKind {
    Dir,
    /// A file, symlink (copied as a link) or FIFO.
    Other,
}

/// What is at the destination, symlinks followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DestState {
    Dir,
    Other,
    Missing,
}

/// Where the copy lands: in directory `dir`, under `name` (`.`: a
/// directory's contents go straight into `dir`). The source is archived
/// under that name, as Docker's client rebases its archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub dir: PathBuf,
    pub name: PathBuf,
}

/// Why a copy cannot happen, in Docker's words where it has them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("cannot copy directory {src} to {dst}: it is not a directory")]
    DirOntoFile { src: String, dst: String },
    #[error("no such directory: {dst}")]
    DirNotExists { dst: String },
    #[error("{src} is not a directory")]
    SrcNotDir { src: String },
    #[error("cannot copy to {dst}: the destination has no name to take")]
    NoName { dst: String },
}

/// Docker's `PrepareArchiveCopy`, with the source's archive named by
/// [`archive_name`]: the plan for unpacking it on the destination side.
pub fn plan(src: &str, kind: SrcKind, dst: &str, state: DestState) -> Result<Plan, PlanError> {
    if kind == SrcKind::Other && asserts_dir(src) {
        return Err(PlanError::SrcNotDir { src: src.into() });
    }
    let own_name = archive_name(src);
    let into_parent = || -> Result<Plan, PlanError> {
        let p = Path::new(dst);
        let name = match p.components().next_back() {
            Some(Component::Normal(n)) => PathBuf::from(n),
            _ => return Err(PlanError::NoName { dst: dst.into() }),
        };
        let dir = match p.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ if p.is_absolute() => PathBuf::from("/"),
            _ => PathBuf::from("."),
        };
        Ok(Plan { dir, name })
    };
    match (kind, state) {
        (_, DestState::Dir) => Ok(Plan {
            dir: dst.into(),
            name: own_name,
        }),
        (SrcKind::Dir, DestState::Other) => Err(PlanError::DirOntoFile {
            src: src.into(),
            dst: dst.into(),
        }),
        (SrcKind::Other, DestState::Other) => into_parent(),
        (SrcKind::Other, DestState::Missing) if asserts_dir(dst) => {
            Err(PlanError::DirNotExists { dst: dst.into() })
        }
        (_, DestState::Missing) => into_parent(),
    }
}

/// `path` with `.`, `..` and repeated `/` worked out as text, from `/`:
/// for comparing a container path with mount destinations (the kernel
/// still does the real resolution).
pub fn lexical(path: &str) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in Path::new(path).components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(dir: &str, name: &str) -> Plan {
        Plan {
            dir: dir.into(),
            name: name.into(),
        }
    }

    #[test]
    fn endpoints_follow_docker_split() {
        let c = |c: &str, p: &str| Endpoint::Container {
            container: c.into(),
            path: p.into(),
        };
        assert_eq!(endpoint("web:/etc/hosts"), c("web", "/etc/hosts"));
        assert_eq!(endpoint("web:etc"), c("web", "etc"));
        assert_eq!(endpoint("web:"), c("web", ""));
        assert_eq!(endpoint("/a:b"), Endpoint::Local("/a:b".into()));
        assert_eq!(endpoint("./a:b"), Endpoint::Local("./a:b".into()));
        assert_eq!(endpoint("file"), Endpoint::Local("file".into()));
        assert_eq!(endpoint(":x"), Endpoint::Local(":x".into()));
        assert_eq!(endpoint("-"), Endpoint::Stream);
    }

    #[test]
    fn archive_names() {
        assert_eq!(archive_name("/etc/hosts"), PathBuf::from("hosts"));
        assert_eq!(archive_name("/etc/"), PathBuf::from("etc"));
        assert_eq!(archive_name("/etc/."), PathBuf::from("."));
        assert_eq!(archive_name("."), PathBuf::from("."));
        assert_eq!(archive_name("/"), PathBuf::from("."));
        assert_eq!(container_path("etc"), "/etc");
    }

    #[test]
    fn a_file_goes_into_a_directory_over_a_file_or_to_a_new_name() {
        use DestState::*;
        let f = SrcKind::Other;
        assert_eq!(plan("/etc/hosts", f, "/out", Dir), Ok(p("/out", "hosts")));
        assert_eq!(plan("/etc/hosts", f, "/out/h", Other), Ok(p("/out", "h")));
        assert_eq!(plan("/etc/hosts", f, "/out/h", Missing), Ok(p("/out", "h")));
        assert_eq!(plan("/etc/hosts", f, "h", Missing), Ok(p(".", "h")));
        assert_eq!(
            plan("/etc/hosts", f, "/out/new/", Missing),
            Err(PlanError::DirNotExists {
                dst: "/out/new/".into()
            })
        );
        for bad in ["/etc/hosts/", "/etc/hosts/."] {
            assert!(matches!(
                plan(bad, f, "/out", Dir),
                Err(PlanError::SrcNotDir { .. })
            ));
        }
    }

    #[test]
    fn a_directory_goes_into_a_directory_or_becomes_the_new_name() {
        use DestState::*;
        let d = SrcKind::Dir;
        assert_eq!(plan("/etc", d, "/out", Dir), Ok(p("/out", "etc")));
        assert_eq!(plan("/etc/", d, "/out", Dir), Ok(p("/out", "etc")));
        assert_eq!(plan("/etc", d, "/out/new", Missing), Ok(p("/out", "new")));
        assert_eq!(plan("/etc", d, "/out/new/", Missing), Ok(p("/out", "new")));
        assert_eq!(plan("/etc", d, "/new", Missing), Ok(p("/", "new")));
        assert!(matches!(
            plan("/etc", d, "/out/f", Other),
            Err(PlanError::DirOntoFile { .. })
        ));
    }

    #[test]
    fn contents_form_merges_into_the_destination() {
        use DestState::*;
        let d = SrcKind::Dir;
        assert_eq!(plan("/etc/.", d, "/out", Dir), Ok(p("/out", ".")));
        assert_eq!(plan("/", d, "/out", Dir), Ok(p("/out", ".")));
        assert_eq!(plan("/etc/.", d, "/out/n", Missing), Ok(p("/out", "n")));
    }

    #[test]
    fn lexical_paths() {
        assert_eq!(lexical("a//b/./c/.."), PathBuf::from("/a/b"));
        assert_eq!(lexical("/../../etc"), PathBuf::from("/etc"));
    }
}
