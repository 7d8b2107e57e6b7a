//! fstab-style mount options split into `mount(2)` flags, propagation and
//! filesystem data, as runc reads an OCI spec's `mounts[].options`.

use nix::mount::MsFlags;

/// The options of one spec mount, sorted by how the kernel takes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MountOptions {
    /// Flags for the mount call itself (and for a bind's remount).
    pub flags: MsFlags,
    /// `bind` or `rbind` was given (`MS_BIND`, plus `MS_REC` for rbind).
    pub bind: bool,
    /// Propagation changes applied after the mount (`rprivate`, `shared`...).
    pub propagation: Vec<MsFlags>,
    /// Everything else, comma-joined, as the filesystem's data string.
    pub data: String,
}

impl MountOptions {
    pub(crate) fn parse(options: &[String]) -> Self {
        let mut out = Self {
            flags: MsFlags::empty(),
            bind: false,
            propagation: Vec::new(),
            data: String::new(),
        };
        let mut data: Vec<&str> = Vec::new();
        for option in options {
            let option = option.as_str();
            if let Some((set, flag)) = flag_of(option) {
                if set {
                    out.flags.insert(flag);
                } else {
                    out.flags.remove(flag);
                }
            } else if let Some(p) = propagation_of(option) {
                out.propagation.push(p);
            } else if option == "bind" {
                out.bind = true;
                out.flags.insert(MsFlags::MS_BIND);
            } else if option == "rbind" {
                out.bind = true;
                out.flags.insert(MsFlags::MS_BIND | MsFlags::MS_REC);
            } else if option != "defaults" && !option.is_empty() {
                data.push(option);
            }
        }
        out.data = data.join(",");
        out
    }

    /// The per-mount flags a bind mount only gets through a remount.
    pub(crate) fn bind_remount_flags(&self) -> MsFlags {
        self.flags
            & (MsFlags::MS_RDONLY
                | MsFlags::MS_NOSUID
                | MsFlags::MS_NODEV
                | MsFlags::MS_NOEXEC
                | MsFlags::MS_NOATIME
                | MsFlags::MS_NODIRATIME
                | MsFlags::MS_RELATIME
                | MsFlags::MS_STRICTATIME)
    }
}

/// Flag options: (true, f) sets f, (false, f) clears it.
fn flag_of(option: &str) -> Option<(bool, MsFlags)> {
    Some(match option {
        "ro" => (true, MsFlags::MS_RDONLY),
        "rw" => (false, MsFlags::MS_RDONLY),
        "nosuid" => (true, MsFlags::MS_NOSUID),
        "suid" => (false, MsFlags::MS_NOSUID),
        "nodev" => (true, MsFlags::MS_NODEV),
        "dev" => (false, MsFlags::MS_NODEV),
        "noexec" => (true, MsFlags::MS_NOEXEC),
        "exec" => (false, MsFlags::MS_NOEXEC),
        "sync" => (true, MsFlags::MS_SYNCHRONOUS),
        "async" => (false, MsFlags::MS_SYNCHRONOUS),
        "dirsync" => (true, MsFlags::MS_DIRSYNC),
        "mand" => (true, MsFlags::MS_MANDLOCK),
        "nomand" => (false, MsFlags::MS_MANDLOCK),
        "noatime" => (true, MsFlags::MS_NOATIME),
        "atime" => (false, MsFlags::MS_NOATIME),
        "nodiratime" => (true, MsFlags::MS_NODIRATIME),
        "diratime" => (false, MsFlags::MS_NODIRATIME),
        "relatime" => (true, MsFlags::MS_RELATIME),
        "norelatime" => (false, MsFlags::MS_RELATIME),
        "strictatime" => (true, MsFlags::MS_STRICTATIME),
        "nostrictatime" => (false, MsFlags::MS_STRICTATIME),
        "silent" => (true, MsFlags::MS_SILENT),
        "loud" => (false, MsFlags::MS_SILENT),
        _ => return None,
    })
}

pub(crate) fn propagation_of(option: &str) -> Option<MsFlags> {
    let rec = MsFlags::MS_REC;
    Some(match option {
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | rec,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | rec,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | rec,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | rec,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(options: &[&str]) -> MountOptions {
        let owned: Vec<String> = options.iter().map(|s| (*s).to_owned()).collect();
        MountOptions::parse(&owned)
    }

    #[test]
    fn devpts_options_split_into_flags_and_data() {
        let o = parse(&[
            "nosuid",
            "noexec",
            "newinstance",
            "ptmxmode=0666",
            "mode=0620",
            "gid=5",
        ]);
        assert_eq!(o.flags, MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC);
        assert_eq!(o.data, "newinstance,ptmxmode=0666,mode=0620,gid=5");
        assert!(!o.bind);
    }

    #[test]
    fn rbind_ro_is_a_recursive_bind_with_a_readonly_remount() {
        let o = parse(&["rbind", "ro", "rprivate", "nodev"]);
        assert!(o.bind);
        assert!(o.flags.contains(MsFlags::MS_BIND | MsFlags::MS_REC));
        assert_eq!(
            o.bind_remount_flags(),
            MsFlags::MS_RDONLY | MsFlags::MS_NODEV
        );
        assert_eq!(o.propagation, vec![MsFlags::MS_PRIVATE | MsFlags::MS_REC]);
        assert_eq!(o.data, "");
    }

    #[test]
    fn later_options_override_earlier_ones() {
        let o = parse(&["ro", "rw", "defaults", "size=64m"]);
        assert!(!o.flags.contains(MsFlags::MS_RDONLY));
        assert_eq!(o.data, "size=64m");
    }
}
