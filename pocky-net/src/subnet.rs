//! IPv4 subnets: parsing, overlap, the n-th address.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::NetError;

/// An IPv4 network `addr/prefix`, kept with its host bits cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Subnet {
    base: Ipv4Addr,
    prefix: u8,
}

impl Subnet {
    /// `base/prefix`, with the host bits of `base` cleared.
    pub fn new(base: Ipv4Addr, prefix: u8) -> Result<Self, NetError> {
        if !(8..=30).contains(&prefix) {
            return Err(NetError::BadSubnet(format!("{base}/{prefix}")));
        }
        let mask = u32::MAX << (32 - u32::from(prefix));
        Ok(Self {
            base: Ipv4Addr::from(u32::from(base) & mask),
            prefix,
        })
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    pub fn base(&self) -> Ipv4Addr {
        self.base
    }

    fn mask(&self) -> u32 {
        u32::MAX << (32 - u32::from(self.prefix))
    }

    /// Number of addresses, network and broadcast included.
    pub fn size(&self) -> u32 {
        1u32 << (32 - u32::from(self.prefix))
    }

    pub fn contains(&self, a: Ipv4Addr) -> bool {
        u32::from(a) & self.mask() == u32::from(self.base)
    }

    /// Whether the two share any address.
    pub fn overlaps(&self, other: &Subnet) -> bool {
        let p = self.prefix.min(other.prefix);
        let mask = u32::MAX << (32 - u32::from(p));
        u32::from(self.base) & mask == u32::from(other.base) & mask
    }

    /// The `n`-th address (0 is the network address).
    pub fn nth(&self, n: u32) -> Option<Ipv4Addr> {
        (n < self.size()).then(|| Ipv4Addr::from(u32::from(self.base) + n))
    }

    /// Offset of `a` in the subnet.
    pub fn offset(&self, a: Ipv4Addr) -> Option<u32> {
        self.contains(a)
            .then(|| u32::from(a) - u32::from(self.base))
    }

    /// The gateway: the first host address, as Docker and Podman use.
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.base) + 1)
    }

    /// Whether all of `inner` lies in this subnet.
    pub fn covers(&self, inner: &Subnet) -> bool {
        inner.prefix >= self.prefix && self.contains(inner.base)
    }

    /// Whether `a` may be leased: inside, and neither network, gateway nor
    /// broadcast address.
    pub fn is_host(&self, a: Ipv4Addr) -> bool {
        self.offset(a)
            .is_some_and(|o| o >= 2 && o < self.size() - 1)
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.base, self.prefix)
    }
}

impl FromStr for Subnet {
    type Err = NetError;
    fn from_str(s: &str) -> Result<Self, NetError> {
        let bad = || NetError::BadSubnet(s.to_owned());
        let (a, p) = s.split_once('/').ok_or_else(bad)?;
        let a: Ipv4Addr = a.parse().map_err(|_| bad())?;
        let p: u8 = p.parse().map_err(|_| bad())?;
        Subnet::new(a, p).map_err(|_| bad())
    }
}

impl TryFrom<String> for Subnet {
    type Error = NetError;
    fn try_from(s: String) -> Result<Self, NetError> {
        s.parse()
    }
}

impl From<Subnet> for String {
    fn from(s: Subnet) -> String {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_clears_host_bits_and_rejects_junk() {
        let s: Subnet = "10.88.3.4/16".parse().unwrap();
        assert_eq!(s.to_string(), "10.88.0.0/16");
        for bad in [
            "10.88.0.0",
            "10.88.0.0/31",
            "x/16",
            "10.88.0.0/7",
            "10.88.0.0/",
        ] {
            assert!(bad.parse::<Subnet>().is_err(), "{bad}");
        }
    }

    #[test]
    fn overlap_and_hosts() {
        let a: Subnet = "10.88.0.0/16".parse().unwrap();
        let b: Subnet = "10.88.5.0/24".parse().unwrap();
        let c: Subnet = "10.89.0.0/16".parse().unwrap();
        assert!(a.overlaps(&b) && b.overlaps(&a));
        assert!(!a.overlaps(&c));
        assert_eq!(a.gateway(), Ipv4Addr::new(10, 88, 0, 1));
        assert!(!a.is_host(Ipv4Addr::new(10, 88, 0, 1)));
        assert!(a.is_host(Ipv4Addr::new(10, 88, 0, 2)));
        assert!(!a.is_host(Ipv4Addr::new(10, 88, 255, 255)));
        assert!(!a.is_host(Ipv4Addr::new(10, 89, 0, 2)));
    }
}
