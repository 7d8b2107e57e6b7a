# shellcheck shell=bash
# ci/guest's kernel and images: downloaded or built once, kept in
# ci/cache/guest. Sourced by ci/guest, which sets GUEST_CACHE and GUEST_TMP.

# Debian's metapackage of its cloud kernel: it depends on the versioned
# package of the current kernel ABI, which holds the kernel and modules.
KERNEL_META=linux-image-cloud-amd64

# Prints "PACKAGE VERSION" of the kernel apt would install now: the
# versioned package KERNEL_META depends on, and its candidate.
kernel_candidate() {
    local pkg version
    pkg=$(apt-cache depends "$KERNEL_META" 2>/dev/null |
        awk '$1 == "Depends:" && $2 ~ /^linux-image-/ {print $2; exit}')
    [[ -n "$pkg" ]] || return 1
    version=$(apt-cache policy "$pkg" 2>/dev/null |
        awk '$1 == "Candidate:" && $2 != "(none)" {print $2}')
    [[ -n "$version" ]] || return 1
    printf '%s %s\n' "$pkg" "$version"
}

# kernel_get PACKAGE VERSION: prints the directory of that kernel unpacked
# (boot/vmlinuz-*, lib/modules/*/ with a modules.dep), downloading it
# unless cached. Fails (without dying) when the download fails. Called in
# `||` lists, where set -e does not hold: every step checks its status.
kernel_get() {
    local pkg=$1 version=$2 key dir dl kver debs
    # An epoch's colon is no good in a path.
    key="${pkg}_${version//:/%3a}"
    dir="$GUEST_CACHE/kernel/$key"
    if [[ ! -f "$dir/.done" ]]; then
        log "downloading $pkg $version"
        dl="$GUEST_TMP/kernel-download"
        rm -rf "$dl" "$dir.new"
        mkdir -p "$dl" "$dir.new" || return 1
        # apt drops root for downloads; let its user write here.
        chown _apt "$dl" 2>/dev/null || true
        (cd "$dl" && quiet apt-get download "$pkg=$version") || return 1
        debs=("$dl/${pkg}"_*.deb)
        dpkg-deb -x "${debs[0]}" "$dir.new" || return 1
        kver=$(basename "$(find "$dir.new/lib/modules" -mindepth 1 -maxdepth 1 -type d)")
        # The package leaves modules.dep to the depmod of the machine it is
        # installed on; busybox's depmod writes one into the unpacked tree.
        busybox depmod -b "$dir.new" "$kver" || return 1
        touch "$dir.new/.done" || return 1
        rm -rf "$dir"
        mv "$dir.new" "$dir" || return 1
        # Older kernels go: the cache holds the one CI boots.
        find "$GUEST_CACHE/kernel" -mindepth 1 -maxdepth 1 -type d ! -name "$key" \
            -exec rm -rf {} +
    fi
    printf '%s\n' "$dir"
}

# Prints the directory of the guest kernel: the current candidate of
# KERNEL_META. Stale apt lists (a security update takes the old version
# off the mirror) get one `apt-get update`; with no mirror to reach, the
# kernel cached last is used.
kernel_fetch() {
    local c cached
    exec {klock}>"$GUEST_CACHE/.kernel.lock"
    flock "$klock"
    # shellcheck disable=SC2086 # "PACKAGE VERSION", two words
    if ! { c=$(kernel_candidate) && kernel_get $c; }; then
        log "refreshing apt's package lists"
        quiet apt-get update || true
        # shellcheck disable=SC2086
        if ! { c=$(kernel_candidate) && kernel_get $c; }; then
            cached=$(find "$GUEST_CACHE/kernel" -mindepth 2 -maxdepth 2 -name .done \
                -printf '%h\n' 2>/dev/null | head -n1)
            [[ -n "$cached" ]] || die "cannot download $KERNEL_META, and none is cached"
            log "cannot download $KERNEL_META: using the cached $(basename "$cached")"
            printf '%s\n' "$cached"
        fi
    fi
    exec {klock}>&-
}

# The images the guest tests use, as docker-archive tars that `pocky load`
# reads in the guest: made by skopeo from the fixtures' OCI layout (no
# pocky code), once per fixture build. Prints their directory.
GUEST_IMAGE_NAMES=(busybox layered)
images_build() {
    local stamp dir img
    stamp=$(cat "$CACHE_DIR/fixtures.stamp")
    dir="$GUEST_CACHE/images"
    exec {ilock}>"$GUEST_CACHE/.images.lock"
    flock "$ilock"
    if [[ ! -f "$dir/stamp" || "$(cat "$dir/stamp")" != "$stamp" ]]; then
        rm -rf "$dir"
        mkdir -p "$dir"
        for img in "${GUEST_IMAGE_NAMES[@]}"; do
            # In a mount namespace of its own with a tmpfs over
            # /var/lib/containers, as in ci/sandbox: skopeo's blob cache
            # there stays out of the host's state.
            # shellcheck disable=SC2016 # expanded by the inner bash
            quiet unshare --mount --propagation private -- bash -c '
                [[ -d /var/lib/containers ]] && mount -t tmpfs -o mode=0700 guest /var/lib/containers
                exec skopeo copy --quiet "oci:$1:$2" "docker-archive:$3/$2.tar:$2:latest"
            ' _ "$CACHE_DIR/oci" "$img" "$dir"
        done
        printf '%s\n' "$stamp" >"$dir/stamp"
    fi
    exec {ilock}>&-
    printf '%s\n' "$dir"
}
