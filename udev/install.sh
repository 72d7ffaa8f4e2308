#!/bin/sh
# Installs (or uninstalls) flushctl on a host: the release program, the udev rule that runs
# `flushctl refresh` when NVDIMM regions, namespaces or dax devices change, the rule for the
# VMM's device links, the flushhint module's source in /usr/src for DKMS (built by
# `dkms install` where dkms is installed), the man pages and the docs. Run from anywhere; needs root for the default PREFIX.
#
#   udev/install.sh [install|uninstall] [PREFIX=/usr/local] [DESTDIR=] [UDEVRULESDIR=...]
#                   [GROUP=kvm] [BINARY=path] [NOBUILD=1]
#
#   PREFIX        where bin/, share/man/ and share/doc/ go (default /usr/local); the rule's
#                 RUN path is PREFIX/bin/flushctl, so they always agree.
#   DESTDIR       staging root for packaging: files go under DESTDIR, paths inside them do not.
#   UDEVRULESDIR  where the rule goes (default /etc/udev/rules.d, the administrator's
#                 directory; a Debian package uses /lib/udev/rules.d).
#   GROUP         add `--group GROUP` to the rule: the regions' device-dax devices are then
#                 given to GROUP with read/write permission on every event (off by default);
#                 and 62-flushhint.rules gives GROUP the flushhint module's nodes, 0660.
#   BINARY        install this flushctl program instead of building one.
#   NOBUILD=1     same as BINARY=.build/release/flushctl, without running swift build.
#
# One program, PREFIX/bin/flushctl. Install builds it with `swift build -c release
# --static-swift-stdlib` (the Swift runtime linked in; at run time it needs libndctl, libdaxctl
# and the C/C++ runtime) as the user who invoked it: under sudo the build runs as $SUDO_USER,
# since swift build runs the package manifest (Package.swift) as whoever builds. Run as root
# without sudo, it can only build as root, and says so; build first as a user and pass NOBUILD=1
# or BINARY= to avoid that. Directories that exist keep their owner and mode; missing ones are
# made with mode 0755. Then it reloads udev's rules and triggers the nd subsystem when udevadm
# exists and DESTDIR is empty, so the cache is written at once. Install and uninstall both remove
# PREFIX/libexec/flushctl, where earlier versions put a second program.
set -eu

action=install
PREFIX=/usr/local
DESTDIR=
UDEVRULESDIR=/etc/udev/rules.d
GROUP=
BINARY=
NOBUILD=
for arg in "$@"; do
    case "$arg" in
        install|uninstall) action=$arg ;;
        PREFIX=*) PREFIX=${arg#PREFIX=} ;;
        DESTDIR=*) DESTDIR=${arg#DESTDIR=} ;;
        UDEVRULESDIR=*) UDEVRULESDIR=${arg#UDEVRULESDIR=} ;;
        GROUP=*) GROUP=${arg#GROUP=} ;;
        BINARY=*) BINARY=${arg#BINARY=} ;;
        NOBUILD=*) NOBUILD=${arg#NOBUILD=} ;;
        -h|--help) sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
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
# Where earlier versions installed a second program; removed by install and uninstall.
oldlibexec=$PREFIX/libexec/flushctl
rule=$UDEVRULESDIR/60-flushctl.rules
# The links a VMM is given (/dev/flushctl/NAME/device), which go with their device.
vmmrule=$UDEVRULESDIR/61-flushctl-vmm.rules
mandir=$PREFIX/share/man/man1
docdir=$PREFIX/share/doc/flushctl
# The flushhint module's source, where DKMS looks for it (/usr/src/NAME-VERSION, whatever
# PREFIX is), its version from flushhint/dkms.conf, as DKMS takes it (flushctl's version, which
# debian/changelog sets; Tests/check-version).
modversion=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' "$root/flushhint/dkms.conf")
modsrc=/usr/src/flushhint-$modversion
modfiles="flushhint.c Kbuild Makefile dkms.conf"
# With GROUP: the flushhint nodes (/dev/flushhint/regionN) for GROUP, read-write.
noderule=$UDEVRULESDIR/62-flushhint.rules

# DKMS builds and installs the module for every installed kernel with headers; only on the
# running system (no DESTDIR) and where dkms is installed. A failed build is said, not fatal:
# flushctl works without the module, through /dev/mem.
dkms_module() {
    [ -z "$DESTDIR" ] || return 0
    command -v dkms >/dev/null 2>&1 || { [ "$1" = install ] && echo "install.sh: note: dkms not found: the flushhint module's source is in $modsrc, not built (apt-get install dkms linux-headers-\$(uname -r); dkms install flushhint/$modversion)" >&2; return 0; }
    if [ "$1" = install ]; then
        dkms add "flushhint/$modversion" >/dev/null 2>&1 || true
        dkms install "flushhint/$modversion" || echo "install.sh: warning: dkms install flushhint/$modversion failed (linux-headers for the running kernel?); flushctl maps hint pages from /dev/mem without it" >&2
    else
        dkms remove "flushhint/$modversion" --all >/dev/null 2>&1 || true
    fi
}
docs="README.md docs/privileges.md docs/packaging.md docs/vmm-integration.md docs/nfit.md docs/performance.md"

reload_udev() {
    [ -z "$DESTDIR" ] || return 0
    command -v udevadm >/dev/null 2>&1 || { echo "install.sh: udevadm not found: udev rules not reloaded" >&2; return 0; }
    udevadm control --reload-rules || echo "install.sh: warning: udevadm control --reload-rules failed (is systemd-udevd running?)" >&2
    if [ "$1" = install ]; then
        udevadm trigger --subsystem-match=nd --action=change || true
        # add, not change: the links of devices that exist now are made as at boot.
        udevadm trigger --subsystem-match=dax --subsystem-match=block --action=add || true
    fi
}

if [ "$action" = uninstall ]; then
    rm -f "$DESTDIR$bin" "$DESTDIR$rule" "$DESTDIR$vmmrule" "$DESTDIR$noderule"
    rm -rf "$DESTDIR$oldlibexec"
    dkms_module uninstall
    rm -rf "$DESTDIR$modsrc"
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

# `swift build` for the release program, as the invoking user when root runs this under sudo.
build() {
    swift=$(command -v swift) || { echo "install.sh: error: swift not found on PATH (under sudo, PATH is sudo's secure_path: sudo env PATH=\"\$PATH\" ...)" >&2; exit 2; }
    # No RUNPATH ($ORIGIN) in programs root runs from system directories.
    set -- "$swift" build -c release --static-swift-stdlib --disable-local-rpath --product flushctl
    if [ "$(id -u)" -ne 0 ]; then
        (cd "$root" && "$@")
    elif [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ]; then
        echo "install.sh: building as $SUDO_USER (who ran sudo), installing as root" >&2
        (cd "$root" && runuser -u "$SUDO_USER" -- "$@") || {
            echo "install.sh: error: swift build as $SUDO_USER failed (a build directory left by a root build? remove $root/.build)" >&2; exit 2; }
    else
        echo "install.sh: note: building as root (no SUDO_USER): swift build runs Package.swift as root; to avoid that, build as a user and pass NOBUILD=1 or BINARY=" >&2
        (cd "$root" && "$@")
    fi
}

# Makes directory $1 and any missing parent with mode 0755; one that exists is left as it is.
make_dir() {
    [ -d "$1" ] && return 0
    make_dir "$(dirname "$1")"
    mkdir -m 0755 "$1"
}

if [ -z "$BINARY" ]; then
    BINARY=$root/.build/release/flushctl
    [ -n "$NOBUILD" ] || build
fi
[ -x "$BINARY" ] || { echo "install.sh: error: $BINARY is not an executable (build failed?)" >&2; exit 2; }

for dir in "$PREFIX/bin" "$UDEVRULESDIR" "$mandir" "$docdir"; do
    make_dir "$DESTDIR$dir"
done
rm -rf "$DESTDIR$oldlibexec"
install -m 0755 "$BINARY" "$DESTDIR$bin"
run="$bin refresh --detach${GROUP:+ --group $GROUP}"
# The rule's RUN path is rewritten to where the binary went (without DESTDIR). The new rule
# is written to a fresh file mktemp makes in the rules directory (a random name, created
# exclusively: nothing planted there in advance is followed or written through; the same
# filesystem, so the mv is atomic), removed if anything fails before the mv.
ruletmp=$(mktemp "$DESTDIR$rule.XXXXXXXXXX") || { echo "install.sh: error: cannot make a temporary file in $DESTDIR$UDEVRULESDIR" >&2; exit 2; }
trap 'rm -f "$ruletmp"' EXIT
trap 'exit 2' HUP INT TERM
sed "s|RUN+=\"/usr/local/bin/flushctl refresh --detach\"|RUN+=\"$run\"|" "$root/udev/60-flushctl.rules" > "$ruletmp"
grep -q "RUN+=\"$run\"" "$ruletmp" || { echo "install.sh: error: could not set the RUN path in the rule" >&2; exit 2; }
chmod 0644 "$ruletmp"
mv "$ruletmp" "$DESTDIR$rule"
trap - EXIT HUP INT TERM
install -m 0644 "$root/udev/61-flushctl-vmm.rules" "$DESTDIR$vmmrule"
if [ -n "$GROUP" ]; then
    printf '%s\n' "# flushctl: the flushhint module's nodes (/dev/flushhint/regionN) for group $GROUP, written by" \
        "# udev/install.sh GROUP=$GROUP: a VMM in $GROUP maps the regions' flush-hint pages (and nothing else)." \
        "SUBSYSTEM==\"misc\", KERNEL==\"flushhint-region*\", GROUP=\"$GROUP\", MODE=\"0660\"" > "$DESTDIR$noderule"
    chmod 0644 "$DESTDIR$noderule"
else
    rm -f "$DESTDIR$noderule"
fi
make_dir "$DESTDIR$modsrc"
for file in $modfiles; do
    install -m 0644 "$root/flushhint/$file" "$DESTDIR$modsrc/$file"
done
dkms_module install
for page in "$root"/docs/man/*.1; do
    install -m 0644 "$page" "$DESTDIR$mandir/"
done
for doc in $docs; do
    [ -e "$root/$doc" ] && install -m 0644 "$root/$doc" "$DESTDIR$docdir/"
done
reload_udev install
echo "install.sh: installed $DESTDIR$bin, $DESTDIR$rule (RUN+=\"$run\"), $DESTDIR$vmmrule, man pages in $DESTDIR$mandir, docs in $DESTDIR$docdir"
