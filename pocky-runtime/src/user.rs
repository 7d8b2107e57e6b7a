//! `-u name|uid[:group|gid]` resolved against the container's own
//! /etc/passwd and /etc/group, as Docker and runc do.
//!
//! The lookup runs in the container's process after pivot_root, so a link
//! in the image can only ever point at another file of the container, and
//! files that are not regular (a FIFO planted as /etc/passwd) are refused
//! instead of read, so they cannot block or feed the runtime.

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;

/// Who the process runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecUser {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub home: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UserError {
    #[error("unable to find user {0}: no matching entries in passwd file")]
    NoUser(String),
    #[error("unable to find group {0}: no matching entries in group file")]
    NoGroup(String),
    #[error("invalid user specification {0:?}")]
    Invalid(String),
    #[error("reading {path}: {message}")]
    File { path: &'static str, message: String },
}

struct PasswdEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
    home: &'a str,
}

fn passwd_entries(text: &str) -> impl Iterator<Item = PasswdEntry<'_>> {
    text.lines().filter_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 6 || line.starts_with('#') {
            return None;
        }
        Some(PasswdEntry {
            name: f[0],
            uid: f[2].parse().ok()?,
            gid: f[3].parse().ok()?,
            home: f[5],
        })
    })
}

struct GroupEntry<'a> {
    name: &'a str,
    gid: u32,
    members: Vec<&'a str>,
}

fn group_entries(text: &str) -> impl Iterator<Item = GroupEntry<'_>> {
    text.lines().filter_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 3 || line.starts_with('#') {
            return None;
        }
        Some(GroupEntry {
            name: f[0],
            gid: f[2].parse().ok()?,
            members: f
                .get(3)
                .map(|m| m.split(',').filter(|s| !s.is_empty()).collect())
                .unwrap_or_default(),
        })
    })
}

/// Resolves `spec` (`user`, `uid`, `user:group`, `uid:gid`...) with the
/// given file contents (None when the file does not exist).
pub fn resolve(
    spec: &str,
    passwd: Option<&str>,
    group: Option<&str>,
) -> Result<ExecUser, UserError> {
    let (user_part, group_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    if user_part.is_empty() || group_part == Some("") {
        return Err(UserError::Invalid(spec.to_owned()));
    }
    let passwd = passwd.unwrap_or("");
    let group = group.unwrap_or("");
    let numeric = user_part.parse::<u32>().ok();
    let entry = passwd_entries(passwd).find(|e| match numeric {
        Some(uid) => e.uid == uid,
        None => e.name == user_part,
    });
    let (uid, mut gid, home, name) = match (numeric, &entry) {
        (_, Some(e)) => (e.uid, e.gid, e.home.to_owned(), Some(e.name)),
        (Some(uid), None) => (uid, 0, "/".to_owned(), None),
        (None, None) => return Err(UserError::NoUser(user_part.to_owned())),
    };
    if let Some(g) = group_part {
        gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => group_entries(group)
                .find(|e| e.name == g)
                .map(|e| e.gid)
                .ok_or_else(|| UserError::NoGroup(g.to_owned()))?,
        };
    }
    let mut additional_gids: Vec<u32> = match name {
        Some(n) => group_entries(group)
            .filter(|e| e.members.contains(&n))
            .map(|e| e.gid)
            .collect(),
        None => vec![],
    };
    additional_gids.retain(|g| *g != gid);
    additional_gids.dedup();
    Ok(ExecUser {
        uid,
        gid,
        additional_gids,
        home: if home.is_empty() { "/".into() } else { home },
    })
}

/// A spec annotation of pocky's: comma-separated group names to add to
/// the process's supplementary groups, resolved in the container (the
/// spec's `additionalGids` take numbers only).
pub const GROUP_ADD_ANNOTATION: &str = "io.pocky.group-add";

/// The gid of group `name` (or a number) in the container's group file.
pub fn group_id(name: &str, group: Option<&str>) -> Result<u32, UserError> {
    if let Ok(n) = name.parse::<u32>() {
        return Ok(n);
    }
    group_entries(group.unwrap_or(""))
        .find(|e| e.name == name)
        .map(|e| e.gid)
        .ok_or_else(|| UserError::NoGroup(name.to_owned()))
}

/// Reads a small regular file of the current root; None if it is absent.
pub fn read_etc_file(path: &'static str) -> Result<Option<String>, UserError> {
    const MAX: u64 = 16 << 20;
    let err = |message: String| UserError::File { path, message };
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(err(e.to_string())),
    };
    let meta = file.metadata().map_err(|e| err(e.to_string()))?;
    if !meta.is_file() {
        return Err(err("not a regular file".into()));
    }
    let mut text = String::new();
    file.take(MAX)
        .read_to_string(&mut text)
        .map_err(|e| err(e.to_string()))?;
    Ok(Some(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\nnobody:x:65534:65534::/nonexistent:/bin/false\n";
    const GROUP: &str = "root:x:0:\napp:x:1000:\nextra:x:2000:app,other\nstaff:x:50:app\n";

    #[test]
    fn names_and_numbers_resolve_like_docker() {
        let app = resolve("app", Some(PASSWD), Some(GROUP)).unwrap();
        assert_eq!((app.uid, app.gid), (1000, 1000));
        assert_eq!(app.additional_gids, vec![2000, 50]);
        assert_eq!(app.home, "/home/app");
        let n = resolve("1000", Some(PASSWD), Some(GROUP)).unwrap();
        assert_eq!(n, app);
        let unknown = resolve("4242", Some(PASSWD), Some(GROUP)).unwrap();
        assert_eq!(
            (unknown.uid, unknown.gid, unknown.home.as_str()),
            (4242, 0, "/")
        );
        let g = resolve("app:staff", Some(PASSWD), Some(GROUP)).unwrap();
        assert_eq!((g.uid, g.gid), (1000, 50));
        assert_eq!(g.additional_gids, vec![2000]);
        let ng = resolve("5:7", None, None).unwrap();
        assert_eq!((ng.uid, ng.gid), (5, 7));
    }

    #[test]
    fn unknown_names_are_errors() {
        assert_eq!(
            resolve("ghost", Some(PASSWD), Some(GROUP)),
            Err(UserError::NoUser("ghost".into()))
        );
        assert_eq!(
            resolve("app:ghosts", Some(PASSWD), Some(GROUP)),
            Err(UserError::NoGroup("ghosts".into()))
        );
        assert!(resolve(":1", None, None).is_err());
        assert!(resolve("app:", None, None).is_err());
    }
}
