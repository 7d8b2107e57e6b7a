//! The spec's `linux.seccomp` compiled to BPF with `seccompiler`.
//!
//! A seccompiler filter has one action for matches and one for the rest,
//! while a profile may use several (ALLOW for most, ERRNO(ENOSYS) for
//! `clone3`). The profile becomes a stack of filters: first "every syscall
//! some rule names is allowed, the rest gets the default action", then one
//! filter per other action ("these get ACTION, the rest is allowed"). The
//! kernel runs them all and keeps the most severe answer, so a syscall
//! gets the action of its rule, or the default when no rule names it.

use std::collections::BTreeMap;
use std::str::FromStr;

use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompOperator};
pub use seccompiler::BpfProgram;
use seccompiler::{
    SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule,
    TargetArch,
};

use super::security_error;
use crate::RuntimeError;

/// Rules of one syscall: `None` matches every call.
type Chain = Option<Vec<SeccompRule>>;

fn err(reason: impl ToString) -> RuntimeError {
    security_error("seccomp filter", reason)
}

fn action(a: LinuxSeccompAction, errno: Option<u32>) -> Result<SeccompAction, RuntimeError> {
    let errno = errno.unwrap_or(libc::EPERM as u32);
    Ok(match a {
        LinuxSeccompAction::ScmpActAllow => SeccompAction::Allow,
        LinuxSeccompAction::ScmpActErrno => SeccompAction::Errno(errno),
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            SeccompAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => SeccompAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => SeccompAction::Trap,
        LinuxSeccompAction::ScmpActTrace => SeccompAction::Trace(errno),
        LinuxSeccompAction::ScmpActLog => SeccompAction::Log,
        LinuxSeccompAction::ScmpActNotify => {
            return Err(err("SCMP_ACT_NOTIFY is not supported"));
        }
    })
}

fn condition(a: &LinuxSeccompArg) -> Result<SeccompCondition, RuntimeError> {
    let index = u8::try_from(a.index())
        .ok()
        .filter(|i| *i < 6)
        .ok_or_else(|| err(format!("argument index {} (0 to 5)", a.index())))?;
    let (op, value) = match a.op() {
        LinuxSeccompOperator::ScmpCmpNe => (SeccompCmpOp::Ne, a.value()),
        LinuxSeccompOperator::ScmpCmpLt => (SeccompCmpOp::Lt, a.value()),
        LinuxSeccompOperator::ScmpCmpLe => (SeccompCmpOp::Le, a.value()),
        LinuxSeccompOperator::ScmpCmpEq => (SeccompCmpOp::Eq, a.value()),
        LinuxSeccompOperator::ScmpCmpGe => (SeccompCmpOp::Ge, a.value()),
        LinuxSeccompOperator::ScmpCmpGt => (SeccompCmpOp::Gt, a.value()),
        // libseccomp's order: value is the mask, valueTwo the expected bits.
        LinuxSeccompOperator::ScmpCmpMaskedEq => (
            SeccompCmpOp::MaskedEq(a.value()),
            a.value_two().unwrap_or(0),
        ),
    };
    SeccompCondition::new(index, SeccompCmpArgLen::Qword, op, value).map_err(err)
}

/// runc's reading of `args`: conditions on distinct arguments must all
/// hold; several conditions on the same argument are alternatives.
fn chain_of(args: Option<&Vec<LinuxSeccompArg>>) -> Result<Chain, RuntimeError> {
    let Some(args) = args.filter(|a| !a.is_empty()) else {
        return Ok(None);
    };
    let mut seen = std::collections::HashSet::new();
    let repeated = args.iter().any(|a| !seen.insert(a.index()));
    let rules = if repeated {
        args.iter()
            .map(|a| SeccompRule::new(vec![condition(a)?]).map_err(err))
            .collect::<Result<Vec<_>, _>>()?
    } else {
        let conds = args.iter().map(condition).collect::<Result<Vec<_>, _>>()?;
        vec![SeccompRule::new(conds).map_err(err)?]
    };
    Ok(Some(rules))
}

fn merge(into: &mut BTreeMap<i64, Chain>, nr: i64, chain: &Chain) {
    match into.get_mut(&nr) {
        None => {
            into.insert(nr, chain.clone());
        }
        Some(None) => {}
        Some(Some(existing)) => match chain {
            None => {
                into.insert(nr, None);
            }
            Some(more) => existing.extend(more.iter().cloned()),
        },
    }
}

/// The syscall's number on this architecture; None for names it lacks.
pub fn number(name: &str) -> Option<i64> {
    syscalls::Sysno::from_str(name)
        .ok()
        .map(|s| i64::from(s.id()))
}

fn build(
    chains: BTreeMap<i64, Chain>,
    mismatch: SeccompAction,
    matched: SeccompAction,
    arch: TargetArch,
) -> Result<BpfProgram, RuntimeError> {
    let rules = chains
        .into_iter()
        .map(|(nr, c)| (nr, c.unwrap_or_default()))
        .collect();
    let filter = SeccompFilter::new(rules, mismatch, matched, arch).map_err(err)?;
    BpfProgram::try_from(filter).map_err(err)
}

/// Compiles the spec's seccomp section into filters to load in order.
pub fn compile(s: &LinuxSeccomp) -> Result<Vec<BpfProgram>, RuntimeError> {
    if let Some(flag) = s.flags().iter().flatten().next() {
        let name = serde_json::to_string(flag).unwrap_or_else(|_| format!("{flag:?}"));
        return Err(err(format!(
            "seccomp flag {name} is not supported: remove linux.seccomp.flags"
        )));
    }
    if s.listener_path().is_some() {
        return Err(err(
            "seccomp listenerPath (SCMP_ACT_NOTIFY) is not supported",
        ));
    }
    let arch = TargetArch::try_from(std::env::consts::ARCH).map_err(err)?;
    let default = action(s.default_action(), s.default_errno_ret())?;
    let mut named: BTreeMap<i64, Chain> = BTreeMap::new();
    let mut groups: Vec<(SeccompAction, BTreeMap<i64, Chain>)> = Vec::new();
    for sc in s.syscalls().iter().flatten() {
        let act = action(sc.action(), sc.errno_ret())?;
        if act == default {
            continue;
        }
        let chain = chain_of(sc.args().as_ref())?;
        let group = match groups.iter().position(|(a, _)| *a == act) {
            Some(i) => &mut groups[i].1,
            None => {
                groups.push((act.clone(), BTreeMap::new()));
                &mut groups.last_mut().ok_or_else(|| err("no group"))?.1
            }
        };
        for nr in sc.names().iter().filter_map(|n| number(n)) {
            merge(&mut named, nr, &chain);
            merge(group, nr, &chain);
        }
    }
    let mut filters = Vec::new();
    if default != SeccompAction::Allow {
        filters.push(build(named, default, SeccompAction::Allow, arch)?);
    }
    for (act, chains) in groups {
        if act != SeccompAction::Allow && !chains.is_empty() {
            filters.push(build(chains, SeccompAction::Allow, act, arch)?);
        }
    }
    Ok(filters)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::seccomp::{SeccompChoice, for_spec};

    #[test]
    fn default_profile_compiles_to_two_filters() {
        let spec = for_spec(
            &SeccompChoice::Default,
            &crate::security::caps::default_capabilities(),
        )
        .unwrap()
        .unwrap();
        let filters = compile(&spec).unwrap();
        assert_eq!(filters.len(), 2, "allow-list, then clone3's ENOSYS");
        assert!(filters[0].len() > 300);
        assert!(number("mount").is_some());
        assert!(number("no_such_call").is_none());
    }

    #[test]
    fn same_argument_twice_means_either() {
        use crate::security::seccomp::default::arg;
        let eq = LinuxSeccompOperator::ScmpCmpEq;
        let a = arg(0, eq, 1).unwrap();
        let b = arg(0, eq, 2).unwrap();
        assert_eq!(chain_of(Some(&vec![a, b])).unwrap().unwrap().len(), 2);
        let b = arg(1, eq, 2).unwrap();
        assert_eq!(chain_of(Some(&vec![a, b])).unwrap().unwrap().len(), 1);
        assert!(chain_of(Some(&vec![])).unwrap().is_none());
        let bad = arg(6, eq, 0).unwrap();
        assert!(chain_of(Some(&vec![bad])).is_err());
    }

    #[test]
    fn allow_by_default_needs_no_main_filter() {
        let p = crate::security::seccomp::Profile::parse(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
                {"names":["mount","umount2"],"action":"SCMP_ACT_ERRNO"},
                {"names":["keyctl"],"action":"SCMP_ACT_KILL_PROCESS"}]}"#,
        )
        .unwrap();
        let spec = p
            .resolve(
                &Default::default(),
                &crate::security::seccomp::profile::Host::current(),
            )
            .unwrap();
        assert_eq!(compile(&spec).unwrap().len(), 2);
        let notify =
            crate::security::seccomp::Profile::parse(r#"{"defaultAction":"SCMP_ACT_NOTIFY"}"#)
                .unwrap()
                .resolve(
                    &Default::default(),
                    &crate::security::seccomp::profile::Host::current(),
                )
                .unwrap();
        assert!(compile(&notify).is_err());
    }

    #[test]
    fn flags_and_listeners_are_refused_not_ignored() {
        let spec: LinuxSeccomp = serde_json::from_str(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_LOG"]}"#,
        )
        .unwrap();
        let e = compile(&spec).unwrap_err().to_string();
        assert!(e.contains("SECCOMP_FILTER_FLAG_LOG"), "{e}");
        let spec: LinuxSeccomp = serde_json::from_str(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/run/l.sock"}"#,
        )
        .unwrap();
        assert!(compile(&spec).is_err());
        let spec: LinuxSeccomp =
            serde_json::from_str(r#"{"defaultAction":"SCMP_ACT_ALLOW"}"#).unwrap();
        assert!(compile(&spec).unwrap().is_empty());
    }
}
