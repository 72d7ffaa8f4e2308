#!/bin/sh
# Installs (or uninstalls) flushctl on a host: the release binaries, the udev rule that runs
# `flushctl refresh` when NVDIMM regions, namespaces or dax devices change, the man pages
# and the docs. Run from anywhere; needs root for the default PREFIX.
#
#   udev/install.sh [install|uninstall] [PREFIX=/usr/local] [DESTDIR=] [UDEVRULESDIR=...]
#                   [GROUP=kvm] [BINARY=path] [FRONT=path] [NOBUILD=1]
#
#   PREFIX        where bin/, libexec/, share/man/ and share/doc/ go (default /usr/local); the
#                 rule's RUN path is PREFIX/bin/flushctl, so they always agree.
#   DESTDIR       staging root for packaging: files go under DESTDIR, paths inside them do not.
#   UDEVRULESDIR  where the rule goes (default /etc/udev/rules.d, the administrator's
#                 directory; a Debian package uses /lib/udev/rules.d).
#   GROUP         add `--group GROUP` to the rule: the regions' device-dax devices are then
#                 given to GROUP with read/write permission on every event (off by default).
#   BINARY        install this flushctl program instead of building one.
#   FRONT         install this front instead of building one (default with BINARY:
#                 flushctl-front beside it; where there is none, BINARY alone is PREFIX/bin/flushctl).
#   NOBUILD=1     same as BINARY=.build/release/flushctl FRONT=.build-front/release/flushctl-front
#                 without running swift build.
#
# Two programs: PREFIX/bin/flushctl is the front (Embedded Swift; it answers `flushctl list`
# itself) and PREFIX/libexec/flushctl/flushctl the flushctl program it hands every other
# command to. Install builds the program with `swift build -c release --static-swift-stdlib`
# (the Swift runtime linked in; at run time it needs libndctl, libdaxctl and the C/C++ runtime)
# and the front with `swift build -c release --product flushctl-front` (libndctl, libdaxctl and
# libc only; its own scratch path, as --static-swift-stdlib does not apply to it), then reloads
# udev's rules and triggers the nd subsystem when
# udevadm exists and DESTDIR is empty, so the cache is written at once.
set -eu

action=install
PREFIX=/usr/local
DESTDIR=
UDEVRULESDIR=/etc/udev/rules.d
GROUP=
BINARY=
FRONT=
NOBUILD=
for arg in "$@"; do
    case "$arg" in
        install|uninstall) action=$arg ;;
        PREFIX=*) PREFIX=${arg#PREFIX=} ;;
        DESTDIR=*) DESTDIR=${arg#DESTDIR=} ;;
        UDEVRULESDIR=*) UDEVRULESDIR=${arg#UDEVRULESDIR=} ;;
        GROUP=*) GROUP=${arg#GROUP=} ;;
        BINARY=*) BINARY=${arg#BINARY=} ;;
        FRONT=*) FRONT=${arg#FRONT=} ;;
        NOBUILD=*) NOBUILD=${arg#NOBUILD=} ;;
        -h|--help) sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "install.sh: error: unknown argument '$arg' (see --help)" >&2; exit 2 ;;
    esac
done
case "$PREFIX" in
    /*) ;;
    *) echo "install.sh: error: PREFIX '$PREFIX' is not an absolute path" >&2; exit 2 ;;
esac
# The rule's RUN key is split at spaces and the path goes through sed: plain characters only.
for dir in "$PREFIX" "$UDEVRULESDIR"; do
    case "$dir" in
        *[!A-Za-z0-9_./+-]*) echo "install.sh: error: '$dir' has characters a udev RUN path cannot carry (use letters, digits, _ . / + -)" >&2; exit 2 ;;
    esac
done
case "$GROUP" in
    *[!A-Za-z0-9_.-]*) echo "install.sh: error: GROUP '$GROUP' is not a plain group name" >&2; exit 2 ;;
esac

root=$(cd "$(dirname "$0")/.." && pwd)
bin=$PREFIX/bin/flushctl
libexecdir=$PREFIX/libexec/flushctl
rule=$UDEVRULESDIR/60-flushctl.rules
mandir=$PREFIX/share/man/man1
docdir=$PREFIX/share/doc/flushctl
docs="README.md docs/privileges.md docs/packaging.md docs/vmm-integration.md docs/nfit.md docs/performance.md"

reload_udev() {
    [ -z "$DESTDIR" ] || return 0
    command -v udevadm >/dev/null 2>&1 || { echo "install.sh: udevadm not found: udev rules not reloaded" >&2; return 0; }
    udevadm control --reload-rules || echo "install.sh: warning: udevadm control --reload-rules failed (is systemd-udevd running?)" >&2
    if [ "$1" = install ]; then
        udevadm trigger --subsystem-match=nd --action=change || true
    fi
}

if [ "$action" = uninstall ]; then
    rm -f "$DESTDIR$bin" "$DESTDIR$rule"
    rm -rf "$DESTDIR$libexecdir"
    for page in "$root"/docs/man/*.1; do
        [ -e "$page" ] && rm -f "$DESTDIR$mandir/$(basename "$page")"
    done
    rm -rf "$DESTDIR$docdir"
    reload_udev uninstall
    # The cache belongs to the running system, not to the package: remove it too.
    [ -n "$DESTDIR" ] || rm -rf /run/flushctl
    echo "install.sh: removed flushctl from $DESTDIR$PREFIX and $DESTDIR$rule"
    exit 0
fi

if [ -z "$BINARY" ]; then
    BINARY=$root/.build/release/flushctl
    FRONT=${FRONT:-$root/.build-front/release/flushctl-front}
    if [ -z "$NOBUILD" ]; then
        # No RUNPATH ($ORIGIN) in programs root runs from system directories.
        (cd "$root" && swift build -c release --static-swift-stdlib --disable-local-rpath --product flushctl)
        (cd "$root" && swift build -c release --disable-local-rpath --scratch-path .build-front --product flushctl-front)
    fi
elif [ -z "$FRONT" ] && [ -x "$(dirname "$BINARY")/flushctl-front" ]; then
    FRONT=$(dirname "$BINARY")/flushctl-front
fi
[ -x "$BINARY" ] || { echo "install.sh: error: $BINARY is not an executable (build failed?)" >&2; exit 2; }
[ -z "$FRONT" ] || [ -x "$FRONT" ] || { echo "install.sh: error: $FRONT is not an executable (build failed?)" >&2; exit 2; }

install -d -m 0755 "$DESTDIR$PREFIX/bin" "$DESTDIR$UDEVRULESDIR" "$DESTDIR$mandir" "$DESTDIR$docdir"
if [ -n "$FRONT" ]; then
    install -d -m 0755 "$DESTDIR$libexecdir"
    install -m 0755 "$BINARY" "$DESTDIR$libexecdir/flushctl"
    install -m 0755 "$FRONT" "$DESTDIR$bin"
else
    # No front: the program answers everything itself, `list` included (only slower to start).
    rm -rf "$DESTDIR$libexecdir"
    install -m 0755 "$BINARY" "$DESTDIR$bin"
fi
run="$bin refresh --detach${GROUP:+ --group $GROUP}"
# The rule's RUN path is rewritten to where the binary went (without DESTDIR).
sed "s|RUN+=\"/usr/local/bin/flushctl refresh --detach\"|RUN+=\"$run\"|" "$root/udev/60-flushctl.rules" > "$DESTDIR$rule.tmp"
grep -q "RUN+=\"$run\"" "$DESTDIR$rule.tmp" || { rm -f "$DESTDIR$rule.tmp"; echo "install.sh: error: could not set the RUN path in the rule" >&2; exit 2; }
chmod 0644 "$DESTDIR$rule.tmp"
mv "$DESTDIR$rule.tmp" "$DESTDIR$rule"
for page in "$root"/docs/man/*.1; do
    install -m 0644 "$page" "$DESTDIR$mandir/"
done
for doc in $docs; do
    [ -e "$root/$doc" ] && install -m 0644 "$root/$doc" "$DESTDIR$docdir/"
done
reload_udev install
echo "install.sh: installed $DESTDIR$bin${FRONT:+ (the front) and $DESTDIR$libexecdir/flushctl}, $DESTDIR$rule (RUN+=\"$run\"), man pages in $DESTDIR$mandir, docs in $DESTDIR$docdir"
