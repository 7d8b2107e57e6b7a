//! The firewall as data: functions that build the rule lists of pocky's
//! chains, for IPv4 (`iptables`) and IPv6 (`ip6tables`) alike, unit-tested
//! below; [`crate::firewall::Firewall`] applies them.

use std::net::IpAddr;

use crate::network::Network;
use crate::ports::PortMapping;

/// nat chain for the source NAT of networks and hairpin traffic.
pub const POSTROUTING: &str = "POCKY-POSTROUTING";
/// filter chain for forwarding to and from bridges.
pub const FORWARD: &str = "POCKY-FORWARD";
/// nat chain for published ports.
pub const DNAT: &str = "POCKY-DNAT";
/// filter chain, before [`FORWARD`], that keeps networks apart.
pub const ISOLATION: &str = "POCKY-ISOLATION";
/// filter chain [`ISOLATION`] sends what leaves a bridge for another
/// interface to: it drops what goes into another pocky bridge.
pub const ISOLATION2: &str = "POCKY-ISOLATION-2";
/// raw chain that drops what a container sends to the host's loopback.
pub const RAW: &str = "POCKY-PREROUTING";

/// Which firewall a rule belongs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    /// The command that edits this family's tables.
    pub fn command(self) -> &'static str {
        match self {
            Family::V4 => "iptables",
            Family::V6 => "ip6tables",
        }
    }
}

/// One rule: table, chain, and the rule in `iptables` argument syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub table: &'static str,
    pub chain: &'static str,
    pub rule: String,
}

fn rule(table: &'static str, chain: &'static str, body: String, owner: &str) -> Rule {
    Rule {
        table,
        chain,
        rule: format!("{body} -m comment --comment pocky:{owner}"),
    }
}

/// Owner tag of a network's rules.
pub fn network_owner(name: &str) -> String {
    format!("net:{name}")
}

/// Owner tag of a container's rules.
pub fn container_owner(id: &str) -> String {
    format!("ctr:{id}")
}

/// pocky's chains, in the order they are made (and removed: a chain
/// jumped to comes after the chains that jump to it).
pub const CHAINS: [(&str, &str); 6] = [
    ("nat", POSTROUTING),
    ("nat", DNAT),
    ("filter", FORWARD),
    ("filter", ISOLATION),
    ("filter", ISOLATION2),
    ("raw", RAW),
];

/// The jumps from the builtin chains, the same for both families.
/// Published ports are matched by destination type LOCAL both in
/// PREROUTING (from outside and from containers) and in OUTPUT (from the
/// host itself, 127.0.0.1 included).
pub fn base_rules() -> Vec<(&'static str, &'static str, String)> {
    let tag = "-m comment --comment pocky:base";
    vec![
        ("nat", "POSTROUTING", format!("{tag} -j {POSTROUTING}")),
        (
            "nat",
            "PREROUTING",
            format!("-m addrtype --dst-type LOCAL {tag} -j {DNAT}"),
        ),
        (
            "nat",
            "OUTPUT",
            format!("-m addrtype --dst-type LOCAL {tag} -j {DNAT}"),
        ),
        ("filter", "FORWARD", format!("{tag} -j {FORWARD}")),
        // Inserted at the head after the jump above, so it runs first.
        ("filter", "FORWARD", format!("{tag} -j {ISOLATION}")),
        ("raw", "PREROUTING", format!("{tag} -j {RAW}")),
    ]
}

/// What a network's rules depend on, for one family.
#[derive(Debug, Clone)]
pub struct NetRules<'a> {
    pub family: Family,
    pub bridge: &'a str,
    /// The subnet of that family, `a.b.c.d/n` or `x::/n`.
    pub subnet: String,
    /// `--internal`: nothing in or out but through the bridge.
    pub internal: bool,
    /// Source NAT of what leaves (the bridge option, on by default).
    pub masquerade: bool,
}

impl<'a> NetRules<'a> {
    /// The network's rules of `family`; None for IPv6 on a network
    /// without it.
    pub fn of(net: &'a Network, family: Family) -> Option<Self> {
        let subnet = match family {
            Family::V4 => net.subnet.to_string(),
            Family::V6 => net.ipv6.as_ref()?.subnet.to_string(),
        };
        Some(Self {
            family,
            bridge: &net.bridge,
            subnet,
            internal: net.internal,
            masquerade: net.options.masquerade() && !net.internal,
        })
    }

    /// A network with the default options.
    pub fn plain(family: Family, bridge: &'a str, subnet: String) -> Self {
        Self {
            family,
            bridge,
            subnet,
            internal: false,
            masquerade: true,
        }
    }
}

/// A network's rules: masquerade what leaves the subnet (unless switched
/// off, or internal), and for IPv4 what the host sends from 127.0.0.0/8
/// into the bridge (published ports on localhost); forward everything from
/// the bridge and the replies to it, but to another pocky network only
/// through a published port (DNAT), as Docker keeps its networks apart;
/// and, for IPv4, drop what a container addresses to 127.0.0.0/8:
/// `route_localnet`, which the localhost ports need, would otherwise let
/// it reach the host's loopback services (Kubernetes' CVE-2020-8558). The
/// raw table sees the packet before conntrack undoes the localhost ports'
/// NAT, so their replies, addressed to the gateway then, pass.
///
/// Isolation takes two steps, as Docker's: whatever leaves a pocky bridge
/// for another interface goes to [`ISOLATION2`], where every network
/// drops what is not a published port on its way into its bridge. That
/// holds whatever the bridges are called (`-o com.docker.network.bridge.name`).
/// An internal network drops everything that enters or leaves it
/// through anything but its bridge.
///
/// The rules added since the first release come last: a network whose
/// last rule is missing gets the missing ones appended, in order.
pub fn network_rules(n: &NetRules<'_>) -> Vec<Rule> {
    // Tagged by bridge, which is unique on the host, rather than by network
    // name, which two state roots may both use ("bridge").
    let o = network_owner(n.bridge);
    let (bridge, subnet) = (n.bridge, &n.subnet);
    let v4 = n.family == Family::V4;
    let mut out = Vec::new();
    if n.masquerade {
        out.push(rule(
            "nat",
            POSTROUTING,
            format!("-s {subnet} ! -o {bridge} -j MASQUERADE"),
            &o,
        ));
    }
    if v4 {
        out.push(rule(
            "nat",
            POSTROUTING,
            format!("-s 127.0.0.0/8 -o {bridge} -j MASQUERADE"),
            &o,
        ));
    }
    out.push(rule(
        "filter",
        FORWARD,
        format!("-o {bridge} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"),
        &o,
    ));
    out.push(rule(
        "filter",
        FORWARD,
        format!("-i {bridge} -j ACCEPT"),
        &o,
    ));
    out.push(rule(
        "filter",
        ISOLATION,
        format!("-i {bridge} -o {bridge} -j RETURN"),
        &o,
    ));
    if n.internal {
        out.push(rule(
            "filter",
            ISOLATION,
            format!("-i {bridge} ! -o {bridge} -j DROP"),
            &o,
        ));
        out.push(rule(
            "filter",
            ISOLATION,
            format!("! -i {bridge} -o {bridge} -j DROP"),
            &o,
        ));
    }
    if v4 {
        out.push(rule(
            "raw",
            RAW,
            format!("-i {bridge} -d 127.0.0.0/8 -j DROP"),
            &o,
        ));
    }
    // A member reaching a peer's (or its own) published port at a host
    // address: the DNATed packet goes back into the bridge, and the
    // peer's reply would go straight to the member, past the host that
    // must undo the NAT, unless br_netfilter happens to be loaded.
    // Masquerading it makes the reply come to the gateway.
    out.push(rule(
        "nat",
        POSTROUTING,
        format!("-s {subnet} -o {bridge} -m conntrack --ctstate DNAT -j MASQUERADE"),
        &o,
    ));
    out.push(rule(
        "filter",
        ISOLATION,
        format!("-i {bridge} ! -o {bridge} -j {ISOLATION2}"),
        &o,
    ));
    out.push(rule(
        "filter",
        ISOLATION2,
        format!("-o {bridge} -m conntrack ! --ctstate DNAT -j DROP"),
        &o,
    ));
    out
}

/// A container's rules, one set per published port: the DNAT, the forward
/// accept, and the masquerade that makes hairpin replies come back through
/// the host. For an IPv6 address, only the ports published on every host
/// address (no IPv4 host address given) have rules.
pub fn container_rules(
    id: &str,
    bridge: &str,
    addr: impl Into<IpAddr>,
    ports: &[PortMapping],
) -> Vec<Rule> {
    let addr: IpAddr = addr.into();
    let o = container_owner(id);
    let (host, to) = match addr {
        IpAddr::V4(a) => (format!("{a}/32"), format!("{a}")),
        IpAddr::V6(a) => (format!("{a}/128"), format!("[{a}]")),
    };
    let mut out = Vec::new();
    for p in ports {
        if addr.is_ipv6() && p.host_ip.is_some() {
            continue;
        }
        let proto = p.proto.as_str();
        let dst = p
            .host_ip
            .map(|ip| format!("-d {ip}/32 "))
            .unwrap_or_default();
        out.push(rule(
            "nat",
            DNAT,
            format!(
                "{dst}-p {proto} -m {proto} --dport {} -j DNAT --to-destination {to}:{}",
                p.host_port, p.container_port
            ),
            &o,
        ));
        out.push(rule(
            "filter",
            FORWARD,
            format!(
                "-d {host} -o {bridge} -p {proto} -m {proto} --dport {} -j ACCEPT",
                p.container_port
            ),
            &o,
        ));
        out.push(rule(
            "nat",
            POSTROUTING,
            format!(
                "-s {host} -d {host} -p {proto} -m {proto} --dport {} -j MASQUERADE",
                p.container_port
            ),
            &o,
        ));
    }
    out
}

/// The owner tag of a rule as `iptables -S` prints it.
pub fn owner_of(rule: &str) -> Option<&str> {
    let (_, rest) = rule.split_once("--comment ")?;
    let word = rest.split_whitespace().next()?.trim_matches('"');
    word.strip_prefix("pocky:")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::Proto;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn text(rules: &[Rule]) -> Vec<String> {
        rules
            .iter()
            .map(|r| format!("{} {} {}", r.table, r.chain, r.rule))
            .collect()
    }

    #[test]
    fn network_rules_masquerade_leaving_traffic_and_accept_the_bridge() {
        let rules = network_rules(&NetRules::plain(
            Family::V4,
            "pocky0",
            "172.17.0.0/16".into(),
        ));
        assert_eq!(
            text(&rules),
            [
                "nat POCKY-POSTROUTING -s 172.17.0.0/16 ! -o pocky0 -j MASQUERADE -m comment --comment pocky:net:pocky0",
                "nat POCKY-POSTROUTING -s 127.0.0.0/8 -o pocky0 -j MASQUERADE -m comment --comment pocky:net:pocky0",
                "filter POCKY-FORWARD -o pocky0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT -m comment --comment pocky:net:pocky0",
                "filter POCKY-FORWARD -i pocky0 -j ACCEPT -m comment --comment pocky:net:pocky0",
                "filter POCKY-ISOLATION -i pocky0 -o pocky0 -j RETURN -m comment --comment pocky:net:pocky0",
                "raw POCKY-PREROUTING -i pocky0 -d 127.0.0.0/8 -j DROP -m comment --comment pocky:net:pocky0",
                "nat POCKY-POSTROUTING -s 172.17.0.0/16 -o pocky0 -m conntrack --ctstate DNAT -j MASQUERADE -m comment --comment pocky:net:pocky0",
                "filter POCKY-ISOLATION -i pocky0 ! -o pocky0 -j POCKY-ISOLATION-2 -m comment --comment pocky:net:pocky0",
                "filter POCKY-ISOLATION-2 -o pocky0 -m conntrack ! --ctstate DNAT -j DROP -m comment --comment pocky:net:pocky0",
            ]
        );
    }

    #[test]
    fn ipv6_rules_have_no_loopback_part() {
        let rules = network_rules(&NetRules::plain(Family::V6, "br6", "fd00:1::/64".into()));
        let t = text(&rules);
        assert_eq!(
            t[0],
            "nat POCKY-POSTROUTING -s fd00:1::/64 ! -o br6 -j MASQUERADE -m comment --comment pocky:net:br6"
        );
        assert!(
            t.iter()
                .all(|r| !r.contains("127.0.0.0") && !r.starts_with("raw"))
        );
        assert_eq!(rules.len(), 7);
    }

    #[test]
    fn internal_networks_drop_what_crosses_the_bridge_and_masquerade_nothing() {
        let mut n = NetRules::plain(Family::V4, "br-int", "10.7.0.0/24".into());
        n.internal = true;
        n.masquerade = false;
        let t = text(&network_rules(&n));
        assert!(
            !t.iter().any(|r| r.contains("! -o br-int -j MASQUERADE")),
            "{t:?}"
        );
        assert!(t.contains(&"filter POCKY-ISOLATION -i br-int ! -o br-int -j DROP -m comment --comment pocky:net:br-int".to_owned()));
        assert!(t.contains(&"filter POCKY-ISOLATION ! -i br-int -o br-int -j DROP -m comment --comment pocky:net:br-int".to_owned()));
        // Without NAT only: the rest stays.
        let mut n = NetRules::plain(Family::V4, "b", "10.7.0.0/24".into());
        n.masquerade = false;
        let t = text(&network_rules(&n));
        assert!(!t.iter().any(|r| r.contains("! -o b -j MASQUERADE")));
        assert!(
            !t.iter()
                .any(|r| r.contains("-j DROP") && r.contains("ISOLATION "))
        );
        assert_eq!(t.len(), 8);
    }

    #[test]
    fn container_rules_per_port_with_owner_tag() {
        let ports = [
            PortMapping {
                host_ip: None,
                host_port: 8080,
                container_port: 80,
                proto: Proto::Tcp,
            },
            PortMapping {
                host_ip: Some(Ipv4Addr::LOCALHOST),
                host_port: 5353,
                container_port: 53,
                proto: Proto::Udp,
            },
        ];
        let rules = container_rules("abc", "pocky0", Ipv4Addr::new(10, 88, 0, 2), &ports);
        assert_eq!(rules.len(), 6);
        assert!(rules.iter().all(|r| owner_of(&r.rule) == Some("ctr:abc")));
        assert_eq!(
            rules[0].rule,
            "-p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.88.0.2:80 -m comment --comment pocky:ctr:abc"
        );
        assert_eq!((rules[0].table, rules[0].chain), ("nat", DNAT));
        assert_eq!((rules[1].table, rules[1].chain), ("filter", FORWARD));
        assert!(
            rules[2]
                .rule
                .starts_with("-s 10.88.0.2/32 -d 10.88.0.2/32 -p tcp")
        );
        assert!(rules[3].rule.starts_with(
            "-d 127.0.0.1/32 -p udp -m udp --dport 5353 -j DNAT --to-destination 10.88.0.2:53"
        ));
        assert!(container_rules("abc", "pocky0", Ipv4Addr::new(10, 88, 0, 2), &[]).is_empty());
        // IPv6: brackets around the address, and the port bound to an
        // IPv4 host address has no IPv6 rules.
        let a6: Ipv6Addr = "fd00::2".parse().unwrap();
        let v6 = container_rules("abc", "pocky0", a6, &ports);
        assert_eq!(v6.len(), 3);
        assert_eq!(
            v6[0].rule,
            "-p tcp -m tcp --dport 8080 -j DNAT --to-destination [fd00::2]:80 -m comment --comment pocky:ctr:abc"
        );
        assert!(v6[1].rule.starts_with("-d fd00::2/128 -o pocky0 -p tcp"));
        assert!(
            v6[2]
                .rule
                .starts_with("-s fd00::2/128 -d fd00::2/128 -p tcp")
        );
    }

    #[test]
    fn base_rules_jump_from_the_builtin_chains() {
        let chains: Vec<(&str, &str)> = base_rules().iter().map(|(t, c, _)| (*t, *c)).collect();
        assert_eq!(
            chains,
            [
                ("nat", "POSTROUTING"),
                ("nat", "PREROUTING"),
                ("nat", "OUTPUT"),
                ("filter", "FORWARD"),
                ("filter", "FORWARD"),
                ("raw", "PREROUTING"),
            ]
        );
        // Each is inserted at the head in turn: isolation ends up first.
        assert!(base_rules()[4].2.ends_with(&format!("-j {ISOLATION}")));
        assert!(
            base_rules()
                .iter()
                .all(|(_, _, r)| owner_of(r) == Some("base"))
        );
        let pos = |c: &str| CHAINS.iter().position(|(_, x)| *x == c).unwrap();
        assert!(
            pos(ISOLATION) < pos(ISOLATION2),
            "the jumping chain goes first"
        );
    }

    #[test]
    fn owner_from_iptables_s_output() {
        assert_eq!(
            owner_of(
                "-s 10.88.0.0/16 ! -o pocky0 -m comment --comment pocky:net:pocky0 -j MASQUERADE"
            ),
            Some("net:pocky0")
        );
        assert_eq!(
            owner_of("-m comment --comment \"pocky:ctr:x\" -j ACCEPT"),
            Some("ctr:x")
        );
        assert_eq!(owner_of("-m comment --comment other -j ACCEPT"), None);
        assert_eq!(owner_of("-j ACCEPT"), None);
    }
}
