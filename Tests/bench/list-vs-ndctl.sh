#!/bin/sh
# `flushctl list -BDRN --json` against `ndctl list -BDRN` in the emulated NVDIMM host
# (scenario interleave: one 2-way interleaved region, two DIMMs with two flush hints each).
# One boot; the four commands run round-robin, ROUNDS times, each time RUNS runs in a busybox
# `sh` loop timed with the guest's /proc/uptime (10 ms resolution), output to /dev/null. The
# `--version` rows are process start-up (flushctl's: the front, which hands `--version` to the
# flushctl program, which answers through ArgumentParser). The last row is that program's own
# `list`, as it ran before the front existed (docs/packaging.md). Under QEMU TCG the
# cost is dominated by how much distinct code runs and how many pages are touched, not by
# instruction counts; see docs/performance.md. Host load changes the numbers: compare rows of
# one run, not runs.
. "$(dirname "$0")/common.sh"
ROUNDS=${ROUNDS:-10}
RUNS=${RUNS:-20}
machine
echo "load: $(uptime | sed 's/.*load average/load average/')"
echo "guest: QEMU TCG (no KVM), Debian kernel of Tests/hostsim, scenario interleave"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
python3 - "$ROUNDS" "$RUNS" "$work/script" <<'PY'
import sys
rounds, runs, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
commands = ["ndctl --version", "flushctl --version", "ndctl list -BDRN", "flushctl list -BDRN --json",
            "/usr/libexec/flushctl/flushctl list -BDRN --json"]
lines = []
# Each command once first, output kept: the timed loops discard output and status.
lines += commands
loop = ('sh -c "a=\\$(cut -d\\" \\" -f1 /proc/uptime); i=0; while [ \\$i -lt %d ]; do %s >/dev/null 2>&1; '
        'i=\\$((i+1)); done; b=\\$(cut -d\\" \\" -f1 /proc/uptime); echo \\$a \\$b"')
for _ in range(rounds):
    lines += [loop % (runs, c) for c in commands]
open(path, "w").write("\n".join(lines) + "\n")
PY
echo "\$ Tests/hostsim/run --scenario interleave --script SCRIPT   ($ROUNDS rounds x $RUNS runs of each command, round-robin)"
FLUSHCTL=$FLUSHCTL Tests/hostsim/run --scenario interleave --timeout 1800 --script "$work/script" --results "$work/results.json"
echo "load after: $(uptime | sed 's/.*load average/load average/')"
python3 - "$work/results.json" "$RUNS" <<'PY'
import json, statistics, sys
results = json.load(open(sys.argv[1]))["results"]
runs = int(sys.argv[2])
n = 5
commands = [r["command"] for r in results[:n]]
for r in results[:n]:
    if r["status"] != 0 or not r["stdout"]:
        sys.exit(f"list-vs-ndctl: `{r['command']}` failed in the guest (status {r['status']}): {r['stderr'].strip()}")
times = {c: [] for c in commands}
for r in results[n:]:
    command = r["command"].split("; do ", 1)[1].split(" >/dev/null", 1)[0]
    start, end = map(float, r["stdout"].split())
    times[command].append((end - start) * 1000 / runs)
print(f"\n{'command':50} {'median':>7} {'mean':>7} {'min':>7} {'max':>7}   ms per run, {len(times[commands[0]])} rounds")
for c in commands:
    t = times[c]
    print(f"{c:50} {statistics.median(t):7.1f} {statistics.mean(t):7.1f} {min(t):7.1f} {max(t):7.1f}")
m = {c: statistics.median(t) for c, t in times.items()}
print(f"\nflushctl list -BDRN --json / ndctl list -BDRN: {m[commands[3]] / m[commands[2]]:.2f} (medians)")
print(f"the program alone (no front) / ndctl list -BDRN: {m[commands[4]] / m[commands[2]]:.2f} (medians)")
PY
