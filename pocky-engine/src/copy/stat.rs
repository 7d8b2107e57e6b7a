//! What `docker cp` asks before it copies (the API's
//! `X-Docker-Container-Path-Stat`): a container path's name, size, mode and
//! link target, resolved inside the container's root as copies are.

use nix::fcntl::OFlag;
use nix::sys::stat::fstat;
use pocky_store::Store;

use super::{not_found, open_container, paths, resolve};

/// A path's stat as Docker reports it; `mode` is Go's `os.FileMode`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathStat {
    pub name: String,
    pub size: i64,
    pub mode: u32,
    /// RFC 3339.
    pub mtime: String,
    /// Where a symlink points, else empty.
    pub link_target: String,
}

/// Go's `os.FileMode` bits of a `st_mode`.
pub fn go_mode(st_mode: u32) -> u32 {
    const DIR: u32 = 1 << 31;
    const SYMLINK: u32 = 1 << 27;
    const DEVICE: u32 = 1 << 26;
    const PIPE: u32 = 1 << 25;
    const SOCKET: u32 = 1 << 24;
    const SETUID: u32 = 1 << 23;
    const SETGID: u32 = 1 << 22;
    const CHAR: u32 = 1 << 21;
    const STICKY: u32 = 1 << 20;
    let mut m = st_mode & 0o777;
    m |= match st_mode & libc::S_IFMT {
        libc::S_IFDIR => DIR,
        libc::S_IFLNK => SYMLINK,
        libc::S_IFBLK => DEVICE,
        libc::S_IFCHR => DEVICE | CHAR,
        libc::S_IFIFO => PIPE,
        libc::S_IFSOCK => SOCKET,
        _ => 0,
    };
    for (bit, go) in [
        (libc::S_ISUID, SETUID),
        (libc::S_ISGID, SETGID),
        (libc::S_ISVTX, STICKY),
    ] {
        if st_mode & bit != 0 {
            m |= go;
        }
    }
    m
}

/// Stats `path` in the container `name` (not following a final symlink).
/// Forks when the container does not run, as copies do.
pub fn stat(store: &Store, name: &str, path: &str) -> crate::Result<PathStat> {
    stat_inner(store, name, path).map_err(crate::Error::from)
}

fn stat_inner(store: &Store, name: &str, path: &str) -> anyhow::Result<PathStat> {
    if path.is_empty() {
        anyhow::bail!(crate::invalid!(
            "the path in container {name} can not be empty"
        ));
    }
    let path = paths::container_path(path);
    let (_rec, root) = open_container(store, name, &path)?;
    let fd = match resolve(&root, &path, OFlag::O_NOFOLLOW) {
        Ok(Some(fd)) => fd,
        Ok(None) => return Err(not_found(&path, name)),
        Err(_) => return Err(not_found(&path, name)),
    };
    let st = fstat(&fd)?;
    let mode = st.st_mode;
    let link_target = match mode & libc::S_IFMT {
        libc::S_IFLNK => nix::fcntl::readlinkat(&fd, "")
            .map(|t| t.to_string_lossy().into_owned())
            .unwrap_or_default(),
        _ => String::new(),
    };
    let mtime = std::time::UNIX_EPOCH
        + std::time::Duration::new(
            u64::try_from(st.st_mtime).unwrap_or(0),
            u32::try_from(st.st_mtime_nsec).unwrap_or(0),
        );
    let name = std::path::Path::new(&path)
        .file_name()
        .map_or_else(|| "/".to_owned(), |n| n.to_string_lossy().into_owned());
    Ok(PathStat {
        name,
        size: st.st_size,
        mode: go_mode(mode),
        mtime: humantime::format_rfc3339_nanos(mtime).to_string(),
        link_target,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_as_go() {
        assert_eq!(go_mode(libc::S_IFDIR | 0o755), (1 << 31) | 0o755);
        assert_eq!(go_mode(libc::S_IFREG | 0o644), 0o644);
        assert_eq!(go_mode(libc::S_IFLNK | 0o777), (1 << 27) | 0o777);
        assert_eq!(
            go_mode(libc::S_IFREG | libc::S_ISUID | 0o755),
            (1 << 23) | 0o755
        );
    }
}
