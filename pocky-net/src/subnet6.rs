//! IPv6 subnets, as [`crate::subnet`] has them for IPv4: parsing, overlap,
//! the n-th address.

use std::fmt;
use std::net::Ipv6Addr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::NetError;

/// An IPv6 network `addr/prefix`, kept with its host bits cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Subnet6 {
    base: Ipv6Addr,
    prefix: u8,
}

/// The prefixes a network may have: wide enough to be a network, and
/// narrow enough to leave a few addresses for containers.
const PREFIXES: std::ops::RangeInclusive<u8> = 16..=124;

impl Subnet6 {
    /// `base/prefix`, with the host bits of `base` cleared.
    pub fn new(base: Ipv6Addr, prefix: u8) -> Result<Self, NetError> {
        if !PREFIXES.contains(&prefix) {
            return Err(NetError::BadSubnet(format!("{base}/{prefix}")));
        }
        Ok(Self {
            base: Ipv6Addr::from(u128::from(base) & mask(prefix)),
            prefix,
        })
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    pub fn base(&self) -> Ipv6Addr {
        self.base
    }

    /// Number of addresses (saturating at `u128::MAX` for a /0, which
    /// [`PREFIXES`] excludes anyway).
    pub fn size(&self) -> u128 {
        1u128
            .checked_shl(128 - u32::from(self.prefix))
            .unwrap_or(u128::MAX)
    }

    pub fn contains(&self, a: Ipv6Addr) -> bool {
        u128::from(a) & mask(self.prefix) == u128::from(self.base)
    }

    /// Whether the two share any address.
    pub fn overlaps(&self, other: &Subnet6) -> bool {
        let m = mask(self.prefix.min(other.prefix));
        u128::from(self.base) & m == u128::from(other.base) & m
    }

    /// Whether all of `inner` lies in this subnet.
    pub fn covers(&self, inner: &Subnet6) -> bool {
        inner.prefix >= self.prefix && self.contains(inner.base)
    }

    /// The `n`-th address (0 is the subnet-router anycast address).
    pub fn nth(&self, n: u128) -> Option<Ipv6Addr> {
        (n < self.size()).then(|| Ipv6Addr::from(u128::from(self.base) + n))
    }

    /// Offset of `a` in the subnet.
    pub fn offset(&self, a: Ipv6Addr) -> Option<u128> {
        self.contains(a)
            .then(|| u128::from(a) - u128::from(self.base))
    }

    /// The default gateway: the first address after the anycast one, as
    /// Docker picks it.
    pub fn gateway(&self) -> Ipv6Addr {
        Ipv6Addr::from(u128::from(self.base) + 1)
    }
}

fn mask(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

impl fmt::Display for Subnet6 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.base, self.prefix)
    }
}

impl FromStr for Subnet6 {
    type Err = NetError;
    fn from_str(s: &str) -> Result<Self, NetError> {
        let bad = || NetError::BadSubnet(s.to_owned());
        let (a, p) = s.split_once('/').ok_or_else(bad)?;
        let a: Ipv6Addr = a.parse().map_err(|_| bad())?;
        let p: u8 = p.parse().map_err(|_| bad())?;
        Subnet6::new(a, p).map_err(|_| bad())
    }
}

impl TryFrom<String> for Subnet6 {
    type Error = NetError;
    fn try_from(s: String) -> Result<Self, NetError> {
        s.parse()
    }
}

impl From<Subnet6> for String {
    fn from(s: Subnet6) -> String {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_clears_host_bits_and_rejects_junk() {
        let s: Subnet6 = "fd00:1:2:3::5/64".parse().unwrap();
        assert_eq!(s.to_string(), "fd00:1:2:3::/64");
        assert_eq!(s.gateway(), "fd00:1:2:3::1".parse::<Ipv6Addr>().unwrap());
        for bad in ["fd00::/8", "fd00::/125", "fd00::", "10.0.0.0/8", "x/64"] {
            assert!(bad.parse::<Subnet6>().is_err(), "{bad}");
        }
    }

    #[test]
    fn overlap_cover_and_offsets() {
        let a: Subnet6 = "fd00:1::/48".parse().unwrap();
        let b: Subnet6 = "fd00:1:0:5::/64".parse().unwrap();
        let c: Subnet6 = "fd00:2::/48".parse().unwrap();
        assert!(a.overlaps(&b) && b.overlaps(&a) && !a.overlaps(&c));
        assert!(a.covers(&b) && !b.covers(&a) && !a.covers(&c));
        let x: Ipv6Addr = "fd00:1:0:5::9".parse().unwrap();
        assert_eq!(b.offset(x), Some(9));
        assert_eq!(b.nth(9), Some(x));
        assert_eq!(c.offset(x), None);
        assert_eq!(b.size(), 1 << 64);
    }
}
