# shellcheck shell=bash
# ci/guest's kernel and images: downloaded or built once, kept in
# ci/cache/guest. Sourced by ci/guest, which sets GUEST_CACHE and GUEST_TMP.

# Debian's metapackage of its cloud kernel: it depends on the versioned
# package of the current kernel ABI, which holds the kernel and modules.
KERNEL_META=linux-image-cloud-amd64

# Prints the directory of the unpacked guest kernel (boot/vmlinuz-*,
# lib/modules/*/ with a modules.dep), downloading the newest candidate of
# KERNEL_META's versioned package when it is not cached yet. With no apt
# lists or no mirror to reach, the newest cached kernel is used.
kernel_fetch() {
    local pkg version key dir dl cached kver debs
    exec {klock}>"$GUEST_CACHE/.kernel.lock"
    flock "$klock"
    pkg=$(apt-cache depends "$KERNEL_META" 2>/dev/null |
        awk '$1 == "Depends:" && $2 ~ /^linux-image-/ {print $2; exit}' || true)
    version=
    [[ -n "$pkg" ]] && version=$(apt-cache policy "$pkg" 2>/dev/null |
        awk '$1 == "Candidate:" && $2 != "(none)" {print $2}' || true)
    if [[ -z "$version" ]]; then
        cached=$(find "$GUEST_CACHE/kernel" -mindepth 2 -maxdepth 2 -name .done \
            -printf '%T@ %h\n' 2>/dev/null | sort -rn | head -n1 | cut -d' ' -f2-)
        [[ -n "$cached" ]] ||
            die "apt knows no $KERNEL_META candidate and none is cached: run apt-get update"
        log "apt knows no $KERNEL_META candidate: using the cached $(basename "$cached")"
        exec {klock}>&-
        printf '%s\n' "$cached"
        return
    fi
    # An epoch's colon is no good in a path.
    key="${pkg}_${version//:/%3a}"
    dir="$GUEST_CACHE/kernel/$key"
    if [[ ! -f "$dir/.done" ]]; then
        log "downloading $KERNEL_META ($pkg $version)"
        dl="$GUEST_TMP/kernel-download"
        mkdir -p "$dl"
        # apt drops root for downloads; let its user write here.
        chown _apt "$dl" 2>/dev/null || true
        (cd "$dl" && quiet apt-get download "$KERNEL_META" "$pkg=$version")
        rm -rf "$dir.new"
        mkdir -p "$dir.new"
        debs=("$dl/${pkg}"_*.deb)
        dpkg-deb -x "${debs[0]}" "$dir.new"
        kver=$(basename "$(find "$dir.new/lib/modules" -mindepth 1 -maxdepth 1 -type d)")
        # The package leaves modules.dep to the depmod of the machine it is
        # installed on; busybox's depmod writes one into the unpacked tree.
        busybox depmod -b "$dir.new" "$kver"
        touch "$dir.new/.done"
        rm -rf "$dir"
        mv "$dir.new" "$dir"
        # Older kernels go: the cache holds the one CI boots.
        find "$GUEST_CACHE/kernel" -mindepth 1 -maxdepth 1 -type d ! -name "$key" \
            -exec rm -rf {} +
    fi
    exec {klock}>&-
    printf '%s\n' "$dir"
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
