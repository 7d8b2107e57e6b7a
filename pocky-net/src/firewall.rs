//! The firewall, as data first: functions build the rule lists (unit-tested
//! below), and [`Firewall`] applies them idempotently in pocky's own chains
//! with the `iptables` crate. Every rule carries a comment
//! `pocky:<owner>` (`base`, `net:<name>`, `ctr:<container id>`), so teardown
//! and prune remove exactly the rules of one owner, whatever else changed.

use std::net::Ipv4Addr;

use crate::NetError;
use crate::firewall_lock::base_lock;
use crate::ports::PortMapping;
use crate::subnet::Subnet;

/// nat chain for the source NAT of networks and hairpin traffic.
pub const POSTROUTING: &str = "POCKY-POSTROUTING";
/// filter chain for forwarding to and from bridges.
pub const FORWARD: &str = "POCKY-FORWARD";
/// nat chain for published ports.
pub const DNAT: &str = "POCKY-DNAT";
/// filter chain, before [`FORWARD`], that keeps networks apart.
pub const ISOLATION: &str = "POCKY-ISOLATION";
/// raw chain that drops what a container sends to the host's loopback.
pub const RAW: &str = "POCKY-PREROUTING";
/// Every pocky bridge's name starts so (`pocky0`, `pocky-<id>`); veths
/// are `vp...`, so the wildcard matches bridges only.
const BRIDGES: &str = "pocky+";

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

/// pocky's chains, and where the builtin chains jump to them.
pub const CHAINS: [(&str, &str); 5] = [
    ("nat", POSTROUTING),
    ("nat", DNAT),
    ("filter", FORWARD),
    ("filter", ISOLATION),
    ("raw", RAW),
];

/// The jumps from the builtin chains. Published ports are matched by
/// destination type LOCAL both in PREROUTING (from outside and from
/// containers) and in OUTPUT (from the host itself, 127.0.0.1 included).
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

/// A network's rules: masquerade what leaves the subnet, and what the host
/// sends from 127.0.0.0/8 into the bridge (published ports on localhost);
/// forward everything from the bridge and the replies to it, but to another
/// pocky network unless through a published port (DNAT), as Docker keeps
/// its networks apart; and drop what a container addresses to 127.0.0.0/8:
/// `route_localnet`, which the localhost ports need, would otherwise let it
/// reach the host's loopback services (Kubernetes' CVE-2020-8558). The raw
/// table sees the packet before conntrack undoes the localhost ports' NAT,
/// so their replies, addressed to the gateway then, pass.
///
/// The rules added since the first release come last: a network whose
/// last rule is missing gets the missing ones appended, in order.
pub fn network_rules(bridge: &str, subnet: &Subnet) -> Vec<Rule> {
    // Tagged by bridge, which is unique on the host, rather than by network
    // name, which two state roots may both use ("bridge").
    let o = network_owner(bridge);
    vec![
        rule(
            "nat",
            POSTROUTING,
            format!("-s {subnet} ! -o {bridge} -j MASQUERADE"),
            &o,
        ),
        rule(
            "nat",
            POSTROUTING,
            format!("-s 127.0.0.0/8 -o {bridge} -j MASQUERADE"),
            &o,
        ),
        rule(
            "filter",
            FORWARD,
            format!("-o {bridge} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"),
            &o,
        ),
        rule("filter", FORWARD, format!("-i {bridge} -j ACCEPT"), &o),
        rule(
            "filter",
            ISOLATION,
            format!("-i {bridge} -o {bridge} -j RETURN"),
            &o,
        ),
        rule(
            "filter",
            ISOLATION,
            format!("-i {bridge} -o {BRIDGES} -m conntrack ! --ctstate DNAT -j DROP"),
            &o,
        ),
        rule(
            "raw",
            RAW,
            format!("-i {bridge} -d 127.0.0.0/8 -j DROP"),
            &o,
        ),
        // A member reaching a peer's (or its own) published port at a host
        // address: the DNATed packet goes back into the bridge, and the
        // peer's reply would go straight to the member, past the host
        // that must undo the NAT, unless br_netfilter happens to be loaded.
        // Masquerading it makes the reply come to the gateway.
        rule(
            "nat",
            POSTROUTING,
            format!("-s {subnet} -o {bridge} -m conntrack --ctstate DNAT -j MASQUERADE"),
            &o,
        ),
    ]
}

/// A container's rules, one set per published port: the DNAT, the forward
/// accept, and the masquerade that makes hairpin replies come back through
/// the host.
pub fn container_rules(id: &str, bridge: &str, addr: Ipv4Addr, ports: &[PortMapping]) -> Vec<Rule> {
    let o = container_owner(id);
    let mut out = Vec::new();
    for p in ports {
        let proto = p.proto.as_str();
        let dst = p
            .host_ip
            .map(|ip| format!("-d {ip}/32 "))
            .unwrap_or_default();
        out.push(rule(
            "nat",
            DNAT,
            format!(
                "{dst}-p {proto} -m {proto} --dport {} -j DNAT --to-destination {addr}:{}",
                p.host_port, p.container_port
            ),
            &o,
        ));
        out.push(rule(
            "filter",
            FORWARD,
            format!(
                "-d {addr}/32 -o {bridge} -p {proto} -m {proto} --dport {} -j ACCEPT",
                p.container_port
            ),
            &o,
        ));
        out.push(rule(
            "nat",
            POSTROUTING,
            format!(
                "-s {addr}/32 -d {addr}/32 -p {proto} -m {proto} --dport {} -j MASQUERADE",
                p.container_port
            ),
            &o,
        ));
    }
    out
}

/// The kernel's iptables, through the `iptables` crate.
pub struct Firewall {
    ipt: iptables::IPTables,
}

fn ipt_err(table: &str, chain: &str, rule: &str, e: impl std::fmt::Display) -> NetError {
    NetError::Iptables {
        table: table.to_owned(),
        chain: chain.to_owned(),
        rule: rule.to_owned(),
        why: e.to_string().trim().to_owned(),
    }
}

impl Firewall {
    pub fn new() -> Result<Self, NetError> {
        // Built directly: the crate's constructor runs `iptables --version`
        // (a process, ~7 ms) to learn about -C and -w, which every iptables
        // since 1.4.20 (2013) has.
        let ipt = iptables::IPTables {
            cmd: "iptables",
            has_check: true,
            has_wait: true,
            is_numeric: false,
        };
        Ok(Self { ipt })
    }

    /// Whether `chain` exists. The crate's own check runs `iptables -L`,
    /// which resolves every address of the chain's rules through DNS (and
    /// waits for timeouts where there is no resolver); `-S` does not.
    fn chain_exists(&self, table: &str, chain: &str) -> Result<bool, Box<dyn std::error::Error>> {
        Ok(self.ipt.list_chains(table)?.iter().any(|c| c == chain))
    }

    /// Creates pocky's chains and the jumps to them, when missing.
    pub fn ensure_base(&self) -> Result<(), NetError> {
        let _lock = base_lock()?;
        self.ensure_base_locked()
    }

    /// [`Self::ensure_base`] then [`Self::apply`], under one hold of the
    /// base lock, so no reset removes the chains in between.
    pub fn ensure_base_and_apply(&self, rules: &[Rule]) -> Result<(), NetError> {
        let _lock = base_lock()?;
        self.ensure_base_locked()?;
        self.apply_locked(rules)
    }

    fn ensure_base_locked(&self) -> Result<(), NetError> {
        for (table, chain) in CHAINS {
            let exists = self
                .chain_exists(table, chain)
                .map_err(|e| ipt_err(table, chain, "", e))?;
            if !exists {
                // A concurrent pocky may win the race: check again on error.
                if let Err(e) = self.ipt.new_chain(table, chain)
                    && !self.chain_exists(table, chain).unwrap_or(false)
                {
                    return Err(ipt_err(table, chain, "-N", e));
                }
            }
        }
        for (table, chain, r) in base_rules() {
            let there = self
                .ipt
                .exists(table, chain, &r)
                .map_err(|e| ipt_err(table, chain, &r, e))?;
            if !there {
                self.ipt
                    .insert(table, chain, &r, 1)
                    .map_err(|e| ipt_err(table, chain, &r, e))?;
            }
        }
        Ok(())
    }

    /// Appends the rules that are not there yet. When the last rule of the
    /// list is present, all are (they are appended in order), which saves
    /// an `iptables` run per rule on every container start.
    pub fn apply(&self, rules: &[Rule]) -> Result<(), NetError> {
        if let Some(last) = rules.last()
            && self.exists(last)?
        {
            return Ok(());
        }
        let _lock = base_lock()?;
        self.apply_locked(rules)
    }

    fn apply_locked(&self, rules: &[Rule]) -> Result<(), NetError> {
        for r in rules {
            if !self.exists(r)? {
                self.ipt
                    .append(r.table, r.chain, &r.rule)
                    .map_err(|e| ipt_err(r.table, r.chain, &r.rule, e))?;
            }
        }
        Ok(())
    }

    /// Whether the rule is in place.
    pub fn exists(&self, r: &Rule) -> Result<bool, NetError> {
        self.ipt
            .exists(r.table, r.chain, &r.rule)
            .map_err(|e| ipt_err(r.table, r.chain, &r.rule, e))
    }

    /// The rules in pocky's chains as `(table, chain, rule)`, rule without
    /// its `-A CHAIN` head.
    fn ours(&self) -> Result<Vec<(&'static str, &'static str, String)>, NetError> {
        let mut out = Vec::new();
        for (table, chain) in CHAINS {
            if !self.chain_exists(table, chain).unwrap_or(false) {
                continue;
            }
            let lines = self
                .ipt
                .list(table, chain)
                .map_err(|e| ipt_err(table, chain, "-S", e))?;
            let head = format!("-A {chain} ");
            for l in lines {
                if let Some(r) = l.strip_prefix(&head) {
                    // iptables -S quotes comments; the crate passes words
                    // through as they are, so the quotes must go for -D to
                    // match. pocky's comments hold no spaces.
                    out.push((table, chain, r.replace('"', "")));
                }
            }
        }
        Ok(out)
    }

    /// Deletes the given rules, one `iptables -D` each; rules already gone
    /// are skipped. Cheaper than [`Firewall::remove_owner`], which lists
    /// every chain first.
    pub fn remove(&self, rules: &[Rule]) -> Result<(), NetError> {
        let mut errors = Vec::new();
        for r in rules {
            if let Err(e) = self.ipt.delete(r.table, r.chain, &r.rule)
                && self.exists(r).unwrap_or(true)
            {
                errors.push(ipt_err(r.table, r.chain, &r.rule, e));
            }
        }
        NetError::collect(errors)
    }

    /// Removes every rule of `owner` from pocky's chains, going on past
    /// failures and reporting them together.
    pub fn remove_owner(&self, owner: &str) -> Result<(), NetError> {
        self.remove_where(&|o| o == owner)
    }

    /// Removes the rules whose owner tag matches `doomed`.
    pub fn remove_where(&self, doomed: &dyn Fn(&str) -> bool) -> Result<(), NetError> {
        let mut errors = Vec::new();
        for (table, chain, r) in self.ours()? {
            let Some(owner) = owner_of(&r) else { continue };
            if doomed(owner)
                && let Err(e) = self.ipt.delete(table, chain, &r)
            {
                errors.push(ipt_err(table, chain, &r, e));
            }
        }
        NetError::collect(errors)
    }

    /// Deletes pocky's chains and the jumps to them once no rule of any
    /// state root is left in them (`system reset`); false if some are.
    pub fn remove_base_if_unused(&self) -> Result<bool, NetError> {
        let _lock = base_lock()?;
        if !self.owners()?.is_empty() {
            return Ok(false);
        }
        let mut errors = Vec::new();
        for (table, chain, r) in base_rules() {
            if self.ipt.exists(table, chain, &r).unwrap_or(false)
                && let Err(e) = self.ipt.delete(table, chain, &r)
            {
                errors.push(ipt_err(table, chain, &r, e));
            }
        }
        for (table, chain) in CHAINS {
            if self.chain_exists(table, chain).unwrap_or(false)
                && let Err(e) = self
                    .ipt
                    .flush_chain(table, chain)
                    .and_then(|()| self.ipt.delete_chain(table, chain))
            {
                errors.push(ipt_err(table, chain, "-X", e));
            }
        }
        NetError::collect(errors).map(|()| true)
    }

    /// Every owner tag in pocky's chains.
    pub fn owners(&self) -> Result<Vec<String>, NetError> {
        let mut v: Vec<String> = self
            .ours()?
            .iter()
            .filter_map(|(_, _, r)| owner_of(r).map(str::to_owned))
            .collect();
        v.sort();
        v.dedup();
        Ok(v)
    }
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

    #[test]
    fn network_rules_masquerade_leaving_traffic_and_accept_the_bridge() {
        let s: Subnet = "10.88.0.0/16".parse().unwrap();
        let rules = network_rules("pocky0", &s);
        let text: Vec<String> = rules
            .iter()
            .map(|r| format!("{} {} {}", r.table, r.chain, r.rule))
            .collect();
        assert_eq!(
            text,
            [
                "nat POCKY-POSTROUTING -s 10.88.0.0/16 ! -o pocky0 -j MASQUERADE -m comment --comment pocky:net:pocky0",
                "nat POCKY-POSTROUTING -s 127.0.0.0/8 -o pocky0 -j MASQUERADE -m comment --comment pocky:net:pocky0",
                "filter POCKY-FORWARD -o pocky0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT -m comment --comment pocky:net:pocky0",
                "filter POCKY-FORWARD -i pocky0 -j ACCEPT -m comment --comment pocky:net:pocky0",
                "filter POCKY-ISOLATION -i pocky0 -o pocky0 -j RETURN -m comment --comment pocky:net:pocky0",
                "filter POCKY-ISOLATION -i pocky0 -o pocky+ -m conntrack ! --ctstate DNAT -j DROP -m comment --comment pocky:net:pocky0",
                "raw POCKY-PREROUTING -i pocky0 -d 127.0.0.0/8 -j DROP -m comment --comment pocky:net:pocky0",
                "nat POCKY-POSTROUTING -s 10.88.0.0/16 -o pocky0 -m conntrack --ctstate DNAT -j MASQUERADE -m comment --comment pocky:net:pocky0",
            ]
        );
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
