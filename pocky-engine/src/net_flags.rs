//! The network flags of `run` beyond the network itself, checked as
//! Docker checks them: `--mac-address`, `--dns-search`, `--dns-option`,
//! `--expose` and `--link`.

use anyhow::{Result, bail};
use pocky_store::Store;
use serde::{Deserialize, Serialize};

use crate::invalid;

/// `--mac-address` as the kernel takes it: six octets separated by `:` or
/// `-`, unicast (a multicast address is refused by the kernel for an
/// Ethernet device) and not all zero.
pub fn parse_mac(s: &str) -> Result<[u8; 6]> {
    let bad = |why: &str| invalid!("invalid MAC address {s:?}: {why}");
    let parts: Vec<&str> = s.split([':', '-']).collect();
    if parts.len() != 6 {
        bail!(bad("expected six octets, e.g. 02:42:ac:11:00:02"));
    }
    let mut mac = [0u8; 6];
    for (slot, part) in mac.iter_mut().zip(&parts) {
        if part.len() != 2 {
            bail!(bad("expected six octets, e.g. 02:42:ac:11:00:02"));
        }
        *slot = u8::from_str_radix(part, 16).map_err(|_| bad("not hexadecimal"))?;
    }
    if mac[0] & 1 == 1 {
        bail!(bad("a multicast address cannot be an interface's"));
    }
    if mac == [0; 6] {
        bail!(bad("all zero"));
    }
    Ok(mac)
}

/// The MAC address as `ip link` prints it.
pub fn format_mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// A `--dns-search` domain: Docker's rule (labels of letters, digits and
/// inner hyphens, an optional final dot, at most 255 characters), or `.`
/// for "no search list".
pub fn check_dns_search(d: &str) -> Result<()> {
    let label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    let body = d.strip_suffix('.').unwrap_or(d);
    if d == "." || (d.len() <= 255 && body.split('.').all(label)) {
        Ok(())
    } else {
        bail!(invalid!("{d:?} is not a valid domain for --dns-search"))
    }
}

/// A `--dns-option` is written as one word of resolv.conf's `options`
/// line: no spaces or line breaks that would add others.
pub fn check_dns_option(o: &str) -> Result<()> {
    if o.is_empty() || o.chars().any(|c| c.is_whitespace() || c.is_control()) {
        bail!(invalid!(
            "invalid --dns-option {o:?}: one word, like ndots:2"
        ));
    }
    Ok(())
}

/// `--expose PORT[/PROTO]` or `START-END[/PROTO]`, as `80/tcp`... entries.
pub fn expand_expose(spec: &str) -> Result<Vec<String>> {
    let bad = || invalid!("invalid --expose {spec:?}: PORT[/tcp|udp] or START-END[/tcp|udp]");
    let (ports, proto) = match spec.split_once('/') {
        Some((p, proto @ ("tcp" | "udp"))) => (p, proto),
        Some(_) => bail!(bad()),
        None => (spec, "tcp"),
    };
    let port = |s: &str| s.parse::<u16>().ok().filter(|p| *p > 0);
    let (lo, hi) = match ports.split_once('-') {
        Some((a, b)) => (port(a).ok_or_else(bad)?, port(b).ok_or_else(bad)?),
        None => {
            let p = port(ports).ok_or_else(bad)?;
            (p, p)
        }
    };
    if lo > hi {
        bail!(bad());
    }
    Ok((lo..=hi).map(|p| format!("{p}/{proto}")).collect())
}

/// A `--link`: the linked container's id and the alias it goes by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub container: String,
    pub alias: String,
}

/// `--link NAME[:ALIAS]` (or the API's `/name:/me/alias`): the container
/// must exist; the alias is the name unless given, and must be a valid
/// container name itself.
pub fn resolve_link(store: &Store, spec: &str) -> Result<Link> {
    let (name, alias) = match spec.split_once(':') {
        Some((n, a)) => (n, a),
        None => (spec, spec),
    };
    let name = name.trim_start_matches('/');
    // The API form names the alias by its path under the linking
    // container: its last part is the alias.
    let alias = alias.rsplit('/').next().unwrap_or(alias);
    if name.is_empty() || alias.is_empty() {
        bail!(invalid!("invalid --link {spec:?}: NAME[:ALIAS]"));
    }
    crate::flags::check_name(alias)
        .map_err(|_| invalid!("invalid --link {spec:?}: {alias:?} is not a valid alias"))?;
    let target = crate::state::find(store, name)
        .map_err(|_| invalid!("could not get container for {name}: no such container"))?;
    Ok(Link {
        container: target.id,
        alias: alias.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_addresses() {
        assert_eq!(
            parse_mac("02:42:AC:11:00:02").unwrap(),
            [2, 0x42, 0xac, 0x11, 0, 2]
        );
        assert_eq!(
            format_mac(&parse_mac("02-42-ac-11-00-02").unwrap()),
            "02:42:ac:11:00:02"
        );
        for bad in [
            "",
            "02:42:ac:11:00",
            "02:42:ac:11:00:02:03",
            "0g:42:ac:11:00:02",
            "01:00:5e:00:00:01",
            "00:00:00:00:00:00",
            "2:42:ac:11:00:02",
        ] {
            assert!(parse_mac(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dns_search_and_options() {
        for good in ["example.com", "corp.example.com.", ".", "a-b.c1"] {
            check_dns_search(good).unwrap();
        }
        for bad in [
            "",
            "-a.com",
            "a..com",
            "a b",
            "a\nnameserver 1.2.3.4",
            "x_y.com",
        ] {
            assert!(check_dns_search(bad).is_err(), "{bad:?}");
        }
        check_dns_option("ndots:2").unwrap();
        for bad in ["", "ndots:2 rotate", "a\nnameserver 1.1.1.1"] {
            assert!(check_dns_option(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn expose_forms() {
        assert_eq!(expand_expose("80").unwrap(), ["80/tcp"]);
        assert_eq!(expand_expose("53/udp").unwrap(), ["53/udp"]);
        assert_eq!(
            expand_expose("8000-8002/tcp").unwrap(),
            ["8000/tcp", "8001/tcp", "8002/tcp"]
        );
        for bad in ["", "0", "80/sctp", "9-8", "x", "70000", "1-"] {
            assert!(expand_expose(bad).is_err(), "{bad}");
        }
    }
}
