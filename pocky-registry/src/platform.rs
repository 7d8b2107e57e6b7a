//! Target platforms (`os/arch[/variant]`) and their normalisation.

use std::fmt;

use crate::error::RegistryError;

/// An OCI platform, normalised (`x86_64` is `amd64`, `aarch64` is `arm64/v8`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    /// The platform this binary runs on.
    pub fn host() -> Platform {
        Platform::new(std::env::consts::OS, std::env::consts::ARCH, None)
    }

    /// Parses `os/arch[/variant]`, e.g. `linux/arm64`, `linux/arm/v7`.
    pub fn parse(s: &str) -> Result<Platform, RegistryError> {
        let bad = |reason: &str| RegistryError::InvalidPlatform {
            platform: crate::digest::shorten(s),
            reason: reason.to_string(),
        };
        let parts: Vec<&str> = s.split('/').collect();
        if !(2..=3).contains(&parts.len()) {
            return Err(bad("expected os/arch or os/arch/variant"));
        }
        let ok = |p: &str| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        };
        if !parts.iter().all(|p| ok(p)) {
            return Err(bad(
                "each part must be non-empty letters, digits, '-' or '_'",
            ));
        }
        Ok(Platform::new(
            &parts[0].to_ascii_lowercase(),
            &parts[1].to_ascii_lowercase(),
            parts.get(2).map(|v| v.to_ascii_lowercase()).as_deref(),
        ))
    }

    /// Builds a normalised platform from possibly non-canonical names.
    pub fn new(os: &str, arch: &str, variant: Option<&str>) -> Platform {
        let os = match os {
            "macos" => "darwin",
            o => o,
        };
        let (architecture, default_variant) = match arch {
            "x86_64" | "x86-64" | "amd64" => ("amd64", None),
            "aarch64" | "arm64" => ("arm64", Some("v8")),
            "armhf" => ("arm", Some("v7")),
            "armel" => ("arm", Some("v6")),
            "x86" | "i386" | "i686" | "386" => ("386", None),
            "powerpc64" | "ppc64le" => ("ppc64le", None),
            "riscv64" | "s390x" | "arm" | "mips64le" | "loong64" => (arch, None),
            other => (other, None),
        };
        let variant = variant.or(default_variant).map(str::to_string);
        Platform {
            os: os.to_string(),
            architecture: architecture.to_string(),
            variant,
        }
    }

    /// Whether an index entry for `have` serves a request for `self`:
    /// os and architecture must agree; the variant only when `self` names one.
    pub fn matches(&self, have: &Platform) -> bool {
        self.os == have.os
            && self.architecture == have.architecture
            && (self.variant.is_none() || self.variant == have.variant)
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Platform {
    type Err = RegistryError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Platform::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_aliases() {
        assert_eq!(
            Platform::parse("linux/x86_64").unwrap().to_string(),
            "linux/amd64"
        );
        assert_eq!(
            Platform::parse("linux/aarch64").unwrap().to_string(),
            "linux/arm64/v8"
        );
        assert_eq!(
            Platform::parse("linux/arm/v7").unwrap().to_string(),
            "linux/arm/v7"
        );
        assert_eq!(
            Platform::new("linux", "arm64", None).variant.as_deref(),
            Some("v8")
        );
        assert_eq!(Platform::host().os, std::env::consts::OS);
    }

    #[test]
    fn rejects_malformed() {
        for bad in ["linux", "linux/", "/amd64", "a/b/c/d", "linux/am d64"] {
            assert!(Platform::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn variant_only_matters_when_wanted() {
        let want = Platform::parse("linux/arm").unwrap();
        assert!(want.matches(&Platform::new("linux", "arm", Some("v6"))));
        let want7 = Platform::parse("linux/arm/v7").unwrap();
        assert!(!want7.matches(&Platform::new("linux", "arm", Some("v6"))));
        assert!(!want7.matches(&Platform::new("windows", "arm", Some("v7"))));
    }
}
