#!/bin/sh
# flushctl bench on this machine: fsync and fdatasync of a scratch file after 4K and 2M of
# dirty data (this machine has no NVDIMM: the other methods are listed as not applicable).
. "$(dirname "$0")/common.sh"
ITERATIONS=${ITERATIONS:-10000}
DIR=${1:-/var/tmp}
machine
echo "scratch directory: $DIR on $(findmnt -no SOURCE,FSTYPE,OPTIONS -T "$DIR")"
echo
for dirty in 4K 2M; do
    echo "\$ flushctl bench --dir $DIR --dirty $dirty --iterations $ITERATIONS --duration 20"
    "$FLUSHCTL" bench --dir "$DIR" --dirty "$dirty" --iterations "$ITERATIONS" --duration 20
    echo
done
