//! [`Firewall`] applies the rule lists of [`crate::rules`] idempotently in
//! pocky's own chains with the `iptables` crate, through `iptables` for
//! IPv4 and `ip6tables` for IPv6. Every rule carries a comment
//! `pocky:<owner>` (`base`, `net:<name>`, `ctr:<container id>`), so teardown
//! and prune remove exactly the rules of one owner, whatever else changed.

use crate::NetError;
use crate::firewall_lock::base_lock;
pub use crate::rules::*;

/// The kernel's iptables, through the `iptables` crate.
pub struct Firewall {
    ipt: iptables::IPTables,
}

fn ipt_err(
    cmd: &'static str,
    table: &str,
    chain: &str,
    rule: &str,
    e: impl std::fmt::Display,
) -> NetError {
    NetError::Iptables {
        cmd,
        table: table.to_owned(),
        chain: chain.to_owned(),
        rule: rule.to_owned(),
        why: e.to_string().trim().to_owned(),
    }
}

impl Firewall {
    /// IPv4's.
    pub fn new() -> Result<Self, NetError> {
        Self::of(Family::V4)
    }

    /// The firewall of `family`: `iptables` or `ip6tables`.
    pub fn of(family: Family) -> Result<Self, NetError> {
        // Built directly: the crate's constructor runs `iptables --version`
        // (a process, ~7 ms) to learn about -C and -w, which every iptables
        // since 1.4.20 (2013) has.
        let ipt = iptables::IPTables {
            cmd: family.command(),
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
                .map_err(|e| ipt_err(self.ipt.cmd, table, chain, "", e))?;
            if !exists {
                // A concurrent pocky may win the race: check again on error.
                if let Err(e) = self.ipt.new_chain(table, chain)
                    && !self.chain_exists(table, chain).unwrap_or(false)
                {
                    return Err(ipt_err(self.ipt.cmd, table, chain, "-N", e));
                }
            }
        }
        for (table, chain, r) in base_rules() {
            let there = self
                .ipt
                .exists(table, chain, &r)
                .map_err(|e| ipt_err(self.ipt.cmd, table, chain, &r, e))?;
            if !there {
                self.ipt
                    .insert(table, chain, &r, 1)
                    .map_err(|e| ipt_err(self.ipt.cmd, table, chain, &r, e))?;
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
                    .map_err(|e| ipt_err(self.ipt.cmd, r.table, r.chain, &r.rule, e))?;
            }
        }
        Ok(())
    }

    /// Whether the rule is in place.
    pub fn exists(&self, r: &Rule) -> Result<bool, NetError> {
        self.ipt
            .exists(r.table, r.chain, &r.rule)
            .map_err(|e| ipt_err(self.ipt.cmd, r.table, r.chain, &r.rule, e))
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
                .map_err(|e| ipt_err(self.ipt.cmd, table, chain, "-S", e))?;
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
                errors.push(ipt_err(self.ipt.cmd, r.table, r.chain, &r.rule, e));
            }
        }
        NetError::collect(errors)
    }

    /// Removes every rule of `owner` from pocky's chains, going on past
    /// failures and reporting them together.
    pub fn remove_owner(&self, owner: &str) -> Result<(), NetError> {
        self.remove_where(&|o| o == owner)
    }

    /// Removes the rules whose owner tag matches `doomed`. A rule gone
    /// between the listing and its delete (another root's teardown of a
    /// bridge of the same name, in the same namespace) is no error.
    pub fn remove_where(&self, doomed: &dyn Fn(&str) -> bool) -> Result<(), NetError> {
        let mut errors = Vec::new();
        for (table, chain, r) in self.ours()? {
            let Some(owner) = owner_of(&r) else { continue };
            if doomed(owner)
                && let Err(e) = self.ipt.delete(table, chain, &r)
                && self.ipt.exists(table, chain, &r).unwrap_or(true)
            {
                errors.push(ipt_err(self.ipt.cmd, table, chain, &r, e));
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
                errors.push(ipt_err(self.ipt.cmd, table, chain, &r, e));
            }
        }
        for (table, chain) in CHAINS {
            if self.chain_exists(table, chain).unwrap_or(false)
                && let Err(e) = self
                    .ipt
                    .flush_chain(table, chain)
                    .and_then(|()| self.ipt.delete_chain(table, chain))
            {
                errors.push(ipt_err(self.ipt.cmd, table, chain, "-X", e));
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

/// Both families' firewalls, for what is done to each alike.
pub fn both() -> Result<[Firewall; 2], NetError> {
    Ok([Firewall::of(Family::V4)?, Firewall::of(Family::V6)?])
}
