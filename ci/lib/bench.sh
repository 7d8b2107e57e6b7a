# shellcheck shell=bash
# Side-by-side measurement shared by the ci/bench-* scripts. Sourced.
#
# bench_compare OUT LABEL RUNS BASELINE: times the commands in the arrays
# names[], prepares[] and commands[] with hyperfine (RUNS runs each after a
# warmup), records each one's peak RSS with /usr/bin/time -v, and prints a
# summary with medians, 90th percentiles and the ratio of every tool to
# BASELINE. Results:
# OUT/LABEL.json, OUT/LABEL.md, OUT/LABEL-rss.txt, OUT/LABEL-summary.txt.
bench_compare() {
    local out=$1 label=$2 runs=$3 baseline=$4 i kb
    local args=(--runs "$runs" --warmup 1 --export-json "$out/$label.json"
        --export-markdown "$out/$label.md")
    for i in "${!names[@]}"; do
        args+=(--command-name "${names[$i]}" --prepare "${prepares[$i]}")
    done
    hyperfine "${args[@]}" "${commands[@]}"

    : >"$out/$label-rss.txt"
    for i in "${!names[@]}"; do
        bash -c "${prepares[$i]}"
        # shellcheck disable=SC2086 # the command strings are word lists
        /usr/bin/time -v ${commands[$i]} >/dev/null 2>"$out/.time.txt" || true
        kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$out/.time.txt")
        printf '%s %s\n' "${names[$i]}" "${kb:-0}" >>"$out/$label-rss.txt"
    done
    rm -f "$out/.time.txt"

    python3 - "$out" "$label" "$baseline" <<'PY' | tee "$out/$label-summary.txt"
import json, os, sys

out, label, baseline = sys.argv[1:]
res = {r["command"]: r for r in json.load(open(os.path.join(out, f"{label}.json")))["results"]}
rss = dict(line.split() for line in open(os.path.join(out, f"{label}-rss.txt")))
def p90(r):
    t = sorted(r["times"])
    return t[min(len(t) - 1, int(0.9 * len(t)))]
print(f"{label}: {'tool':10} {'median ms':>10} {'p90 ms':>8} {'mean ms':>9} {'stddev':>8} {'peak RSS MiB':>13}")
for name, r in res.items():
    print(f"{label}: {name:10} {r['median'] * 1e3:10.1f} {p90(r) * 1e3:8.1f} {r['mean'] * 1e3:9.1f} "
          f"{(r['stddev'] or 0) * 1e3:8.1f} {int(rss.get(name, 0)) / 1024:13.1f}")
if baseline in res:
    for name, r in res.items():
        if name != baseline:
            print(f"{label}: {name}/{baseline} = {r['median'] / res[baseline]['median']:.2f}x")
PY
}

# Before timing starts: the setup's writes go to disk (unwritten, they make
# the first tool timed pay for their writeback: 34 ms against 19 ms for the
# same pocky command), and the page cache is dropped, which also frees the
# memory cgroups of containers gone before (earlier tests, other tools):
# such a cgroup stays "dying" while pages charged to it are cached, and a
# few hundred of them made every start 3 ms slower, whichever tool ran it.
bench_settle() {
    sync
    echo 3 >/proc/sys/vm/drop_caches
}
