//! Whether pocky runs in a user namespace (rootless, or a container of
//! its own): overlayfs then keeps its bookkeeping in `user.overlay.*`
//! xattrs (the `userxattr` mount option), since `trusted.*` needs
//! CAP_SYS_ADMIN in the initial namespace.

/// True in the initial user namespace, whose `uid_map` maps every id to
/// itself. Read each time: a rootless pocky joins its namespace after
/// start.
pub fn in_initial_userns() -> bool {
    std::fs::read_to_string("/proc/self/uid_map")
        .is_ok_and(|m| m.split_whitespace().collect::<Vec<_>>() == ["0", "0", "4294967295"])
}
