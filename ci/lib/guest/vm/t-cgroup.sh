# shellcheck shell=sh
# pocky's run path on cgroup v2: images, limits, OOM, pids, freezer, eBPF
# device rules, update, stats. Sourced by run-test.

t_images_load() {
    for i in busybox layered; do
        pocky load -i "/images/$i.tar"
    done
    out=$(pocky images --format '{{.Repository}}:{{.Tag}}')
    has "$out" "busybox:latest"
    has "$out" "layered:latest"
}

t_cgroup_v2() {
    # busybox's stat names no cgroup2: CGROUP2_SUPER_MAGIC.
    eq "$(stat -f -c %t /sys/fs/cgroup)" 63677270 "filesystem type of /sys/fs/cgroup"
    # No v1 hierarchy anywhere: cgroup_no_v1=all took.
    if grep -q ' cgroup ' /proc/mounts; then
        fail "a cgroup v1 mount: $(grep ' cgroup ' /proc/mounts)"
    fi
    has "$(cat /proc/cmdline)" "cgroup_no_v1=all"
    case $(uname -r) in 6.1.*) ;; *) fail "kernel $(uname -r), want Debian 12's 6.1" ;; esac
    ctl=$(cat /sys/fs/cgroup/cgroup.controllers)
    for c in cpu memory pids io cpuset hugetlb; do
        has " $ctl " " $c " "cgroup.controllers"
    done
}

t_run_basic() {
    eq "$(pocky run --rm "$IMG" echo hello)" hello
    exits 7 pocky run --rm "$IMG" sh -c 'exit 7'
    exits 127 pocky run --rm "$IMG" no-such-command
    # The container's cgroup namespace: it sees its cgroup as the root.
    eq "$(pocky run --rm "$IMG" cat /proc/self/cgroup)" "0::/"
    sleeper basic
    dir=$(ctr_cgroup basic)
    [ -d "$dir" ] || fail "no cgroup $dir"
    # exec joins the container's cgroup and its namespace.
    eq "$(pocky exec basic cat /proc/self/cgroup)" "0::/"
    pid=$(pocky inspect -f '{{.State.Pid}}' basic)
    has "$(cat "$dir/cgroup.procs")" "$pid"
    pocky stop -t 1 basic
    [ ! -d "$dir" ] || fail "cgroup $dir left after stop"
    pocky rm basic
}

t_limits() {
    # From inside: the container's own cgroup files.
    out=$(pocky run --rm -m 64m --cpus 0.5 --cpu-shares 512 --pids-limit 50 "$IMG" \
        sh -c 'cd /sys/fs/cgroup && cat memory.max memory.swap.max cpu.max cpu.weight pids.max' |
        tr '\n' ' ')
    # shares 512 is weight 20 (runc's conversion); swap equal to the
    # memory limit, so none on top.
    eq "$out" "67108864 0 50000 100000 20 50 " "limits seen inside"
    # From the host, on a running container.
    sleeper lim -m 96m --cpus 1.5 --cpu-shares 2048 --pids-limit 20
    dir=$(ctr_cgroup lim)
    eq "$(cat "$dir/memory.max")" 100663296 memory.max
    eq "$(cat "$dir/cpu.max")" "150000 100000" cpu.max
    eq "$(cat "$dir/cpu.weight")" 79 cpu.weight
    eq "$(cat "$dir/pids.max")" 20 pids.max
    eq "$(pocky inspect -f '{{.HostConfig.Memory}}' lim)" 100663296 HostConfig.Memory
    pocky rm -f lim
    [ ! -d "$dir" ] || fail "cgroup $dir left after rm -f"
}

t_limits_more() {
    loop0
    # A device's own io.weight needs io.cost on that device, which a stock
    # host leaves off: refused with the kernel's answer, nothing left.
    exits 125 pocky run --rm --blkio-weight-device /dev/loop0:200 "$IMG" true
    has "$out" "io.weight" "the refusal names the file"
    eq "$(pocky ps -aq)" "" "containers after a refused run"
    # With io.cost on for loop0 (a root-only file; off again at the end).
    echo "7:0 enable=1" >/sys/fs/cgroup/io.cost.qos
    # shellcheck disable=SC2016 # expanded in the container
    out=$(pocky run --rm -m 64m --memory-swap 96m --memory-reservation 32m \
        --cpuset-cpus 0 --cpuset-mems 0 --cpu-period 50000 --cpu-quota 25000 \
        --blkio-weight 300 --blkio-weight-device /dev/loop0:200 \
        --device-read-bps /dev/loop0:1mb --device-write-iops /dev/loop0:50 \
        --device-cgroup-rule 'b 7:* rwm' "$IMG" sh -c '
            cd /sys/fs/cgroup
            for f in memory.max memory.swap.max memory.low cpuset.cpus cpuset.mems \
                cpu.max io.weight io.max; do
                echo "$f=$(tr "\n" ";" <$f)"
            done
            mknod /tmp/b b 7 0 && echo "read=$(head -c 10 /tmp/b)"')
    # --memory-swap is memory plus swap: 32m of swap; blkio weights
    # (10-1000) map onto io.weight (1-10000) as runc maps them.
    for want in \
        "memory.max=67108864;" \
        "memory.swap.max=33554432;" \
        "memory.low=33554432;" \
        "cpuset.cpus=0;" \
        "cpuset.mems=0;" \
        "cpu.max=25000 50000;" \
        "io.weight=default 2930;7:0 1920;" \
        "io.max=7:0 rbps=1048576 wbps=max riops=max wiops=50;" \
        "read=guest-loop"; do
        echo "$out" | grep -qxF "$want" || fail "want [$want] in: $out"
    done
    echo "7:0 enable=0" >/sys/fs/cgroup/io.cost.qos
    # What cgroup v2 has no file for is refused by name, and nothing is
    # left of the container.
    exits 125 pocky run --rm --memory-swappiness 10 "$IMG" true
    has "$out" "swappiness"
    exits 125 pocky run --rm --oom-kill-disable -m 64m "$IMG" true
    has "$out" "OOM killer"
    exits 125 pocky run --rm --cpu-rt-runtime 1000 "$IMG" true
    has "$out" "realtime"
    eq "$(pocky ps -aq)" "" "containers after refused runs"
    [ -z "$(find /sys/fs/cgroup/pocky -mindepth 1 -type d)" ] ||
        fail "cgroups left after refused runs: $(find /sys/fs/cgroup/pocky -mindepth 1 -type d)"
}

t_oom() {
    # busybox tail buffers its one endless line until the limit kills it.
    exits 137 pocky run --name hog -m 32m "$IMG" sh -c 'head -c 512m /dev/zero | tail'
    eq "$(pocky inspect -f '{{.State.OOMKilled}}' hog)" true OOMKilled
    eq "$(pocky inspect -f '{{.State.ExitCode}}' hog)" 137 ExitCode
    pocky rm hog
    # A container that stays under its limit is not reported as killed.
    pocky run --name fits -m 32m "$IMG" sh -c 'head -c 1m /dev/zero | tail -c 1 >/dev/null'
    eq "$(pocky inspect -f '{{.State.OOMKilled}}' fits)" false "OOMKilled of one under its limit"
    pocky rm fits
}

t_pids_limit() {
    # The shell gives up (exit 2) at the first fork the limit refuses.
    # shellcheck disable=SC2016 # expanded in the container
    exits 2 pocky run --rm --pids-limit 8 "$IMG" \
        sh -c 'i=0; while [ $i -lt 12 ]; do sleep 30 & i=$((i+1)); done; echo looped'
    has "$out" "can't fork" "forks beyond the limit"
}

frozen() {
    grep -qx "frozen $2" "$1/cgroup.events"
}

t_pause() {
    sleeper pz
    dir=$(ctr_cgroup pz)
    pocky pause pz
    eq "$(cat "$dir/cgroup.freeze")" 1 cgroup.freeze
    until_ok frozen "$dir" 1
    eq "$(pocky inspect -f '{{.State.Status}}' pz)" paused
    has "$(pocky ps --format '{{.Status}}' --filter name=pz)" "Paused"
    pocky unpause pz
    eq "$(cat "$dir/cgroup.freeze")" 0 cgroup.freeze
    until_ok frozen "$dir" 0
    eq "$(pocky inspect -f '{{.State.Status}}' pz)" running
    eq "$(pocky exec pz echo thawed)" thawed
    pocky rm -f pz
}

t_devices() {
    loop0
    # Docker's rules let a container make any node but open only the
    # standard ones: the eBPF program refuses the rest.
    exits 1 pocky run --rm "$IMG" sh -c 'mknod /tmp/b b 7 0 && head -c 1 /tmp/b'
    has "$out" "Operation not permitted" "reading a block device not allowed"
    exits 1 pocky run --rm "$IMG" sh -c 'mknod /tmp/mem c 1 1 && head -c 1 /tmp/mem'
    has "$out" "Operation not permitted" "reading /dev/mem's node"
    eq "$(pocky run --rm "$IMG" sh -c 'echo x >/dev/null && head -c 3 /dev/zero | wc -c')" 3
    # --device adds its own rule.
    eq "$(pocky run --rm --device /dev/loop0 "$IMG" head -c 10 /dev/loop0)" guest-loop
    exits 1 pocky run --rm --device /dev/loop0:/dev/loop0:r "$IMG" \
        sh -c 'echo x >/dev/loop0'
    has "$out" "Operation not permitted" "writing a device allowed read-only"
    # --privileged allows every device.
    eq "$(pocky run --rm --privileged "$IMG" sh -c 'mknod /tmp/b b 7 0 && head -c 10 /tmp/b')" guest-loop
}

t_update() {
    sleeper up -m 64m --cpus 0.5 --pids-limit 30
    dir=$(ctr_cgroup up)
    pocky update -m 128m --cpus 1 --cpu-shares 1024 --pids-limit 100 up
    eq "$(cat "$dir/memory.max")" 134217728 memory.max
    eq "$(cat "$dir/cpu.max")" "100000 100000" cpu.max
    eq "$(cat "$dir/cpu.weight")" 39 cpu.weight
    eq "$(cat "$dir/pids.max")" 100 pids.max
    eq "$(pocky inspect -f '{{.HostConfig.Memory}}' up)" 134217728 HostConfig.Memory
    pocky update --cpuset-cpus 0 --cpu-period 50000 --cpu-quota 20000 \
        --memory-swap 192m --memory-reservation 64m --blkio-weight 500 up
    eq "$(cat "$dir/cpuset.cpus")" 0 cpuset.cpus
    eq "$(cat "$dir/cpu.max")" "20000 50000" "cpu.max after --cpu-period/--cpu-quota"
    eq "$(cat "$dir/memory.swap.max")" 67108864 "memory.swap.max (192m with 128m of memory)"
    eq "$(cat "$dir/memory.low")" 67108864 memory.low
    eq "$(cat "$dir/io.weight")" "default 4950" io.weight
    eq "$(cat "$dir/memory.max")" 134217728 "memory.max kept"
    # Below Docker's minimum, or what v2 has no file for: refused, the
    # limits left as they were.
    exits 125 pocky update -m 4k up
    has "$out" "6MB"
    exits 125 pocky update --cpu-rt-runtime 1000 up
    has "$out" "realtime"
    eq "$(cat "$dir/memory.max")" 134217728 "memory.max after refused updates"
    eq "$(cat "$dir/cpu.max")" "20000 50000" "cpu.max after refused updates"
    pocky rm -f up
}

t_stats() {
    # Three tasks: the shell and its two children.
    pocky run -d --name st -m 64m "$IMG" sh -c 'sleep 600 & sleep 600 & wait' >/dev/null
    until_ok sh -c "[ \"\$(pocky stats --no-stream --format '{{.PIDs}}' st)\" = 3 ]"
    out=$(pocky stats --no-stream --format '{{.Name}} {{.MemUsage}} {{.PIDs}}' st)
    has "$out" "st " "stats"
    has "$out" "/ 64.00MiB " "memory limit in stats"
    eq "${out##* }" 3 "PIDs in stats"
    pocky rm -f st
}
