# shellcheck shell=sh
# Rootless pocky with a delegated cgroup v2 subtree, which a hybrid v1 host
# cannot offer. Sourced by run-test.
#
# PENDING until rootless mode (branch rootless) merges; then remove
# rootless from ci/guest's PENDING (it passed against that branch's
# d56f8c2). The setup below is what systemd does for a logged-in user
# (Delegate=yes on user@1000.service); the checks are what issue 14 asks
# of limits in a delegated subtree. --network none: the guest has no
# slirp4netns, and its uplink is the host's business, not cgroups'.

DELEGATED=/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service

rootless_setup() {
    mkdir -p "$DELEGATED/session.scope"
    for d in /sys/fs/cgroup/user.slice /sys/fs/cgroup/user.slice/user-1000.slice; do
        echo "+cpu +cpuset +io +memory +pids" >"$d/cgroup.subtree_control"
    done
    # Delegation: the directory and the files that make it a subtree
    # belong to the user (its controllers are its to enable).
    chown -R 1000:1000 "$DELEGATED"
    mkdir -p /home/guest /run/user/1000
    chown 1000:1000 /home/guest /run/user/1000
    chmod 0700 /run/user/1000
}

t_rootless() {
    if [ ! -u /usr/bin/newuidmap ] || [ ! -u /usr/bin/newgidmap ]; then
        fail "no setuid newuidmap/newgidmap in the guest: ci/install must install uidmap"
    fi
    rootless_setup
    G=/guest/as-guest
    $G pocky load -i /images/busybox.tar
    eq "$($G pocky run --rm --network none "$IMG" id -u)" 0 "uid inside"
    # Root inside is the user outside; the rest of the ids come from the
    # user's /etc/subuid range.
    map=$($G pocky run --rm --network none "$IMG" cat /proc/self/uid_map | tr -s ' ' | sed 's/^ //')
    has "$map" "0 1000 1" "uid_map"
    has "$map" "1 100000 65536" "uid_map"
    out=$($G pocky run --rm --network none -m 64m --pids-limit 20 "$IMG" \
        sh -c 'cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max' | tr '\n' ' ')
    eq "$out" "67108864 20 " "limits in the delegated subtree"
    exits 137 $G pocky run --network none --name hog -m 32m "$IMG" sh -c 'head -c 512m /dev/zero | tail'
    eq "$($G pocky inspect -f '{{.State.OOMKilled}}' hog)" true OOMKilled
    $G pocky run -d --network none --name nap "$IMG" sleep 600 >/dev/null
    pid=$($G pocky inspect -f '{{.State.Pid}}' nap)
    has "$(cat "/proc/$pid/cgroup")" "/user.slice/user-1000.slice/user@1000.service/" \
        "the container's cgroup is in the user's subtree"
    # Root's state and the user's never mix.
    if pocky ps -a --format '{{.Names}}' | grep -qx nap; then
        fail "the user's container shows in root's ps"
    fi
    $G pocky rm -f nap hog
    # Nothing is left in the subtree but the session's own cgroup.
    left=$(find "$DELEGATED" -mindepth 1 -type d ! -path "$DELEGATED/session.scope" \
        -exec sh -c 'test -s "$1/cgroup.procs" && echo "$1"' _ {} \;)
    eq "$left" "" "cgroups with processes left in the user's subtree"
}
