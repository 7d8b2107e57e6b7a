# shellcheck shell=sh
# The layer store on a kernel that has EROFS (a module, loaded) but cannot
# mount an EROFS *file* (file-backed mounts came in 6.12). Sourced by
# run-test.

t_store_directory() {
    # Whiteouts and opaque directories, stacked by overlayfs from
    # unpacked layer directories.
    out=$(pocky run --rm layered sh -c 'test ! -e /etc/motd && ls /opt/data')
    eq "$out" c "layered's /opt/data"
    n=$(find "$POCKY_ROOT/layers" -mindepth 2 -maxdepth 2 -name diff -type d | wc -l)
    [ "$n" -ge 3 ] || fail "want unpacked layer directories, found $n: $(find "$POCKY_ROOT/layers" -maxdepth 2)"
}

# PENDING until the EROFS layer store (branch erofs) merges; then remove
# store-erofs from ci/guest's PENDING. The two lines marked ADJUST follow
# that branch as of its commit 1077406 (`system info`'s "Storage Driver:"
# line, the global --storage-driver flag).
t_store_erofs() {
    grep -qw erofs /proc/filesystems || fail "the guest kernel should have EROFS loaded"
    root=/var/lib/pocky-erofs
    # A fresh store detects what the kernel can mount once, at creation.
    pocky --root "$root" load -i /images/busybox.tar >/dev/null
    eq "$(pocky --root "$root" run --rm --network none "$IMG" echo fallback)" fallback
    # ADJUST: how `pocky system info` names the driver in use.
    has "$(pocky --root "$root" system info)" "Storage Driver: overlay" "system info"
    if find "$root" -name '*.erofs' | grep -q .; then
        fail "EROFS image files written on a kernel that cannot mount them"
    fi
    # Asked for by name, EROFS fails clearly instead of falling back.
    # ADJUST: the flag's name and place.
    exits 125 pocky --root /var/lib/pocky-erofs2 --storage-driver erofs load -i /images/busybox.tar
    has "$out" "erofs"
    pocky --root "$root" system reset --force
    rm -rf /var/lib/pocky-erofs2
}
