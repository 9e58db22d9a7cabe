#!/bin/sh
# Installs the Debian packages the tests run. Each part of hpcdk lists its own in
# scripts/test-packages/<part>.txt (one package per line, # starts a comment).
set -eu
cd "$(dirname "$0")"

PACKAGES=$(sed -e 's/#.*//' test-packages/*.txt | tr -s ' \n' '\n' | grep -v '^$' | sort -u | tr '\n' ' ')

if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "install-test-deps: run as root (or install sudo): apt-get needs it" >&2
    exit 1
fi

# The cdktf CLI, for the test that deploys as users do (`cdktf deploy`): about 400 MB, so it is
# not one of the project's dependencies. Pinned to the cdktf library's version.
CDKTF_VERSION=0.21.0
CDKTF_DIR=/var/cache/hpcdk/cdktf-cli
install_cdktf() {
    if [ "$("$CDKTF_DIR/node_modules/.bin/cdktf" --version 2>/dev/null)" = "$CDKTF_VERSION" ]; then
        echo "install-test-deps: cdktf-cli $CDKTF_VERSION is installed in $CDKTF_DIR"
        return
    fi
    echo "install-test-deps: installing cdktf-cli $CDKTF_VERSION into $CDKTF_DIR"
    $SUDO mkdir -p "$CDKTF_DIR"
    [ -f "$CDKTF_DIR/package.json" ] || echo '{ "private": true, "description": "the cdktf CLI for hpcdk'"'"'s tests" }' | $SUDO tee "$CDKTF_DIR/package.json" >/dev/null
    # Run in the directory rather than with --prefix: --prefix also moves npm's global config
    # ($PREFIX/etc/npmrc), where a machine keeps its registry, proxy and CA settings.
    (cd "$CDKTF_DIR" && $SUDO env CHECKPOINT_DISABLE=1 npm install --no-save --no-package-lock --no-audit --no-fund --loglevel=error "cdktf-cli@$CDKTF_VERSION")
}

missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then
    echo "install-test-deps: all test packages are installed"
else
    echo "install-test-deps: installing$missing"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -qq
    # shellcheck disable=SC2086 # the package list is split on purpose
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends $missing
fi
# The live-change lab test repacks the installed pacemaker, corosync and resource-agents packages
# into a local apt repository (test/lab/live-change-lab.ts); the tests run with no network, so
# their .debs must be in apt's cache.
upgraded=$(dpkg-query -W -f '${source:Package} ${Package} ${db:Status-Status}\n' | awk '$3 == "installed" && ($1 == "pacemaker" || $1 == "corosync" || $1 == "resource-agents") { print $2 }')
missing_debs=""
for p in $upgraded; do
    v=$(dpkg-query -W -f '${Version}' "$p")
    a=$(dpkg-query -W -f '${Architecture}' "$p")
    # apt names a version with an epoch 1%3a4.12.0-2 in its cache.
    [ -f "/var/cache/apt/archives/${p}_$(echo "$v" | sed 's/:/%3a/')_${a}.deb" ] || missing_debs="$missing_debs $p=$v"
done
if [ -n "$missing_debs" ]; then
    echo "install-test-deps: downloading into apt's cache$missing_debs"
    # shellcheck disable=SC2086 # the package list is split on purpose
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -o APT::Keep-Downloaded-Packages=true install -y -qq --reinstall --download-only --no-install-recommends $missing_debs
fi
install_cdktf
