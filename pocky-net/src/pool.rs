//! Where a network's subnet comes from when the user names none: Docker's
//! default address pools, first free one wins, and a unique local IPv6
//! prefix for `--ipv6` without an IPv6 `--subnet`.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::subnet::Subnet;
use crate::subnet6::Subnet6;

/// Docker's `default-address-pools`, in its order: `172.17.0.0/16` to
/// `172.31.0.0/16`, then `192.168.0.0/16` cut into /20s. The default
/// bridge and user networks draw from the same list.
pub fn candidates() -> impl Iterator<Item = Subnet> {
    let wide = (17..=31).map(|b| (Ipv4Addr::new(172, b, 0, 0), 16));
    let narrow = (0..16u8).map(|i| (Ipv4Addr::new(192, 168, i * 16, 0), 20));
    wide.chain(narrow)
        .filter_map(|(a, p)| Subnet::new(a, p).ok())
}

/// The first candidate that overlaps none of `taken` (the host's routes
/// and the other networks of this state root).
pub fn choose(taken: &[Subnet]) -> Option<Subnet> {
    candidates().find(|c| !taken.iter().any(|t| t.overlaps(c)))
}

/// A /64 in `fd00::/8` (RFC 4193's unique local addresses) for a network
/// asked to have IPv6 without a subnet, as Docker 27 makes one: the 40-bit
/// global id and the subnet id come from the network's random id, so two
/// networks (or two hosts) practically never pick the same one. `taken`
/// holds the IPv6 subnets already in use; on the rare clash the next
/// subnet id is tried.
pub fn ula(id_hex: &str, taken: &[Subnet6]) -> Option<Subnet6> {
    let bytes: Vec<u8> = (0..7)
        .filter_map(|i| u8::from_str_radix(id_hex.get(i * 2..i * 2 + 2)?, 16).ok())
        .collect();
    let [g0, g1, g2, g3, g4, s0, s1] = <[u8; 7]>::try_from(bytes).ok()?;
    let global = u128::from_be_bytes([0xfd, g0, g1, g2, g3, g4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    let first = u16::from_be_bytes([s0, s1]);
    (0..=u16::MAX)
        .map(|i| first.wrapping_add(i))
        .filter_map(|sid| Subnet6::new(Ipv6Addr::from(global | u128::from(sid) << 64), 64).ok())
        .find(|c| !taken.iter().any(|t| t.overlaps(c)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockers_pools_in_dockers_order() {
        let all: Vec<String> = candidates().map(|s| s.to_string()).collect();
        assert_eq!(all.len(), 15 + 16);
        assert_eq!(all[0], "172.17.0.0/16");
        assert_eq!(all[14], "172.31.0.0/16");
        assert_eq!(all[15], "192.168.0.0/20");
        assert_eq!(all[16], "192.168.16.0/20");
        assert_eq!(all[30], "192.168.240.0/20");
    }

    #[test]
    fn the_first_free_candidate_wins() {
        let s = |t: &str| t.parse::<Subnet>().unwrap();
        assert_eq!(choose(&[]), Some(s("172.17.0.0/16")));
        // A host route inside 172.17 and another network on 172.18.
        let taken = [s("172.17.5.0/24"), s("172.18.0.0/16")];
        assert_eq!(choose(&taken), Some(s("172.19.0.0/16")));
        // A wide route over all of 172.16/12 moves it to 192.168.
        assert_eq!(choose(&[s("172.16.0.0/12")]), Some(s("192.168.0.0/20")));
        let home = [s("172.16.0.0/12"), s("192.168.0.0/24")];
        assert_eq!(choose(&home), Some(s("192.168.16.0/20")));
        let mut all: Vec<Subnet> = candidates().collect();
        assert_eq!(choose(&all), None);
        all.pop();
        assert_eq!(choose(&all), Some(s("192.168.240.0/20")));
    }

    #[test]
    fn ula_comes_from_the_id_and_avoids_taken_ones() {
        let id = "0123456789abcdef0123";
        let u = ula(id, &[]).unwrap();
        assert_eq!(u.to_string(), "fd01:2345:6789:abcd::/64");
        let next = ula(id, &[u]).unwrap();
        assert_eq!(next.to_string(), "fd01:2345:6789:abce::/64");
        assert_eq!(ula("xyz", &[]), None);
    }
}
