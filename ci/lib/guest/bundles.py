"""The OCI bundles of ci/guest's pocky-runtime tests.

Usage: bundles.py BASE_CONFIG OUT_DIR. BASE_CONFIG is what `pocky-runtime
spec` wrote; each bundle is OUT_DIR/<name>/config.json with the settings its
test needs, every one sharing the read-only rootfs OUT_DIR/rootfs. The
cgroup paths are absolute, as podman and containerd give them.
"""

import copy
import json
import os
import sys

base_path, out = sys.argv[1], sys.argv[2]
with open(base_path) as f:
    base = json.load(f)

MIB = 1 << 20
# /dev/loop0: the guest's test attaches a file to it before `create`.
LOOP0 = {"major": 7, "minor": 0}
# Printed by the `resources` bundle from inside its cgroup namespace, where
# /sys/fs/cgroup is the container's own cgroup.
FILES = [
    "memory.max",
    "memory.swap.max",
    "memory.low",
    "memory.high",
    "cpu.weight",
    "cpu.max",
    "cpu.max.burst",
    "cpuset.cpus",
    "cpuset.mems",
    "pids.max",
    "io.weight",
    "io.max",
    "hugetlb.2MB.max",
]


def bundle(name, args, resources):
    s = copy.deepcopy(base)
    s["process"]["terminal"] = False
    s["process"]["args"] = args
    # The path the rootfs has inside the guest, not here.
    s["root"] = {"path": "/guest/bundles/rootfs", "readonly": True}
    s["hostname"] = name
    s["linux"]["cgroupsPath"] = f"/pocky-guest/{name}"
    s["linux"]["resources"] = {"devices": [{"allow": False, "access": "rwm"}], **resources}
    os.makedirs(os.path.join(out, name), exist_ok=True)
    with open(os.path.join(out, name, "config.json"), "w") as f:
        json.dump(s, f, indent=1)


every_limit = {
    "memory": {"limit": 64 * MIB, "swap": 128 * MIB, "reservation": 32 * MIB},
    "cpu": {"shares": 512, "quota": 50000, "period": 200000, "burst": 10000,
            "cpus": "0", "mems": "0"},
    "pids": {"limit": 64},
    "blockIO": {"weight": 500,
                "throttleReadBpsDevice": [{**LOOP0, "rate": 1048576}],
                "throttleWriteIOPSDevice": [{**LOOP0, "rate": 100}]},
    "hugepageLimits": [{"pageSize": "2MB", "limit": 4 * MIB}],
    "unified": {"memory.high": str(96 * MIB)},
}
show = "cd /sys/fs/cgroup && for f in %s; do echo \"$f=$(cat $f | tr '\\n' ';')\"; done" % " ".join(FILES)
bundle("resources", ["sh", "-c", show], every_limit)

# A long-lived container for the lifecycle commands: update, pause,
# resume, events, ps, kill, delete.
bundle("life", ["sleep", "600"],
       {"memory": {"limit": 64 * MIB}, "pids": {"limit": 32}, "cpu": {"shares": 512}})

# cgroup v2 has no swappiness: create must refuse it by name.
bundle("swappiness", ["true"], {"memory": {"limit": 64 * MIB, "swappiness": 20}})
