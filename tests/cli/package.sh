#!/usr/bin/env bash
# The Debian package on this machine: scripts/package.sh builds it (or
# SLOTFEED_DEB_DIR names a directory holding the .debs just built), apt
# installs it, and then
#  - slotfeed version is the project's version; check-config accepts the
#    installed /etc/slotfeed/region.json, which is a conffile;
#  - the unit is at /lib/systemd/system, runs /usr/bin/slotfeed, is
#    enabled (its wants/ symlink) and, under systemd, not started;
#  - the place table, the man pages (rendering without warnings) and the
#    docs are where the man pages say;
#  - an upgrade to a newer version whose packaged config changed keeps
#    the operator's edited config (dpkg's conffile rule, confold as apt
#    runs unattended) and leaves the new one beside it (.dpkg-dist);
#  - remove keeps the config and the state, purge removes both and the
#    enable symlink.
# Never leaves the packages installed (EXIT trap), and will not touch a
# slotfeed that was installed before it started. Root and dpkg needed,
# else skipped (77). CMake gives it RESOURCE_LOCK dpkg.
set -euo pipefail
src=${SLOTFEED_SOURCE_DIR:?}
fail() { echo "FAIL: $*" >&2; exit 1; }

if [ "$(id -u)" -ne 0 ] || ! command -v dpkg >/dev/null ||
        ! command -v apt-get >/dev/null; then
    echo "SKIPPED: needs root, dpkg and apt-get (installs a package)"
    exit 77
fi
for p in slotfeed slotfeed-sim; do
    if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q installed; then
        fail "$p is already installed here: this test installs and purges" \
             "it, so it leaves it alone (dpkg --purge $p, then rerun)"
    fi
done

tmp=$(mktemp -d)
made_private=
cleanup() {
    local rc=$?
    set +e   # every step runs, and the test's own status is what counts
    for p in slotfeed-sim slotfeed; do
        if dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
                grep -q -v "not-installed"; then
            DEBIAN_FRONTEND=noninteractive dpkg --purge "$p" >/dev/null 2>&1 ||
                echo "cleanup: dpkg --purge $p failed" >&2
        fi
    done
    rm -rf /var/lib/private/slotfeed
    [ -L /var/lib/slotfeed ] && rm -f /var/lib/slotfeed
    if [ -n "$made_private" ]; then
        rmdir /var/lib/private 2>/dev/null
    fi
    rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT

version=$(sed -n 's/^project(slotfeed VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
if [ -n "${SLOTFEED_DEB_DIR:-}" ]; then
    debs=$SLOTFEED_DEB_DIR
else
    command -v dh >/dev/null && command -v lintian >/dev/null ||
        fail "debhelper/lintian missing: bash scripts/deps.sh --package"
    bash "$src/scripts/package.sh" --out "$tmp/dist" >"$tmp/package.log" 2>&1 || {
        tail -40 "$tmp/package.log" >&2
        fail "scripts/package.sh"
    }
    debs=$tmp/dist
fi
arch=$(dpkg --print-architecture)
deb=$debs/slotfeed_${version}_$arch.deb
simdeb=$debs/slotfeed-sim_${version}_$arch.deb
[ -f "$deb" ] && [ -f "$simdeb" ] || fail "no $deb or $simdeb"

apt_get() {
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
        -y -q "$@" >"$tmp/apt.log" 2>&1 || { cat "$tmp/apt.log" >&2; return 1; }
}

# --- install ---------------------------------------------------------------
apt_get install --no-install-recommends "$deb" "$simdeb" || fail "apt install"
first=$(/usr/bin/slotfeed version | head -1)
[[ $first == "slotfeed $version (commit "* ]] || fail "version says '$first'"
/usr/bin/slotfeed check-config /etc/slotfeed/region.json ||
    fail "the installed config does not pass check-config"
dpkg-query -W -f='${Conffiles}\n' slotfeed | grep -q ' /etc/slotfeed/region.json ' ||
    fail "/etc/slotfeed/region.json is not a conffile"
grep -q '"_comment"' /etc/slotfeed/region.json || fail "config has no comments"
unit=/lib/systemd/system/slotfeed.service
grep -qx 'ExecStart=/usr/bin/slotfeed run --config /etc/slotfeed/region.json' "$unit" ||
    fail "$unit does not run /usr/bin/slotfeed"
[ -L /etc/systemd/system/multi-user.target.wants/slotfeed.service ] ||
    fail "the unit is not enabled"
if [ -d /run/systemd/system ]; then
    ! systemctl is-active --quiet slotfeed || fail "installing started the service"
fi
[ -s /usr/share/slotfeed/geo-varmland.json ] || fail "no place table"
[ -s /usr/share/slotfeed/demo-region.json ] || fail "no demo region (slotfeed-sim)"
/usr/bin/slotfeed-sim --help >/dev/null || fail "slotfeed-sim --help"
for page in man8/slotfeed.8 man5/slotfeed.json.5 man1/slotfeed-sim.1; do
    f=/usr/share/man/$page.gz
    [ -s "$f" ] || fail "no $f"
    MANWIDTH=80 LC_ALL=C.UTF-8 man --warnings -E UTF-8 -l -Tutf8 -Z "$f" \
        >/dev/null 2>"$tmp/warn" && [ ! -s "$tmp/warn" ] || {
        cat "$tmp/warn" >&2; fail "$f renders with warnings"; }
done
for d in copyright README.md.gz operations.md.gz config.md.gz; do
    [ -s "/usr/share/doc/slotfeed/$d" ] || fail "no /usr/share/doc/slotfeed/$d"
done
echo "installed: $first; config checks; conffile; unit enabled; man, docs"

# --- upgrade keeps the edited config ----------------------------------------
sed -i 's/"name": "Region Exempel"/"name": "Region Edited By Test"/' \
    /etc/slotfeed/region.json
grep -q 'Region Edited By Test' /etc/slotfeed/region.json || fail "edit failed"
# A newer package whose own example config changed: dpkg would ask; run
# unattended (confold), it keeps the operator's file.
dpkg-deb -R "$deb" "$tmp/up"
sed -i "s/^Version: .*/Version: $version+pkgtest1/" "$tmp/up/DEBIAN/control"
sed -i 's/"name": "Region Exempel"/"name": "Region Exempel 2"/' \
    "$tmp/up/etc/slotfeed/region.json"
dpkg-deb -b "$tmp/up" "$tmp/slotfeed_up.deb" >/dev/null
apt_get install "$tmp/slotfeed_up.deb" || fail "upgrade"
[ "$(dpkg-query -W -f='${Version}' slotfeed)" = "$version+pkgtest1" ] ||
    fail "upgrade did not happen"
grep -q 'Region Edited By Test' /etc/slotfeed/region.json ||
    fail "the upgrade replaced the edited config"
grep -q 'Region Exempel 2' /etc/slotfeed/region.json.dpkg-dist ||
    fail "the new packaged config is not beside it as .dpkg-dist"
rm -f /etc/slotfeed/region.json.dpkg-dist
# Reinstalling the same version keeps it too.
apt_get install --reinstall "$tmp/slotfeed_up.deb" || fail "reinstall"
grep -q 'Region Edited By Test' /etc/slotfeed/region.json ||
    fail "the reinstall replaced the edited config"
echo "upgrade and reinstall keep the edited config"

# --- remove, then purge -----------------------------------------------------
# The state systemd would have made on the first start (StateDirectory=
# with DynamicUser=).
[ -d /var/lib/private ] || { mkdir -m 0700 /var/lib/private; made_private=1; }
mkdir -p /var/lib/private/slotfeed
echo x >/var/lib/private/slotfeed/slotfeed.db
ln -s private/slotfeed /var/lib/slotfeed
apt_get remove slotfeed slotfeed-sim || fail "remove"
[ ! -e /usr/bin/slotfeed ] || fail "remove left /usr/bin/slotfeed"
[ ! -e /usr/bin/slotfeed-sim ] || fail "remove left /usr/bin/slotfeed-sim"
[ -f /etc/slotfeed/region.json ] || fail "remove took the config"
[ -f /var/lib/slotfeed/slotfeed.db ] || fail "remove took the store"
apt_get purge slotfeed slotfeed-sim || fail "purge"
[ ! -e /etc/slotfeed ] || fail "purge left /etc/slotfeed"
[ ! -e /var/lib/slotfeed ] && [ ! -L /var/lib/slotfeed ] ||
    fail "purge left /var/lib/slotfeed"
[ ! -e /var/lib/private/slotfeed ] || fail "purge left /var/lib/private/slotfeed"
[ ! -L /etc/systemd/system/multi-user.target.wants/slotfeed.service ] ||
    fail "purge left the enable symlink"
! dpkg-query -W -f='${Status}' slotfeed 2>/dev/null | grep -q installed ||
    fail "slotfeed still known as installed"
echo "remove keeps config and store; purge removes them"
