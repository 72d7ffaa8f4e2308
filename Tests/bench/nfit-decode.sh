#!/bin/sh
# NFIT decode cost: a table of 256 DIMMs (32 regions x 8-way interleave) with 8 flush hints
# each, built by `flushctl nfit build` (NFITLayout), decoded by `flushctl nfit show --json`.
# Compared with the 1-DIMM table of the hints scenario, so process start-up cancels out.
# Wall time: median of RUNS runs (date +%s%N around each); peak RSS from /usr/bin/time; instructions from
# valgrind --tool=callgrind (repeatable, unlike time).
. "$(dirname "$0")/common.sh"
RUNS=${RUNS:-20}
machine
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
python3 - "$work/large.json" <<'PY'
import json, sys
regions = []
for r in range(32):
    dimms = []
    for d in range(8):
        n = r * 8 + d
        # NFIT device handle: socket/controller/channel/dimm bits; only uniqueness matters here.
        handle = ((n // 64) << 12) | (((n // 16) % 4) << 8) | (((n // 4) % 4) << 4) | (n % 4)
        page = 0x7f000000 + n * 0x1000
        dimms.append({"handle": hex(handle), "hints": [hex(page + 64 * i) for i in range(8)]})
    regions.append({"base": hex(0x100000000 + r * 0x10000000), "size": "0x10000000", "dimms": dimms})
json.dump({"oem_id": "FLUSHC", "regions": regions}, open(sys.argv[1], "w"))
PY
"$FLUSHCTL" nfit build "$work/large.json" -o "$work/large.aml"
# The hints scenario's own layout (its "nfit" member): one DIMM, two hints.
python3 -c "import json,sys; json.dump(json.load(open('Tests/hostsim/scenarios/hints.json'))['nfit'], open(sys.argv[1],'w'))" "$work/small.json"
"$FLUSHCTL" nfit build "$work/small.json" -o "$work/small.aml"
# valgrind gives up on the release binary's debug info ("possibly corrupted debuginfo"): use a stripped copy.
strip -o "$work/flushctl" "$FLUSHCTL"
for table in small large; do
    aml="$work/$table.aml"
    echo
    echo "== $table: $(stat -c %s "$aml") bytes, $("$FLUSHCTL" nfit show "$aml" --json | grep -c '"type":6,' || true) flush hint structures"
    echo "\$ flushctl nfit show $table.aml --json >/dev/null   ($RUNS runs)"
    for i in $(seq "$RUNS"); do
        start=$(date +%s%N)
        "$FLUSHCTL" nfit show "$aml" --json >/dev/null
        echo $(( ($(date +%s%N) - start) / 1000 ))
    done | sort -n | awk '{ t[NR] = $1 } END { printf "wall (process start to exit): median %.2f ms, min %.2f ms\n", t[int((NR + 1) / 2)] / 1000, t[1] / 1000 }'
    /usr/bin/time -f '%M' "$FLUSHCTL" nfit show "$aml" --json 2>&1 >/dev/null | tail -1 | sed 's/^/peak RSS: /; s/$/ KiB/'
    valgrind --tool=callgrind --callgrind-out-file="$work/cg.$table" "$work/flushctl" nfit show "$aml" --json 2>"$work/vg.$table" >/dev/null
    echo "instructions (callgrind): $(sed -n 's/.*Collected : //p' "$work/vg.$table") in all"
    # Inclusive costs of the decode itself and of the JSON printing (exported symbols survive strip).
    callgrind_annotate --inclusive=yes --threshold=100 "$work/cg.$table" 2>/dev/null | awk '
        /NFITTableV6decode/ { gsub(/,/, "", $1); print "  NFITTable.decode: " $1 " instructions" }
        /OrderedJSON9JSONValueO13prettyPrinted/ { gsub(/,/, "", $1); print "  JSONValue.prettyPrinted: " $1 " instructions" }'
    echo "  JSON output: $("$FLUSHCTL" nfit show "$aml" --json | wc -c) bytes"
done
