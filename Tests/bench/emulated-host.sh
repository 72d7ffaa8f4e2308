#!/bin/sh
# flushctl bench in the emulated NVDIMM host (docs/emulated-host.md), iomem=relaxed so the
# hint pages can be mapped. Under QEMU TCG every instruction is emulated: the mapped-hint
# store is an emulated store to reserved RAM, not an uncached MMIO write to a DIMM, and
# the fences are emulated too. The ratios are the TCG ratios; see docs/performance.md.
. "$(dirname "$0")/common.sh"
ITERATIONS=${ITERATIONS:-10000}
machine
echo "guest: QEMU TCG (no KVM), Debian kernel of Tests/hostsim, 1 DIMM with 2 flush hints"
echo
for run in "Tests/hostsim/scenarios/plan/fsdax-ext4.json|flushctl bench region0 /mnt --iterations $ITERATIONS" \
           "devdax|flushctl bench region0 --dir /tmp --iterations $ITERATIONS"; do
    scenario=${run%%|*}
    command=${run#*|}
    echo "\$ Tests/hostsim/run --scenario $scenario --append iomem=relaxed -- $command"
    FLUSHCTL=$FLUSHCTL Tests/hostsim/run --scenario "$scenario" --append iomem=relaxed -- $command
    echo
done
