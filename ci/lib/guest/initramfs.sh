# shellcheck shell=bash
# ci/guest's initramfs: a root tree assembled from this host's binaries and
# the guest kernel's modules, written as an uncompressed newc cpio (the
# kernel unpacks it faster than it would decompress it under TCG).
# Sourced by ci/guest, which sets GUEST_LIB, GUEST_BIN (pocky's binaries),
# GUEST_KERNEL (the unpacked kernel package), GUEST_KVER, GUEST_IMAGES
# (the images' tars) and GUEST_TMP.

# The modules the tests need, by name; their dependencies come from
# modules.dep. Netfilter: iptables-nft (Debian 12's iptables) turns some
# matches into native nft expressions and passes the rest to the xt
# modules through nft_compat, so both kinds are here.
GUEST_MODULES=(overlay bridge veth loop erofs
    nf_tables nft_compat nft_chain_nat nft_ct nft_nat nft_masq
    nf_nat nf_conntrack xt_comment xt_addrtype xt_conntrack xt_MASQUERADE
    xt_nat xt_tcpudp)

# Copies FILE to the same path under ROOT, following links.
stage_file() {
    local root=$1 file=$2
    mkdir -p "$root$(dirname "$file")"
    cp -L --preserve=mode "$file" "$root$file"
}

# Copies the shared libraries ELF needs (and the dynamic loader) into ROOT.
stage_libs() {
    local root=$1 elf=$2 lib
    # ldd fails on static binaries; those need nothing.
    while read -r lib; do
        [[ -e "$root$lib" ]] || stage_file "$root" "$lib"
    done < <(ldd "$elf" 2>/dev/null | awk '{for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i}')
}

# Copies the modules in GUEST_MODULES and their dependencies into ROOT and
# writes lib/modules/KVER/guest.load: their paths in an order insmod can
# follow (every module after the ones it needs).
stage_modules() {
    local root=$1 mods="$GUEST_KERNEL/lib/modules/$GUEST_KVER" line path name m
    declare -A by_name deps seen
    while IFS= read -r line; do
        path=${line%%:*}
        name=$(basename "$path" .ko)
        by_name[${name//-/_}]=$path
        deps[$path]=${line#*:}
    done <"$mods/modules.dep"
    order=()
    visit() {
        local p=$1 d
        [[ -n "${seen[$p]:-}" ]] && return
        seen[$p]=1
        for d in ${deps[$p]}; do visit "$d"; done
        order+=("$p")
    }
    for m in "${GUEST_MODULES[@]}"; do
        path=${by_name[${m//-/_}]:-}
        if [[ -z "$path" ]]; then
            # Built into this kernel rather than a module: nothing to load.
            grep -q "/${m}.ko$" "$mods/modules.builtin" ||
                die "guest kernel $GUEST_KVER has no module $m"
            continue
        fi
        visit "$path"
    done
    for path in "${order[@]}"; do
        mkdir -p "$root/lib/modules/$GUEST_KVER/$(dirname "$path")"
        cp "$mods/$path" "$root/lib/modules/$GUEST_KVER/$path"
    done
    printf '%s\n' "${order[@]}" >"$root/lib/modules/$GUEST_KVER/guest.load"
}

# Writes the OCI bundles of the runtime tests under ROOT/guest/bundles:
# pocky-runtime's own default spec with the settings each test needs. The
# rootfs (shared, read-only) is a few busybox applets.
stage_bundles() {
    local root=$1 a
    local b="$root/guest/bundles"
    mkdir -p "$b/rootfs/bin" "$b/rootfs/proc" "$b/rootfs/sys" "$b/rootfs/dev" "$b/rootfs/tmp"
    cp /bin/busybox "$b/rootfs/bin/"
    for a in sh cat echo sleep head tail ls grep tr true; do
        ln -s busybox "$b/rootfs/bin/$a"
    done
    mkdir -p "$GUEST_TMP/spec"
    "$GUEST_BIN/pocky-runtime" spec --bundle "$GUEST_TMP/spec"
    python3 "$GUEST_LIB/bundles.py" "$GUEST_TMP/spec/config.json" "$b"
}

initramfs_build() {
    local root=$1 out=$2 f a x
    mkdir -p "$root"/{bin,usr/lib64,usr/sbin,usr/local/bin,etc,proc,sys,dev,run,newroot,images,guest}
    mkdir -p "$root/usr/lib/x86_64-linux-gnu"
    # Debian 12's merged /usr, so ldd's /lib paths land in usr/lib.
    ln -s usr/lib "$root/lib"
    ln -s usr/lib64 "$root/lib64"
    mkdir -m 1777 "$root/tmp"

    cp /bin/busybox "$root/bin/"
    for a in $(busybox --list); do
        [[ -e "$root/bin/$a" ]] || ln -s busybox "$root/bin/$a"
    done

    # Debug builds, as ci/test runs them, without their debug info: a
    # third of the size, which the guest keeps in RAM.
    for f in pocky pocky-runtime; do
        objcopy --strip-debug "$GUEST_BIN/$f" "$root/usr/local/bin/$f"
        stage_libs "$root" "$root/usr/local/bin/$f"
    done

    # iptables as Debian 12 sets it up (the nft variant), and its extensions,
    # which it loads with dlopen (so ldd cannot name them).
    stage_file "$root" /usr/sbin/xtables-nft-multi
    stage_libs "$root" /usr/sbin/xtables-nft-multi
    for a in iptables iptables-save iptables-restore iptables-nft; do
        ln -s xtables-nft-multi "$root/usr/sbin/$a"
    done
    x=$(dirname "$(find /usr/lib -path '*/xtables/libxt_comment.so' -print -quit)")
    [[ "$x" == /* ]] || die "iptables extensions not found (libxt_comment.so)"
    mkdir -p "$root$x"
    cp -a "$x/." "$root$x/"
    for f in "$root$x"/*.so; do stage_libs "$root" "$f"; done

    stage_modules "$root"
    stage_bundles "$root"

    cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
guest:x:1000:1000:rootless test user:/home/guest:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
    cat >"$root/etc/group" <<'EOF'
root:x:0:
guest:x:1000:
nogroup:x:65534:
EOF
    # The ranges a rootless pocky maps with newuidmap/newgidmap.
    echo "guest:100000:65536" >"$root/etc/subuid"
    echo "guest:100000:65536" >"$root/etc/subgid"
    printf '127.0.0.1 localhost\n::1 localhost\n' >"$root/etc/hosts"
    # No resolver in the guest: containers get this file's copy, and
    # nothing in the tests resolves a name through DNS.
    echo "nameserver 127.0.0.1" >"$root/etc/resolv.conf"
    for f in /etc/protocols /etc/services; do
        [[ -f "$f" ]] && cp "$f" "$root$f"
    done
    # The setuid helpers of rootless mode, when this host has them.
    for f in /usr/bin/newuidmap /usr/bin/newgidmap; do
        if [[ -x "$f" ]]; then
            stage_file "$root" "$f"
            chmod 4755 "$root$f"
            stage_libs "$root" "$f"
        fi
    done

    cp "$GUEST_IMAGES"/*.tar "$root/images/"
    cp "$GUEST_LIB/vm/init" "$root/init"
    cp "$GUEST_LIB"/vm/* "$root/guest/"
    rm "$root/guest/init"

    (cd "$root" && find . -print0 | cpio --null -o -H newc --quiet) >"$out"
    log "initramfs: $(du -m "$out" | cut -f1) MiB"
}
