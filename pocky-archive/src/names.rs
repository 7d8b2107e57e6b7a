//! Names inside an archive (entry paths) and image names (tags).

use crate::error::{ArchiveError, shown, shown_bytes};

const MAX_PATH: usize = 4096;
const MAX_TAG: usize = 255;

/// Turns a raw tar entry name into the archive-namespace key we store it
/// under: `/`-separated, no `.`, no empty components, no trailing slash.
/// Anything that could name a place outside the archive is refused here,
/// before the entry is looked at, even though nothing is ever created from
/// these names: a `..` or absolute name has no honest use in an image
/// archive, so it marks the whole archive as hostile.
pub(crate) fn entry_path(raw: &[u8]) -> Result<String, ArchiveError> {
    let refuse = |reason| ArchiveError::UnsafePath {
        path: shown_bytes(raw),
        reason,
    };
    if raw.contains(&0) {
        return Err(refuse("contains NUL"));
    }
    if raw.len() > MAX_PATH {
        return Err(refuse("name too long"));
    }
    let s = std::str::from_utf8(raw).map_err(|_| refuse("name is not UTF-8"))?;
    if s.starts_with('/') {
        return Err(refuse("absolute path"));
    }
    let mut parts = Vec::new();
    for c in s.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err(refuse("contains a .. component")),
            c => parts.push(c),
        }
    }
    if parts.is_empty() {
        return Ok(String::new());
    }
    Ok(parts.join("/"))
}

/// A path named by `manifest.json` (Config, Layers): the same rules as an
/// entry name, since those strings are just as hostile.
pub(crate) fn manifest_path(s: &str) -> Result<String, ArchiveError> {
    let p = entry_path(s.as_bytes())?;
    if p.is_empty() {
        return Err(ArchiveError::UnsafePath {
            path: shown(s),
            reason: "empty path",
        });
    }
    Ok(p)
}

/// Checks a tag string from the archive (`RepoTags`, annotations). The
/// engine parses and normalises it; here we only keep out what no
/// reference can contain and what would garble output or logs.
pub(crate) fn check_tag(name: &str) -> Result<(), ArchiveError> {
    let bad = |reason| ArchiveError::InvalidName {
        name: shown(name),
        reason,
    };
    if name.is_empty() {
        return Err(bad("empty"));
    }
    if name.len() > MAX_TAG {
        return Err(bad("longer than 255 bytes"));
    }
    if name.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(bad("contains control characters or whitespace"));
    }
    Ok(())
}

/// Splits a familiar name (`busybox:latest`, `localhost:5000/a/b:1`) into
/// repository and tag; a name without a tag means `latest`, as in Docker.
pub(crate) fn split_tag(name: &str) -> Result<(&str, &str), ArchiveError> {
    check_tag(name)?;
    if name.contains('@') {
        return Err(ArchiveError::InvalidName {
            name: shown(name),
            reason: "a digest reference cannot be saved as a tag",
        });
    }
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    match name[last_slash..].rfind(':') {
        Some(i) => {
            let (repo, tag) = (&name[..last_slash + i], &name[last_slash + i + 1..]);
            if repo.is_empty() || tag.is_empty() {
                return Err(ArchiveError::InvalidName {
                    name: shown(name),
                    reason: "empty repository or tag",
                });
            }
            Ok((repo, tag))
        }
        None => Ok((name, "latest")),
    }
}

/// The fully qualified form containerd records (`docker.io/library/busybox`)
/// of a familiar repository name, by Docker's rule: the first component is
/// a registry only if it has a `.` or `:` or is `localhost`.
pub(crate) fn full_repository(repo: &str) -> String {
    match repo.split_once('/') {
        Some((first, _)) if first.contains(['.', ':']) || first == "localhost" => repo.to_string(),
        Some(_) => format!("docker.io/{repo}"),
        None => format!("docker.io/library/{repo}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_paths_are_normalised_or_refused() {
        assert_eq!(
            entry_path(b"./blobs//sha256/ab/").unwrap(),
            "blobs/sha256/ab"
        );
        assert_eq!(entry_path(b"manifest.json").unwrap(), "manifest.json");
        for bad in [&b"../x"[..], b"a/../../x", b"/etc/passwd", b"a\0b", b"\xff"] {
            assert!(entry_path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn tags_split_and_expand_like_docker() {
        assert_eq!(split_tag("busybox:latest").unwrap(), ("busybox", "latest"));
        assert_eq!(
            split_tag("localhost:5000/a/b:1").unwrap(),
            ("localhost:5000/a/b", "1")
        );
        assert_eq!(
            split_tag("localhost:5000/a").unwrap(),
            ("localhost:5000/a", "latest")
        );
        assert!(split_tag("a@sha256:00").is_err());
        assert!(check_tag("a\nb:1").is_err());
        assert!(check_tag(&"a".repeat(256)).is_err());
        assert_eq!(full_repository("busybox"), "docker.io/library/busybox");
        assert_eq!(full_repository("user/app"), "docker.io/user/app");
        assert_eq!(full_repository("localhost:5000/a/b"), "localhost:5000/a/b");
        assert_eq!(full_repository("quay.io/x/y"), "quay.io/x/y");
    }
}
