//! Image references with Docker's normalisation rules.

use std::fmt;

use crate::digest::{Digest, shorten};
use crate::error::RegistryError;

/// The registry Docker Hub images live on.
pub const DOCKER_HUB: &str = "docker.io";
const DOCKER_HUB_API: &str = "registry-1.docker.io";
const MAX_NAME_LEN: usize = 255;
const MAX_TAG_LEN: usize = 128;

/// A fully normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// Registry host with optional port, e.g. `docker.io`, `host:5000`.
    pub registry: String,
    /// Repository path, e.g. `library/busybox`.
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

impl Reference {
    /// Parses `[registry/]repository[:tag][@digest]` the way `docker pull` does:
    /// `busybox` is `docker.io/library/busybox:latest`.
    pub fn parse(s: &str) -> Result<Reference, RegistryError> {
        let bad = |reason: &str| RegistryError::InvalidReference {
            reference: shorten(s),
            reason: reason.to_string(),
        };
        if s.is_empty() {
            return Err(bad("reference is empty"));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((rest, d)) => {
                let digest = Digest::parse(d).map_err(|e| match e {
                    RegistryError::InvalidDigest { reason, .. } => {
                        bad(&format!("bad digest: {reason}"))
                    }
                    other => other,
                })?;
                (rest, Some(digest))
            }
            None => (s, None),
        };
        // A tag is a ':' after the last '/', so `host:5000/a` is not a tag.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let at = last_slash + i;
                (&rest[..at], Some(&rest[at + 1..]))
            }
            None => (rest, None),
        };
        if let Some(tag) = tag {
            check_tag(tag).map_err(|r| bad(&r))?;
        }
        if name.len() > MAX_NAME_LEN {
            return Err(bad(&format!(
                "repository name is longer than {MAX_NAME_LEN} characters"
            )));
        }
        let (registry, repository) = split_domain(name);
        check_domain(&registry).map_err(|r| bad(&r))?;
        check_repository(&repository).map_err(|r| bad(&r))?;
        Ok(Reference {
            registry,
            repository,
            tag: tag.map(str::to_string),
            digest,
        })
    }

    /// The two-word form `pocky pull hello-world latest`.
    pub fn with_tag(name: &str, tag: &str) -> Result<Reference, RegistryError> {
        let mut r = Reference::parse(name)?;
        if r.tag.is_some() || r.digest.is_some() {
            return Err(RegistryError::InvalidReference {
                reference: shorten(name),
                reason: format!("already has a tag or digest, cannot add tag {tag:?}"),
            });
        }
        check_tag(tag).map_err(|reason| RegistryError::InvalidReference {
            reference: format!("{}:{}", shorten(name), shorten(tag)),
            reason,
        })?;
        r.tag = Some(tag.to_string());
        Ok(r)
    }

    /// The name as users type it: `busybox`, `user/app`, `host:5000/a/b`.
    pub fn familiar_repository(&self) -> String {
        if self.registry == DOCKER_HUB {
            match self.repository.strip_prefix("library/") {
                Some(short) if !short.contains('/') => short.to_string(),
                _ => self.repository.clone(),
            }
        } else {
            format!("{}/{}", self.registry, self.repository)
        }
    }

    pub fn tag_or_latest(&self) -> &str {
        self.tag.as_deref().unwrap_or("latest")
    }

    /// The host the registry API answers on.
    pub fn api_host(&self) -> &str {
        api_host_for(&self.registry)
    }

    /// What to put after `/manifests/`: the digest when there is one.
    pub(crate) fn manifest_ref(&self) -> String {
        match &self.digest {
            Some(d) => d.to_string(),
            None => self.tag_or_latest().to_string(),
        }
    }
}

/// The host a registry's API answers on, for a registry as named in a reference.
pub(crate) fn api_host_for(registry: &str) -> &str {
    if registry == DOCKER_HUB {
        DOCKER_HUB_API
    } else {
        registry
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        match (&self.tag, &self.digest) {
            (Some(t), _) => write!(f, ":{t}")?,
            (None, None) => f.write_str(":latest")?,
            (None, Some(_)) => {}
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Reference {
    type Err = RegistryError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reference::parse(s)
    }
}

/// Docker's rule: the first component is a registry when it has a '.' or a
/// ':', is `localhost`, or has uppercase letters (which a repository never has).
fn split_domain(name: &str) -> (String, String) {
    let (registry, repository) = match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.chars().any(|c| c.is_ascii_uppercase()) =>
        {
            (first.to_string(), rest.to_string())
        }
        _ => (DOCKER_HUB.to_string(), name.to_string()),
    };
    let registry = if registry == "index.docker.io" {
        DOCKER_HUB.to_string()
    } else {
        registry
    };
    if registry == DOCKER_HUB && !repository.contains('/') {
        return (registry, format!("library/{repository}"));
    }
    (registry, repository)
}

pub(crate) fn check_tag(tag: &str) -> Result<(), String> {
    if tag.is_empty() {
        return Err("tag is empty".into());
    }
    if tag.len() > MAX_TAG_LEN {
        return Err(format!("tag is longer than {MAX_TAG_LEN} characters"));
    }
    let ok_first = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut chars = tag.chars();
    if !chars.next().is_some_and(ok_first) {
        return Err(format!(
            "tag {:?} must start with a letter, digit or '_'",
            shorten(tag)
        ));
    }
    if !chars.all(|c| ok_first(c) || c == '.' || c == '-') {
        return Err(format!(
            "tag {:?} may only contain letters, digits, '_', '.' and '-'",
            shorten(tag)
        ));
    }
    Ok(())
}

fn check_domain(domain: &str) -> Result<(), String> {
    let (host, port) = if let Some(rest) = domain.strip_prefix('[') {
        let (v6, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("registry {domain:?} has an unclosed '['"))?;
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!("registry {domain:?} is not a valid IPv6 address"));
        }
        match after {
            "" => (None, None),
            p => (None, Some(p.strip_prefix(':').unwrap_or(p))),
        }
    } else {
        match domain.split_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(domain), None),
        }
    };
    if let Some(host) = host {
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if host.is_empty() || !host.split('.').all(label_ok) {
            return Err(format!("registry host {:?} is not valid", shorten(host)));
        }
    }
    if let Some(port) = port
        && (port.is_empty() || port.parse::<u16>().is_err())
    {
        return Err(format!("registry port {:?} is not valid", shorten(port)));
    }
    Ok(())
}

/// Each path component: `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
fn check_repository(repo: &str) -> Result<(), String> {
    if repo.chars().any(|c| c.is_ascii_uppercase()) {
        return Err("repository name must be lowercase".into());
    }
    for comp in repo.split('/') {
        if comp.is_empty() {
            return Err("repository name has an empty path component".into());
        }
        if !component_ok(comp) {
            return Err(format!(
                "repository component {:?} may only contain a-z, 0-9 and single '.', '_' or '__' or runs of '-' between them",
                shorten(comp)
            ));
        }
    }
    Ok(())
}

fn component_ok(comp: &str) -> bool {
    let b = comp.as_bytes();
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if !b.first().copied().is_some_and(alnum) || !b.last().copied().is_some_and(alnum) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        // A separator run: '.', '_', '__' or one or more '-'.
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &comp[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|c| c == b'-');
        if !ok {
            return false;
        }
    }
    true
}
