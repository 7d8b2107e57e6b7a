# shellcheck shell=sh
# After every other test: nothing of them is left, and `system reset`
# removes the rest. Sourced by run-test.

t_nothing_left() {
    eq "$(pocky ps -aq)" "" "containers"
    eq "$(pocky-runtime list -q)" "" "pocky-runtime containers"
    for d in /sys/fs/cgroup/pocky /sys/fs/cgroup/pocky-guest; do
        [ ! -d "$d" ] || eq "$(find "$d" -mindepth 1 -type d)" "" "cgroups below $d"
    done
    eq "$(grep -c " $POCKY_ROOT/" /proc/mounts || true)" 0 "mounts below $POCKY_ROOT"
    eq "$(ip -o link | grep -c ': vp' || true)" 0 "container veths"
    eq "$(iptables-save | grep -c 'pocky:ctr:' || true)" 0 "container firewall rules"
    pocky system reset --force
    [ ! -e "$POCKY_ROOT" ] || fail "$POCKY_ROOT left after reset"
    eq "$(iptables-save | grep -c 'pocky:' || true)" 0 "pocky's firewall rules after reset"
    eq "$(ip -o link | grep -c ': pocky' || true)" 0 "pocky's bridges after reset"
    [ ! -d /sys/fs/cgroup/pocky ] || eq "$(find /sys/fs/cgroup/pocky -mindepth 1 -type d)" "" \
        "cgroups after reset"
}
