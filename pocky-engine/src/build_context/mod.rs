//! A build's context: the directory (or tar, unpacked into the build's
//! scratch directory by pocky-fs's hostile-archive rules) that COPY and
//! ADD read from, with `.dockerignore` applied.
//!
//! Every source is resolved inside the context as if it were `/`
//! (`openat2` with `RESOLVE_IN_ROOT`): a lexical `../x` is refused as
//! Docker does, and a symlink pointing outside the context resolves to a
//! path inside it (usually missing) instead of the host's file. Symlinks
//! inside a copied directory are copied as symlinks. Excluded paths are
//! invisible, so a `.dockerignore` that excludes the Dockerfile still lets
//! the build read it but keeps it out of `COPY .`, as Docker does.
//!
//! Walks go by path beneath the resolved source; the context belongs to
//! the user who started the build (or is pocky's own unpacked copy), so a
//! concurrent swap of its directories only changes what that user copies.

mod chown;
mod copy_tar;

use std::fs::{self, File, Metadata};
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use glob::{MatchOptions, Pattern};
use nix::fcntl::OFlag;
use pocky_build::Ignore;

pub use chown::{parse_chmod, parse_chown};

/// The largest Dockerfile or `.dockerignore` read.
const MAX_TEXT: u64 = 16 << 20;

pub enum ContextSource<'a> {
    /// A directory on the caller's machine (the CLI's `CONTEXT`).
    Dir(&'a Path),
    /// A tar, optionally gzip- or zstd-compressed (`-`, a tar file, or
    /// the API's request body).
    Tar(&'a mut dyn Read),
}

pub struct Context {
    root: Arc<OwnedFd>,
    ignore: Ignore,
    /// Whether `readlink` of a descriptor names its path (false for a
    /// root mounted in another mount namespace, where there is no
    /// `.dockerignore` to apply anyway).
    real_paths: bool,
    root_path: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dir,
    File,
}

/// One source of a COPY or ADD, resolved inside the context.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// An `O_PATH` descriptor of the source, symlinks followed.
    fd: Arc<OwnedFd>,
    /// Its path relative to the context root, for `.dockerignore`.
    rel: String,
    /// The last component of the source as written, the name a file gets.
    name: String,
    kind: Kind,
}

impl Resolved {
    pub fn is_dir(&self) -> bool {
        self.kind == Kind::Dir
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

/// An entry a walk found.
pub(super) struct Found<'a> {
    /// Relative to the context root.
    rel: &'a str,
    /// Relative to the walk's start.
    sub: &'a str,
    /// Where it can be opened.
    path: &'a Path,
    meta: &'a Metadata,
}

impl Context {
    /// Opens the context and reads its Dockerfile (`dockerfile`, default
    /// `Dockerfile`). For a directory context a relative `dockerfile` is
    /// first taken from the current directory, as the docker CLI does,
    /// then from the context.
    pub fn open(
        source: ContextSource<'_>,
        scratch: &Path,
        dockerfile: Option<&str>,
    ) -> anyhow::Result<(Context, String)> {
        let (root_path, outside) = match source {
            ContextSource::Dir(dir) => {
                let root = fs::canonicalize(dir).map_err(|e| {
                    crate::invalid!("unable to prepare context: {}: {e}", dir.display())
                })?;
                let outside = dockerfile.map(Path::new).filter(|p| p.is_file());
                (root, outside.map(Path::to_path_buf))
            }
            ContextSource::Tar(reader) => {
                let dir = scratch.join("context");
                fs::DirBuilder::new()
                    .mode(0o700)
                    .create(&dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                let fd = open_dir(&dir)?;
                pocky_fs::unpack_archive(reader, &fd, &pocky_fs::ArchiveOptions::default())
                    .map_err(|e| crate::invalid!("unable to read the build context: {e}"))?;
                (dir, None)
            }
        };
        let root = open_dir(&root_path)?;
        let mut ctx = Context {
            root: Arc::new(root),
            ignore: Ignore::default(),
            real_paths: true,
            root_path,
        };
        if let Some(text) = ctx.read_text(".dockerignore")? {
            ctx.ignore = Ignore::parse(&text).map_err(|e| crate::invalid!(".dockerignore: {e}"))?;
        }
        let name = dockerfile.unwrap_or("Dockerfile");
        let text = match outside {
            Some(path) => read_limited(File::open(&path)?, &path.display().to_string())?,
            None => ctx.read_text(name)?.ok_or_else(|| {
                crate::invalid!(
                    "unable to prepare context: the Dockerfile ({name}) is not in the build context"
                )
            })?,
        };
        Ok((ctx, text))
    }

    /// A context over a directory descriptor (another stage's or an
    /// image's root, for `COPY --from`), with nothing ignored.
    pub fn over_root(root: OwnedFd) -> Context {
        let root_path = PathBuf::from(proc_path(&root));
        Context {
            root: Arc::new(root),
            ignore: Ignore::default(),
            real_paths: false,
            root_path,
        }
    }

    /// A text file of the context, `.dockerignore` notwithstanding.
    fn read_text(&self, name: &str) -> anyhow::Result<Option<String>> {
        let rel = self.inside(name)?;
        match pocky_fs::open_in_root(&self.root, Path::new(&rel), OFlag::empty()) {
            Ok(fd) => {
                let file = File::open(proc_path(&fd))?;
                if !file.metadata()?.is_file() {
                    anyhow::bail!(crate::invalid!("{name} in the build context is not a file"));
                }
                read_limited(file, name).map(Some)
            }
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(crate::invalid!("{name}: {e}").into()),
        }
    }

    /// Resolves COPY/ADD sources (Go-style globs allowed).
    pub fn resolve(&self, sources: &[String]) -> anyhow::Result<Vec<Resolved>> {
        let mut out = Vec::new();
        for source in sources {
            let rel = self.inside(source)?;
            if !rel.contains(['*', '?', '[']) {
                out.push(self.resolve_one(&rel, source)?);
                continue;
            }
            let pattern = Pattern::new(&rel)
                .map_err(|e| crate::invalid!("bad source pattern {source:?}: {}", e.msg))?;
            let options = MatchOptions {
                case_sensitive: true,
                require_literal_separator: true,
                require_literal_leading_dot: false,
            };
            let depth = (!rel.contains("**")).then(|| rel.split('/').count());
            let mut matched = Vec::new();
            let root_path = self.root_path.clone();
            self.walk(&root_path, "", depth, &mut |found| {
                let hit = pattern.matches_with(found.rel, options);
                if hit {
                    matched.push(found.rel.to_owned());
                }
                // A matched directory is copied whole; do not match inside it.
                Ok(!hit)
            })?;
            if matched.is_empty() {
                anyhow::bail!(crate::invalid!(
                    "no source files were specified: {source} matches nothing in the build context"
                ));
            }
            for m in matched {
                out.push(self.resolve_one(&m, &m)?);
            }
        }
        Ok(out)
    }

    /// `source` cleaned to a context-relative path, refused if it leaves.
    fn inside(&self, source: &str) -> anyhow::Result<String> {
        let rel = clean(source);
        if rel == ".." || rel.starts_with("../") {
            anyhow::bail!(crate::invalid!(
                "forbidden path outside the build context: {source}"
            ));
        }
        Ok(rel)
    }

    fn resolve_one(&self, rel: &str, written: &str) -> anyhow::Result<Resolved> {
        let missing = || {
            crate::invalid!(
                "file not found in build context or excluded by .dockerignore: {written}"
            )
        };
        if self.ignore.ignores(rel) {
            anyhow::bail!(missing());
        }
        let fd = match pocky_fs::open_in_root(&self.root, Path::new(rel), OFlag::empty()) {
            Ok(fd) => fd,
            Err(e) if is_not_found(&e) => anyhow::bail!(missing()),
            Err(e) => anyhow::bail!(crate::invalid!("{written}: {e}")),
        };
        let real = match self.real_paths {
            true => fs::read_link(proc_path(&fd))?
                .strip_prefix(&self.root_path)
                .map_err(|_| crate::invalid!("{written} resolves outside the build context"))?
                .to_string_lossy()
                .into_owned(),
            false => rel.to_owned(),
        };
        if self.ignore.ignores(&real) {
            anyhow::bail!(missing());
        }
        let meta = fs::metadata(proc_path(&fd))?;
        let kind = if meta.is_dir() {
            Kind::Dir
        } else if meta.is_file() {
            Kind::File
        } else {
            anyhow::bail!(crate::invalid!(
                "{written} is not a file or directory; only those can be copied"
            ));
        };
        let name = Path::new(written)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| ".".into());
        Ok(Resolved {
            fd: Arc::new(fd),
            rel: real,
            name,
            kind,
        })
    }

    /// Visits what is beneath the directory `base` (at `rel` in the
    /// context; not `base` itself) in name order, ignored paths left out,
    /// down to `depth` components of the context path. `visit` returns
    /// whether to descend into a directory.
    pub(super) fn walk(
        &self,
        base: &Path,
        rel: &str,
        depth: Option<usize>,
        visit: &mut dyn FnMut(Found<'_>) -> anyhow::Result<bool>,
    ) -> anyhow::Result<()> {
        self.walk_in(base, rel, "", depth, visit)
    }

    fn walk_in(
        &self,
        base: &Path,
        rel: &str,
        sub: &str,
        depth: Option<usize>,
        visit: &mut dyn FnMut(Found<'_>) -> anyhow::Result<bool>,
    ) -> anyhow::Result<()> {
        let dir = base.join(sub);
        let mut names: Vec<_> = fs::read_dir(&dir)
            .with_context(|| format!("reading {} in the build context", display(&join(rel, sub))))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()?;
        names.sort();
        for name in names {
            let child_sub = join(sub, &name.to_string_lossy());
            let child = join(rel, &child_sub);
            let path = base.join(&child_sub);
            let meta = fs::symlink_metadata(&path)?;
            let deeper = depth.is_none_or(|d| child.split('/').count() < d);
            if self.ignore.ignores(&child) {
                if meta.is_dir() && deeper && self.ignore.would_descend(&child) {
                    self.walk_in(base, rel, &child_sub, depth, visit)?;
                }
                continue;
            }
            let ft = meta.file_type();
            if ft.is_socket() || ft.is_block_device() || ft.is_char_device() {
                continue;
            }
            let descend = visit(Found {
                rel: &child,
                sub: &child_sub,
                path: &path,
                meta: &meta,
            })?;
            if descend && meta.is_dir() && deeper {
                self.walk_in(base, rel, &child_sub, depth, visit)?;
            }
        }
        Ok(())
    }

    /// The file to extract when ADD is given a local tar (plain, gzip or
    /// zstd, as pocky-fs unpacks them); `None` for any other file.
    pub fn archive(&self, r: &Resolved) -> anyhow::Result<Option<File>> {
        if r.kind != Kind::File {
            return Ok(None);
        }
        let mut file = File::open(proc_path(&r.fd))?;
        let mut head = [0u8; 512];
        let mut n = 0;
        while n < head.len() {
            match file.read(&mut head[n..])? {
                0 => break,
                k => n += k,
            }
        }
        let head = &head[..n];
        let compressed =
            head.starts_with(&[0x1f, 0x8b]) || head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]);
        let tar = n >= 262 && &head[257..262] == b"ustar";
        if !(compressed || tar) {
            return Ok(None);
        }
        Ok(Some(File::open(proc_path(&r.fd))?))
    }
}

fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_owned(),
        (_, true) => a.to_owned(),
        _ => format!("{a}/{b}"),
    }
}

/// Go's `filepath.Clean` for `/` paths, the leading `/` dropped: `../x`
/// stays (and is refused), `/../x` is `x`.
fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    let mut above = 0usize;
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    above += 1;
                }
            }
            p => parts.push(p),
        }
    }
    let mut out: Vec<&str> = Vec::new();
    if !path.starts_with('/') {
        out.extend(std::iter::repeat_n("..", above));
    }
    out.extend(parts);
    out.join("/")
}

fn display(rel: &str) -> &str {
    if rel.is_empty() { "." } else { rel }
}

fn open_dir(path: &Path) -> anyhow::Result<OwnedFd> {
    let fd = nix::fcntl::open(
        path,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| crate::invalid!("unable to prepare context: {}: {e}", path.display()))?;
    Ok(fd)
}

pub(super) fn proc_path(fd: &OwnedFd) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

/// A missing file, or a path through a file (`file/x`): both "not in
/// the context" to the user.
fn is_not_found(e: &pocky_fs::FsError) -> bool {
    matches!(e, pocky_fs::FsError::Resolve { source, .. }
        if matches!(source.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)))
}

fn read_limited(file: File, name: &str) -> anyhow::Result<String> {
    let mut text = String::new();
    file.take(MAX_TEXT + 1)
        .read_to_string(&mut text)
        .map_err(|e| crate::invalid!("{name}: {e}"))?;
    if text.len() as u64 > MAX_TEXT {
        anyhow::bail!(crate::invalid!("{name} is larger than {MAX_TEXT} bytes"));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::clean;

    #[test]
    fn cleaning() {
        assert_eq!(clean("/a/./b/../c/"), "a/c");
        assert_eq!(clean("../x"), "../x");
        assert_eq!(clean("a/../../x"), "../x");
        assert_eq!(clean("/../x"), "x");
        assert_eq!(clean("."), "");
    }
}
