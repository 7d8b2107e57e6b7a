//! The `/etc/hosts` and `/etc/resolv.conf` pocky writes per container and
//! bind-mounts over the image's (Docker's content, Docker's order).

use std::fmt::Write as _;
use std::net::IpAddr;

/// Docker's fixed head of every container's `/etc/hosts`.
const HOSTS_HEAD: &str = "\
127.0.0.1\tlocalhost
::1\tlocalhost ip6-localhost ip6-loopback
fe00::0\tip6-localnet
ff00::0\tip6-mcastprefix
ff02::1\tip6-allnodes
ff02::2\tip6-allrouters
";

/// Docker's fallback when the host has no usable nameserver (IPv4; Docker
/// adds Google's IPv6 pair only when the network has IPv6).
const DEFAULT_NAMESERVERS: [&str; 2] = ["8.8.8.8", "8.8.4.4"];

/// Renders a container's `/etc/hosts`: the localhost block, then `extra`
/// (`--add-host` entries) in order, then the container's own address
/// mapped to its hostname.
///
/// `address` is `None` with `--network none`: Docker then writes no line
/// for the hostname at all (moby/moby#11765; Podman adds one, Docker does
/// not), and neither does pocky. A dotted hostname is listed with its
/// short name too, as libnetwork does.
pub fn hosts_file(hostname: &str, address: Option<IpAddr>, extra: &[(String, IpAddr)]) -> String {
    let mut out = String::from(HOSTS_HEAD);
    for (name, ip) in extra {
        // Writing to a String cannot fail.
        let _ = writeln!(out, "{ip}\t{name}");
    }
    if let Some(ip) = address {
        let _ = match hostname.split_once('.') {
            Some((short, _)) if !short.is_empty() => writeln!(out, "{ip}\t{hostname} {short}"),
            _ => writeln!(out, "{ip}\t{hostname}"),
        };
    }
    out
}

fn is_loopback_nameserver(line: &str) -> bool {
    let mut words = line.split_whitespace();
    if words.next() != Some("nameserver") {
        return false;
    }
    let Some(addr) = words.next() else {
        return false;
    };
    // A zone (`fe80::1%eth0`) is not part of the address.
    let addr = addr.split('%').next().unwrap_or(addr);
    addr.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn is_nameserver(line: &str) -> bool {
    line.split_whitespace().next() == Some("nameserver")
}

/// Renders a container's `/etc/resolv.conf` from the host's, as Docker does
/// for a bridged or isolated container: loopback nameservers (127.0.0.0/8,
/// `::1`; a local resolver such as systemd-resolved's 127.0.0.53 is not
/// reachable from another network namespace) are dropped; `search`,
/// `options` and everything else are kept. When no nameserver remains,
/// Docker's defaults 8.8.8.8 and 8.8.4.4 are appended.
///
/// On systemd-resolved hosts the upstream servers are in another file:
/// [`host_resolv_conf`] picks it.
pub fn resolv_conf(host_resolv_conf: &str) -> String {
    let mut out = String::new();
    let mut nameservers = 0;
    for line in host_resolv_conf.lines() {
        if is_loopback_nameserver(line) {
            continue;
        }
        if is_nameserver(line) {
            nameservers += 1;
        }
        out.push_str(line);
        out.push('\n');
    }
    if nameservers == 0 {
        for ns in DEFAULT_NAMESERVERS {
            let _ = writeln!(out, "nameserver {ns}");
        }
    }
    out
}

/// Where systemd-resolved lists the servers it forwards to.
const RESOLVED_UPSTREAM: &str = "/run/systemd/resolve/resolv.conf";

/// The host's resolver configuration, as Docker reads it: `/etc/resolv.conf`,
/// unless every nameserver there is a loopback one (systemd-resolved's
/// 127.0.0.53 stub), in which case the resolver's upstream list when it
/// has one.
pub fn host_resolv_conf() -> String {
    pick_resolv_conf(
        &std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
        || std::fs::read_to_string(RESOLVED_UPSTREAM).ok(),
    )
}

fn pick_resolv_conf(etc: &str, upstream: impl FnOnce() -> Option<String>) -> String {
    let mut servers = etc.lines().filter(|l| is_nameserver(l));
    let only_loopback = servers.clone().next().is_some() && servers.all(is_loopback_nameserver);
    match only_loopback.then(upstream).flatten() {
        Some(up) => up,
        None => etc.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn systemd_resolved_stub_gives_way_to_its_upstream_list() {
        let stub = "nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch lan\n";
        let up = || Some("nameserver 192.0.2.53\nsearch lan\n".to_owned());
        assert_eq!(
            pick_resolv_conf(stub, up),
            "nameserver 192.0.2.53\nsearch lan\n"
        );
        // No upstream file: the stub's, which resolv_conf then replaces
        // with the defaults.
        assert_eq!(pick_resolv_conf(stub, || None), stub);
        let mixed = "nameserver 127.0.0.53\nnameserver 192.0.2.1\n";
        assert_eq!(pick_resolv_conf(mixed, up), mixed, "a real server is kept");
        assert_eq!(
            pick_resolv_conf("", up),
            "",
            "no servers at all: nothing to replace"
        );
    }

    #[test]
    fn network_none_hosts_has_only_the_localhost_block() {
        assert_eq!(hosts_file("abc123", None, &[]), HOSTS_HEAD);
    }

    #[test]
    fn extra_hosts_then_own_address_last() {
        let extra = vec![
            ("db".to_owned(), "10.0.0.5".parse().unwrap()),
            ("v6".to_owned(), "fd00::1".parse().unwrap()),
        ];
        let hosts = hosts_file("web.example", Some("172.17.0.2".parse().unwrap()), &extra);
        let tail: Vec<&str> = hosts.lines().skip(6).collect();
        assert_eq!(
            tail,
            ["10.0.0.5\tdb", "fd00::1\tv6", "172.17.0.2\tweb.example web"]
        );
        assert!(
            hosts.starts_with("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
        );
    }

    #[test]
    fn loopback_nameservers_are_dropped_and_the_rest_kept() {
        let host = "# generated\nnameserver 127.0.0.53\nnameserver ::1\nnameserver 10.1.2.3\nsearch corp.example\noptions edns0 trust-ad\nnameserver fe80::1%eth0\n";
        assert_eq!(
            resolv_conf(host),
            "# generated\nnameserver 10.1.2.3\nsearch corp.example\noptions edns0 trust-ad\nnameserver fe80::1%eth0\n"
        );
    }

    #[test]
    fn only_loopback_nameservers_fall_back_to_dockers_defaults() {
        let host = "nameserver 127.0.0.53\noptions edns0\nsearch lan\n";
        assert_eq!(
            resolv_conf(host),
            "options edns0\nsearch lan\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        );
        assert_eq!(resolv_conf(""), "nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
    }
}
