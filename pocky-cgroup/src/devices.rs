//! Device access rules, in the v1 `devices.allow`/`devices.deny` format.

use std::fmt;

use crate::error::{CgroupError, Result};

/// Which devices a rule covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceKind {
    /// Every device (`a`).
    All,
    /// Character devices (`c`).
    Char,
    /// Block devices (`b`).
    Block,
}

/// One rule of a device allow-list, like an OCI `LinuxDeviceCgroup`.
/// Rules apply in order, so a list starts with "deny everything".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceRule {
    pub allow: bool,
    pub kind: DeviceKind,
    /// `None` is every major (`*`).
    pub major: Option<u32>,
    /// `None` is every minor (`*`).
    pub minor: Option<u32>,
    /// A non-empty subset of `rwm`.
    pub access: String,
}

impl DeviceRule {
    /// Parses the kernel's `type major:minor access` form
    /// (`c 1:3 rwm`, `c 136:* rwm`, `a *:* rwm`).
    pub fn parse(allow: bool, rule: &str) -> Result<Self> {
        let bad = |reason| CgroupError::InvalidDeviceRule {
            rule: rule.to_owned(),
            reason,
        };
        let mut it = rule.split_whitespace();
        let kind = match it.next() {
            Some("a") => DeviceKind::All,
            Some("c") => DeviceKind::Char,
            Some("b") => DeviceKind::Block,
            _ => return Err(bad("type must be a, c or b")),
        };
        let (major, minor) = it
            .next()
            .and_then(|n| n.split_once(':'))
            .ok_or_else(|| bad("expected major:minor"))?;
        let num = |s: &str| -> Result<Option<u32>> {
            if s == "*" {
                Ok(None)
            } else {
                s.parse()
                    .map(Some)
                    .map_err(|_| bad("major and minor are numbers or *"))
            }
        };
        let access = it.next().ok_or_else(|| bad("expected access (rwm)"))?;
        if it.next().is_some() {
            return Err(bad("trailing fields"));
        }
        let r = Self {
            allow,
            kind,
            major: num(major)?,
            minor: num(minor)?,
            access: access.to_owned(),
        };
        r.check().map_err(bad)?;
        Ok(r)
    }

    fn check(&self) -> std::result::Result<(), &'static str> {
        let mut seen = [false; 3];
        for c in self.access.chars() {
            let i = "rwm".find(c).ok_or("access letters are r, w and m")?;
            if std::mem::replace(&mut seen[i], true) {
                return Err("access letter repeated");
            }
        }
        if self.access.is_empty() {
            return Err("access is empty");
        }
        Ok(())
    }

    /// The rule as written to `devices.allow` or `devices.deny`.
    pub(crate) fn to_v1(&self) -> std::result::Result<String, CgroupError> {
        self.check()
            .map_err(|reason| CgroupError::InvalidDeviceRule {
                rule: self.to_string(),
                reason,
            })?;
        Ok(self.to_string())
    }

    /// Docker's default list: deny everything, then allow `mknod` of any
    /// node and use of null, zero, full, random, urandom, tty, console,
    /// ptmx and the pty slaves. (runc once allowed tun too; Docker dropped it.)
    pub fn docker_defaults() -> Vec<Self> {
        let rule = |allow, kind, major, minor, access: &str| Self {
            allow,
            kind,
            major,
            minor,
            access: access.to_owned(),
        };
        use DeviceKind::{All, Block, Char};
        vec![
            rule(false, All, None, None, "rwm"),
            rule(true, Char, None, None, "m"),
            rule(true, Block, None, None, "m"),
            rule(true, Char, Some(1), Some(3), "rwm"), // null
            rule(true, Char, Some(1), Some(5), "rwm"), // zero
            rule(true, Char, Some(1), Some(7), "rwm"), // full
            rule(true, Char, Some(1), Some(8), "rwm"), // random
            rule(true, Char, Some(1), Some(9), "rwm"), // urandom
            rule(true, Char, Some(5), Some(0), "rwm"), // tty
            rule(true, Char, Some(5), Some(1), "rwm"), // console
            rule(true, Char, Some(5), Some(2), "rwm"), // ptmx
            rule(true, Char, Some(136), None, "rwm"),  // pts
        ]
    }
}

impl fmt::Display for DeviceRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            DeviceKind::All => 'a',
            DeviceKind::Char => 'c',
            DeviceKind::Block => 'b',
        };
        let n = |v: Option<u32>| v.map_or_else(|| "*".to_owned(), |v| v.to_string());
        write!(
            f,
            "{kind} {}:{} {}",
            n(self.major),
            n(self.minor),
            self.access
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_print_round_trip() {
        for s in [
            "c 1:3 rwm",
            "c 136:* rwm",
            "a *:* rwm",
            "b 8:0 r",
            "c *:* m",
        ] {
            let r = DeviceRule::parse(true, s).unwrap();
            assert_eq!(r.to_string(), s);
        }
        let r = DeviceRule::parse(false, "c 136:* rw").unwrap();
        assert_eq!(
            (r.allow, r.kind, r.major, r.minor),
            (false, DeviceKind::Char, Some(136), None)
        );
    }

    #[test]
    fn bad_rules_are_refused() {
        for s in [
            "",
            "x 1:3 rwm",
            "c 1 rwm",
            "c 1:3",
            "c 1:3 rwx",
            "c 1:3 rr",
            "c a:3 r",
            "c 1:3 r extra",
        ] {
            assert!(DeviceRule::parse(true, s).is_err(), "{s:?} accepted");
        }
    }

    #[test]
    fn defaults_start_by_denying_everything() {
        let d = DeviceRule::docker_defaults();
        assert_eq!(d[0].to_string(), "a *:* rwm");
        assert!(!d[0].allow);
        assert!(d[1..].iter().all(|r| r.allow));
        assert!(d.iter().any(|r| r.to_string() == "c 1:3 rwm"));
    }
}
