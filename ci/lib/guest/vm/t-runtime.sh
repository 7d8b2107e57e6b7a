# shellcheck shell=sh
# pocky-runtime on cgroup v2, with the bundles ci/lib/guest/bundles.py
# wrote under /guest/bundles (cgroups under /pocky-guest). Sourced by
# run-test.

B=/guest/bundles
RT=/run/pocky-runtime

rt_state() {
    pocky-runtime state "$1" | sed -n 's/.*"status": *"\([a-z]*\)".*/\1/p'
}

# Nothing of container ID is left: no state, no cgroup.
rt_gone() {
    [ ! -e "$RT/$1" ] || fail "state of $1 left in $RT"
    [ ! -d "/sys/fs/cgroup/pocky-guest/$2" ] || fail "cgroup /pocky-guest/$2 left"
}

t_runtime_resources() {
    loop0
    out=$(pocky-runtime run --bundle "$B/resources" res1 </dev/null)
    # Written as runc writes them on v2: swap is memory+swap in the spec,
    # memory.swap.max the part beyond the limit; reservation is memory.low;
    # shares 512 is weight 20; blkio weight 500 (10-1000) is io.weight 4950
    # (1-10000); a throttle's unset fields stay max.
    for want in \
        "memory.max=67108864;" \
        "memory.swap.max=67108864;" \
        "memory.low=33554432;" \
        "memory.high=100663296;" \
        "cpu.weight=20;" \
        "cpu.max=50000 200000;" \
        "cpu.max.burst=10000;" \
        "cpuset.cpus=0;" \
        "cpuset.mems=0;" \
        "pids.max=64;" \
        "io.weight=default 4950;" \
        "io.max=7:0 rbps=1048576 wbps=max riops=max wiops=100;" \
        "hugetlb.2MB.max=4194304;"; do
        echo "$out" | grep -qxF "$want" || fail "want [$want] in: $out"
    done
    rt_gone res1 resources
}

t_runtime_lifecycle() {
    pocky-runtime create --bundle "$B/life" life1 </dev/null >/tmp/life1.out 2>&1
    eq "$(rt_state life1)" created
    pocky-runtime start life1
    eq "$(rt_state life1)" running
    dir=/sys/fs/cgroup/pocky-guest/life
    eq "$(cat "$dir/memory.max")" 67108864 memory.max
    eq "$(cat "$dir/pids.max")" 32 pids.max
    pid=$(pocky-runtime state life1 | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')
    # JSON, as containerd asks: the table form runs ps -f, which
    # busybox's ps lacks (runc's does the same).
    has "$(pocky-runtime ps --format json life1)" "$pid" "ps"

    pocky-runtime update --memory 128m --pids-limit 50 --cpu-share 1024 \
        --cpu-quota 20000 --cpu-period 100000 life1
    eq "$(cat "$dir/memory.max")" 134217728 "memory.max after update"
    eq "$(cat "$dir/pids.max")" 50 "pids.max after update"
    eq "$(cat "$dir/cpu.weight")" 39 "cpu.weight after update"
    eq "$(cat "$dir/cpu.max")" "20000 100000" "cpu.max after update"
    # A linux.resources document on stdin, as containerd's CRI sends it.
    echo '{"pids": {"limit": 40}}' | pocky-runtime update --resources - life1
    eq "$(cat "$dir/pids.max")" 40 "pids.max after update --resources"

    pocky-runtime pause life1
    eq "$(rt_state life1)" paused
    eq "$(cat "$dir/cgroup.freeze")" 1 cgroup.freeze
    pocky-runtime resume life1
    eq "$(rt_state life1)" running
    eq "$(cat "$dir/cgroup.freeze")" 0 cgroup.freeze

    out=$(pocky-runtime events --stats life1)
    has "$out" '"type":"stats"' events
    has "$out" '"memory"' events
    has "$out" '"pids"' events

    pocky-runtime exec life1 true
    pocky-runtime kill life1 KILL
    until_ok sh -c "pocky-runtime state life1 | grep -q '\"stopped\"'"
    pocky-runtime delete life1
    rt_gone life1 life
}

t_runtime_refusals() {
    exits 1 pocky-runtime run --bundle "$B/swappiness" sw1
    has "$out" "swappiness" "the refusal names the setting"
    rt_gone sw1 swappiness
}
