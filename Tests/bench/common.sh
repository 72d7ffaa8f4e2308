# Shared by the benchmark scripts: the flushctl binary and a description of the machine.
set -eu
cd "$(dirname "$0")/../.."
FLUSHCTL=${FLUSHCTL:-$(Tests/hostsim/run --build-only)}
machine() {
    echo "machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) CPUs$(lscpu | sed -n 's/^Hypervisor vendor: */, hypervisor /p' | head -1)"
    echo "kernel: $(uname -r)"
    echo "flushctl: $FLUSHCTL ($("$FLUSHCTL" --version))"
    echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
}
