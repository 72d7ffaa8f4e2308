#!/bin/sh
# What a durable guest write costs, each way (issue 15; docs/performance.md "A guest's flush, each
# way"): boots the emulated NVDIMM host with a guest of its own under KVM (docs/emulated-host.md),
# starts that guest from `flushctl qemu` output (passthrough of region0's hint pages, and a
# virtio-pmem device over a file on region1), and times ITERATIONS flushes of each kind in the guest
# with Tests/bench/guest-flush.c, reading KVM's exit counters of the VM before and after each. Then
# `flushctl bench` on the emulated host in the same boot. Prints one table per run (markdown) and,
# unless SVG is empty, draws every method's latency distribution (all runs of this invocation
# together) into SVG with gnuplot (installed here when missing).
#
#   Tests/bench/guest-flush.sh                     # ITERATIONS=10000 RUNS=1 SVG=docs/guest-flush.svg
#   RUNS=3 Tests/bench/guest-flush.sh
#   ITERATIONS=50 SVG= Tests/bench/guest-flush.sh  # what GuestFlushBenchTests runs
#   HINTS=device Tests/bench/guest-flush.sh        # the hint pages through the flushhint module
#
# HINTS: how QEMU maps the host's hint pages: devmem (default), /dev/mem on a host booted with
# iomem=relaxed; device, /dev/flushhint/region0 on a host with the flushhint module loaded and
# no iomem=relaxed (docs/flushhint.md). The recipe says which; the report names it.
#
# Under the emulator the latencies are not hardware figures (the emulated host is QEMU TCG, the
# guest runs under KVM nested in it); exits per flush do not depend on the emulator.
. "$(dirname "$0")/common.sh"
ITERATIONS=${ITERATIONS:-10000}
RUNS=${RUNS:-1}
SVG=${SVG-docs/guest-flush.svg}
HINTS=${HINTS:-devmem}
case $HINTS in
devmem) host_options='"append": "iomem=relaxed",' ;;
device) host_options='"flushhint": true,' ;;
*) echo "guest-flush.sh: HINTS is devmem or device, not $HINTS" >&2; exit 2 ;;
esac
# The guest page the trapped store goes to: the first page after the two hint DIMMs, inside QEMU's
# device-memory area, where no device is (so no KVM memslot: every access is an MMIO exit to QEMU,
# which finds no device there). It is where QEMU put a virtio-pmem device given no memaddr=.
TRAP=0x100002000

work=$(mktemp -d /tmp/guest-flush.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p .build-guest-flush
gcc -static -O2 -Wall -o .build-guest-flush/guest-flush Tests/bench/guest-flush.c -lm

# region0: the interleave layout (2 DIMMs, each with its hints in its own page) as device-dax, the
# passthrough backend; region1: one DIMM with hints, fsdax, ext4 without DAX on /dev/pmem1, the
# file /mnt/vm/vpmem (below the mount point, so that it is gone when /mnt is not mounted) behind the guest's virtio-pmem device (QEMU fsyncs it on every guest flush).
cat >"$work/scenario.json" <<EOF
{
  "description": "guest-flush: region0 (2-way interleave, devdax) passed through, region1 (fsdax, ext4) holding the virtio-pmem file",
  "nfit": { "regions": [
      { "base": "0x30000000", "size": "0x4000000",
        "dimms": [ { "handle": "0x0001", "hints": ["0x37ffe000", "0x37ffe040"] },
                   { "handle": "0x0101", "hints": ["0x37fff000", "0x37fff040"] } ] },
      { "base": "0x34000000", "size": "0x2000000",
        "dimms": [ { "handle": "0x1001", "hints": ["0x37ffd000", "0x37ffd040"] } ] } ] },
  $host_options
  "guest": true,
  "udev_rules": ["61-flushctl-vmm.rules"],
  "modules": ["ext4", "crc32c_generic"],
  "binaries": ["mkfs.ext4", {"host": "$PWD/.build-guest-flush/guest-flush", "guest": "/usr/local/bin/guest-flush"}],
  "setup": [
    "ndctl create-namespace -f -e namespace0.0 -m devdax",
    "ndctl create-namespace -f -e namespace1.0 -m fsdax",
    "mkfs.ext4 -q -F -b 4096 /dev/pmem1",
    "mount -t ext4 /dev/pmem1 /mnt",
    "mkdir /mnt/vm && dd if=/dev/zero of=/mnt/vm/vpmem bs=1M count=16 2>/dev/null && sync"
  ]
}
EOF

# Host commands. Both recipes name their pmem backend pm0: the virtio-pmem one becomes vpm0. Its
# memaddr= is the next 1 GiB boundary after the passthrough pmem (0x140000000, 62 MiB): left to
# QEMU, it would land at 0x100002000, right after the hint DIMMs, where the guest refuses it
# (nd_pmem: misaligned, unable to map).
recipes="flushctl qemu /dev/dax0.0 --out /tmp/pt --guest-ram 256M && \
flushctl qemu /mnt/vm/vpmem --out /tmp/vp --guest-ram 256M --guest-pmem-base 0x180000000 && \
sed 's/=pm0\$/=vpm0/; s/=pm0,/=vpm0,/' /tmp/vp/qemu.args | cat /tmp/pt/qemu.args - >/tmp/guest.args && \
echo hint pages mapped from: \$(grep -o 'id=fh[0-9]*,mem-path=[^,]*' /tmp/pt/qemu.args | sed 's/.*mem-path=//' | sort -u)"
counters='cd /sys/kernel/debug/kvm/$GUEST_QEMU_PID-* && echo exits $(cat exits) mmio_exits $(cat mmio_exits) io_exits $(cat io_exits)'
virtio='$(for r in /sys/bus/nd/devices/region*; do case $(readlink -f $r) in *virtio*) echo /dev/$(ls $r/namespace*/block/);; esac; done)'
q() { printf "'%s'" "$(printf %s "$1" | sed "s/'/'\\\\''/g")"; }
flush() { printf '%s %s %s %s ' --guest "$(q "guest-flush -n $ITERATIONS $1")" --host "$(q "$counters")"; }
guestrun="guest-run --args /tmp/guest.args --append 'iomem=relaxed acpi_no_memhotplug' \
--add /usr/local/bin/guest-flush --timeout 600 \
--host $(q '$GUEST_QEMU --version | head -n 1') \
--guest $(q "uname -r; grep -e ndbus -e '^1[0-9a-f]\{8\}' /proc/iomem; echo virtio-pmem $virtio") \
--host $(q "$counters") \
$(flush null)$(flush passthrough)\
$(flush 'write1 passthrough-deep_flush /sys/bus/nd/devices/region0/deep_flush')\
$(flush 'fsync passthrough-fsync /dev/pmem0')\
$(flush "trapped $TRAP")\
$(flush "fsync virtio-pmem $virtio")"
bench="flushctl bench region0 /mnt --iterations $ITERATIONS"

if [ -n "$SVG" ] && ! command -v gnuplot >/dev/null; then
    [ "$(id -u)" -eq 0 ] || { echo "guest-flush.sh: gnuplot is missing: apt-get install gnuplot-nox (or SVG= for no plot)" >&2; exit 2; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gnuplot-nox >/dev/null
fi

machine
echo "qemu (emulated host, TCG): $(qemu-system-x86_64 --version | head -n 1)"
echo "iterations: $ITERATIONS per method, runs: $RUNS, hint pages: $HINTS"
run=1
while [ "$run" -le "$RUNS" ]; do
    echo "load before run $run: $(uptime)"
    Tests/hostsim/run --scenario "$work/scenario.json" --flushctl "$FLUSHCTL" --timeout 900 \
        --cmd "$recipes" --cmd "$guestrun" --cmd "$bench" --results "$work/run$run.json" >/dev/null
    echo "load after run $run: $(uptime)"
    run=$((run + 1))
done

python3 - "$work" "$RUNS" "$ITERATIONS" "$SVG" <<'PY'
import json, math, os, subprocess, sys
work, runs, n, svg = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
LABEL = {
    "null": "null (fences only: clock and loop)",
    "passthrough": "passthrough (store to the mapped hints)",
    "passthrough-deep_flush": "passthrough, guest kernel: write 1 to deep_flush",
    "passthrough-fsync": "passthrough, guest kernel: fsync /dev/pmem0",
    "trapped": "trapped (store to an unbacked page)",
    "virtio-pmem": "virtio-pmem: fsync of its /dev/pmem",
}
hist = {}

def ns(v):
    return f"{v / 1e6:.2f} ms" if v >= 1e6 else f"{v / 1e3:.1f} µs" if v >= 1e4 else f"{v / 1e3:.2f} µs" if v >= 1e3 else f"{v:.0f} ns"

for run in range(1, runs + 1):
    doc = json.load(open(os.path.join(work, f"run{run}.json")))
    recipes, guest, bench = doc["results"]
    for r in doc["results"]:
        if r["status"] != 0:
            sys.exit(f"guest-flush.sh: run {run}: `{r['command'][:80]}...` failed (exit {r['status']}):\n{r['stderr']}")
    steps = guest["nested"]["steps"]
    bad = [s for s in steps if s["status"] != 0]
    if bad:
        sys.exit(f"guest-flush.sh: run {run}: a guest-run step failed: {bad[0]}")
    print(f"\n## run {run}: host kernel {doc['kernel']}, guest {steps[1]['stdout'].splitlines()[0]}, inner {steps[0]['stdout'].strip()}")
    print("guest's view: " + "; ".join(steps[1]["stdout"].splitlines()[1:]))
    print(next((l for l in recipes["stdout"].splitlines() if l.startswith("hint pages mapped from:")), "hint pages mapped from: (not printed)"))
    counters = [dict(zip(s["stdout"].split()[::2], map(int, s["stdout"].split()[1::2]))) for s in steps[2::2]]
    rows = []
    for i, s in enumerate(steps[3::2]):
        words = s["stdout"].split("\n")[0].split()
        m = dict(zip(words[::2], words[1::2]))
        name = m["method"]
        h = s["stdout"].split("\n")[1].split()[2:]
        for item in h:
            b, c = map(int, item.split(":"))
            hist.setdefault(name, {}).setdefault(b, 0)
            hist[name][b] += c
        before, after = counters[i], counters[i + 1]
        rows.append((name, int(m["count"]), int(m["p50_ns"]), int(m["p99_ns"]), int(m["p999_ns"]), int(m["max_ns"]),
                     (after["exits"] - before["exits"]) / int(m["count"]),
                     (after["mmio_exits"] - before["mmio_exits"]) / int(m["count"]), int(m["clock_ns"])))
    base = next(r for r in rows if r[0] == "passthrough")[2]
    print(f"\n| run | method | count | p50 | p99 | p99.9 | max | exits/flush | MMIO exits/flush | p50 / passthrough |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {run} | {r[0]} | {r[1]} | {ns(r[2])} | {ns(r[3])} | {ns(r[4])} | {ns(r[5])} | {r[6]:.2f} | {r[7]:.3f} | {r[2] / base:.1f}x |")
    print("\ntrapped + host deep_flush: not measurable with stock QEMU, which cannot turn a guest's store into a"
          " write to the region's deep_flush (flushctl qemu refuses that plan); the host's deep_flush alone is in"
          " flushctl bench below")
    print(f"\nclock: {rows[0][8]} ns per reading (included in every sample)")
    print(f"\nhost side, same boot: $ {bench['command']}")
    print(bench["stdout"].rstrip())

if svg:
    data = os.path.join(work, "hist.dat")
    with open(data, "w") as f:  # one block per method: the share of samples slower than each bucket's floor
        for name, buckets in hist.items():
            total = left = sum(buckets.values())
            for b in sorted(buckets):
                f.write(f"{10 ** (b / 20):.1f} {left / total:.6g}\n")
                left -= buckets[b]
            f.write(f"{10 ** ((max(buckets) + 1) / 20):.1f} {1 / total / 2:.6g}\n\n\n")
    titles = ", ".join(f'"{LABEL.get(name, name)}"' for name in hist)
    script = f"""set terminal svg size 900,520 dynamic font 'sans,12' background rgb 'white'
set output '{svg}'
set logscale xy
set format x '10^{{%T}}'
set format y '10^{{%T}}'
set xlabel 'latency of one flush (ns, guest clock; {runs} run(s) x {n} flushes per method)'
set ylabel 'share of flushes slower than x'
set yrange [{1 / (runs * n) / 2:.3g}:1.5]
set key top right
set grid
set title 'A durable guest write, each way (KVM nested in QEMU TCG: order and ratios, not hardware times)' noenhanced
array T[{len(hist)}] = [{titles}]
plot for [i=1:{len(hist)}] '{data}' index i-1 with steps lw 2 title T[i] noenhanced
"""
    subprocess.run(["gnuplot"], input=script, text=True, check=True)
    print(f"\nplot: {svg}")
PY
