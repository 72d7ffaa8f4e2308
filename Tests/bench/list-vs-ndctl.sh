#!/bin/sh
# `flushctl list -BDRN --json` against `ndctl list -BDRN` in the emulated NVDIMM host
# (scenario interleave: one 2-way interleaved region, two DIMMs with two flush hints each).
#
# One boot. Each round runs every command in a busybox `sh` loop of RUNS runs, timed with the
# guest's /proc/uptime (10 ms resolution), output to /dev/null, twice: once with the guest's
# address-space randomisation on (its default) and once with it off
# (/proc/sys/kernel/randomize_va_space = 0). ROUNDS rounds, commands and layouts round-robin.
#
# Why both: QEMU 7.2's TCG finds translated code by guest *virtual* address, so when every run
# maps its programs and libraries at new random addresses, QEMU translates every instruction of
# every run again. That is more than half of each run's time here and a cost no real host has
# (docs/performance.md, "What the emulated host measures"). With randomisation off, code is
# translated once and the loop measures what the programs do: system calls, page faults,
# instructions. Both rows are printed; compare rows of one run, not runs (host load moves them).
#
# The `--version` rows are process start-up.
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
commands = ["ndctl --version", "flushctl --version", "ndctl list -BDRN", "flushctl list -BDRN --json"]
lines = []
# Each command once first, output kept: the timed loops discard output and status.
lines += commands
loop = ('sh -c "r=\\$(cat /proc/sys/kernel/randomize_va_space); a=\\$(cut -d\\" \\" -f1 /proc/uptime); i=0; '
        'while [ \\$i -lt %d ]; do %s >/dev/null 2>&1; i=\\$((i+1)); done; '
        'b=\\$(cut -d\\" \\" -f1 /proc/uptime); echo \\$r \\$a \\$b"')
for _ in range(rounds):
    for layout in (2, 0):
        lines.append(f"echo {layout} > /proc/sys/kernel/randomize_va_space")
        lines += [loop % (runs, c) for c in commands]
open(path, "w").write("\n".join(lines) + "\n")
PY
echo "\$ Tests/hostsim/run --scenario interleave --script SCRIPT   ($ROUNDS rounds x $RUNS runs of each command in each layout, round-robin)"
FLUSHCTL=$FLUSHCTL Tests/hostsim/run --scenario interleave --timeout 3600 --script "$work/script" --results "$work/results.json"
echo "load after: $(uptime | sed 's/.*load average/load average/')"
python3 - "$work/results.json" "$RUNS" <<'PY'
import json, statistics, sys
results = json.load(open(sys.argv[1]))["results"]
runs = int(sys.argv[2])
n = 4
commands = [r["command"] for r in results[:n]]
for i, r in enumerate(results):
    if r["status"] != 0 or (i < n and not r["stdout"]):
        sys.exit(f"list-vs-ndctl: `{r['command']}` failed in the guest (status {r['status']}): {r['stderr'].strip()}")
layouts = {"2": "address-space randomisation on (the guest's default): QEMU retranslates every run",
           "0": "address-space randomisation off: code translated once, the programs' own cost"}
times = {layout: {c: [] for c in commands} for layout in layouts}
for r in results[n:]:
    if "; do " not in r["command"]:
        continue
    command = r["command"].split("; do ", 1)[1].split(" >/dev/null", 1)[0]
    layout, start, end = r["stdout"].split()
    times[layout][command].append((float(end) - float(start)) * 1000 / runs)
for layout, title in layouts.items():
    t = times[layout]
    print(f"\n{title}")
    print(f"{'command':50} {'median':>7} {'mean':>7} {'min':>7} {'max':>7}   ms per run, {len(t[commands[0]])} rounds")
    for c in commands:
        print(f"{c:50} {statistics.median(t[c]):7.1f} {statistics.mean(t[c]):7.1f} {min(t[c]):7.1f} {max(t[c]):7.1f}")
    m = {c: statistics.median(v) for c, v in t.items()}
    # Per round, so that drift in host load during the boot cancels out.
    per_round = [f / d for f, d in zip(t[commands[3]], t[commands[2]])]
    print(f"flushctl list -BDRN --json / ndctl list -BDRN: {m[commands[3]] / m[commands[2]]:.2f} (medians); "
          f"per round: median {statistics.median(per_round):.2f}, max {max(per_round):.2f}")
PY
