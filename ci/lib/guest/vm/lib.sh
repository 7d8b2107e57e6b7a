# shellcheck shell=sh
# Helpers of the guest tests (busybox sh, sourced by run-test). Each test
# runs in a shell of its own with `set -eu`: the first failed command or
# `fail` ends it.

export POCKY_ROOT=/var/lib/pocky
# Images come from `pocky load` (images-load); nothing may be pulled.
IMG=busybox

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# eq GOT WANT [WHAT]
eq() {
    [ "$1" = "$2" ] || fail "${3:-value}: got [$1], want [$2]"
}

# has TEXT PART [WHAT]
has() {
    case $1 in *"$2"*) return 0 ;; esac
    fail "${3:-output} lacks [$2]: [$1]"
}

# exits CODE CMD...: runs CMD (a program, not a function: a function's
# trace would land in the output), which must exit CODE. Its stdout and
# stderr are left in $out.
exits() {
    want=$1
    shift
    rc=0
    out=$("$@" 2>&1) || rc=$?
    [ "$rc" = "$want" ] || fail "$*: exit $rc, want $want: $out"
}

# Retries CMD for up to 30 s until it succeeds.
until_ok() {
    n=0
    while ! "$@" >/dev/null 2>&1; do
        n=$((n + 1))
        [ "$n" -lt 300 ] || fail "still failing after 30 s: $*"
        sleep 0.1
    done
}

# The cgroup directory of a running container, from its process's own view.
ctr_cgroup() {
    pid=$(pocky inspect -f '{{.State.Pid}}' "$1")
    echo "/sys/fs/cgroup$(sed -n 's/^0:://p' "/proc/$pid/cgroup")"
}

# /dev/loop0 backed by a small file starting with "guest-loop": a block
# device the device and io tests can name.
loop0() {
    if ! losetup /dev/loop0 >/dev/null 2>&1; then
        printf 'guest-loop' >/tmp/loop0.img
        truncate -s 1M /tmp/loop0.img
        losetup /dev/loop0 /tmp/loop0.img
    fi
}

# Runs a detached busybox container NAME with FLAGS... sleeping; prints
# nothing. `rm -f NAME` ends it.
sleeper() {
    name=$1
    shift
    pocky run -d --name "$name" "$@" "$IMG" sleep 600 >/dev/null
}
