#!/bin/bash
# Runs the README's two set-up commands in a fresh, minimal Debian 12 root, so that a package a
# test needs and no install step names fails here instead of on a newcomer's machine.
#
#   scripts/fresh-test.sh [--keep] [VITEST ARGS...]
#
# 1. A minimal Debian 12 root (mmdebstrap --variant=minbase) from the Debian apt sources this
#    machine is configured with, plus what a fresh machine of the project's kind has besides
#    Debian's minimal system: sudo and ca-certificates (packages), and this machine's Node.js,
#    npm and Terraform (copied: they come from no Debian repository). The root is cached as a
#    tarball under /var/cache/hpcdk/fresh-root/, keyed by its package list and apt sources, so a
#    second run starts in seconds.
# 2. The checkout, as git knows it (a clone of HEAD, then the working tree's uncommitted and
#    untracked files on top; nothing git ignores: no node_modules, cdktf.out, secrets or caches).
# 3. Inside the root (pivot_root into it, in a private mount and PID namespace: its own /proc,
#    /run, /dev/shm; /dev and /sys from this machine), as root, each part of the README's set-up
#    commands in order, timed: `npm ci`, `npm run synth`, `sudo scripts/install-test-deps.sh`,
#    `npm ci`, `npm test` (with VITEST ARGS after `--`). The tests run in a network namespace of
#    their own, with loopback and an address that leads nowhere: they need no network.
# 4. The root is removed at the end (--keep keeps it and prints where it is).
#
# Nothing of this machine's packages is touched (but mmdebstrap itself, installed when missing).
# Downloads are cached for the next run: .deb files under /var/cache/hpcdk/fresh-root/apt and npm's
# cache under /var/cache/hpcdk/fresh-root/npm; the installs themselves run every time.
set -euo pipefail

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
}

die() { echo "fresh-test: $*" >&2; exit 1; }

# The inner part runs inside the private mount and PID namespace.
if [ "${1:-}" = "--inside" ]; then
    ROOT=$2
    mount --make-rprivate /
    # The root is a mount of its own, as / is on a real machine: `unshare --mount` (the tests' and
    # the labs') changes the propagation of /, which fails when / is not a mount point.
    mount --bind "$ROOT" "$ROOT"
    mount --rbind /dev "$ROOT/dev"
    mount --make-rslave "$ROOT/dev"
    mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$ROOT/dev/shm"
    mount -t proc proc "$ROOT/proc"
    mount --rbind /sys "$ROOT/sys"
    mount --make-rslave "$ROOT/sys"
    mount -t tmpfs -o mode=755,nosuid,nodev tmpfs "$ROOT/run"
    mkdir -p "$ROOT/run/lock" && chmod 1777 "$ROOT/run/lock"
    mount --bind "$APT_CACHE" "$ROOT/var/cache/apt/archives"
    mkdir -p "$ROOT/root/.npm" && mount --bind "$NPM_CACHE" "$ROOT/root/.npm"
    # The tests' network: a namespace of its own with loopback and one interface with an address
    # of TEST-NET-2 (RFC 5737), as a machine with a network but no way out (programs that look for
    # a non-loopback address, such as getaddrinfo's AI_ADDRCONFIG, need one). The default route is
    # unreachable, so a DNS lookup fails at once instead of waiting for a nameserver that never
    # answers (corosync -t resolving an unknown host name waited over 2 minutes).
    netns=$ROOT/run/fresh-test.netns
    touch "$netns"
    unshare --net="$netns" true
    # Never configure this machine's own network by mistake.
    [ "$(stat -L -c %i "$netns")" != "$(stat -L -c %i /proc/self/ns/net)" ] || die "the tests' network namespace is this machine's"
    nsenter --net="$netns" sh -e -c '
        ip link set lo up
        ip link add fresh0 type veth peer name fresh1
        ip addr add 198.51.100.10/24 dev fresh0
        ip link set fresh0 up
        ip link set fresh1 up
        ip route add unreachable default'
    # pivot_root rather than chroot: the kernel refuses user namespaces (rootless podman,
    # Charliecloud) to a chrooted process.
    mkdir -p "$ROOT/.old-root"
    cd "$ROOT"
    pivot_root . .old-root
    exec chroot . /bin/sh -c 'umount -l /.old-root && rmdir /.old-root && exec /bin/bash /root/fresh-test-run.sh'
fi

KEEP=0
VITEST_ARGS=()
while [ $# -gt 0 ]; do
    case $1 in
        --keep) KEEP=1; shift ;;
        -h|--help) usage; exit 0 ;;
        --) shift; VITEST_ARGS+=("$@"); break ;;
        *) VITEST_ARGS+=("$1"); shift ;;
    esac
done

[ "$(id -u)" -eq 0 ] || die "run as root: the root is built with mmdebstrap and entered with chroot"
SRC=$(cd "$(dirname "$0")/.." && pwd)
CACHE=/var/cache/hpcdk/fresh-root
APT_CACHE=$CACHE/apt
NPM_CACHE=$CACHE/npm
SUITE=bookworm
# What a fresh machine of the project's kind has besides Debian's minimal system (Node.js, npm and
# Terraform are copied from this machine below). Everything else must come from the README's
# set-up commands.
BASE_PACKAGES="ca-certificates,sudo"

for tool in git unshare nsenter pivot_root chroot tar ip; do
    command -v "$tool" >/dev/null || die "needs $tool"
done
if ! command -v mmdebstrap >/dev/null; then
    echo "fresh-test: installing mmdebstrap, which builds the root (the one package this adds to this machine)"
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends mmdebstrap >/dev/null \
        || { DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -qq \
             && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends mmdebstrap >/dev/null; } \
        || die "could not install mmdebstrap (apt-get install mmdebstrap)"
fi
NODE=$(readlink -f "$(command -v node)") || die "needs Node.js (node on PATH)"
NPM_DIR=$(npm root -g)/npm
[ -f "$NPM_DIR/bin/npm-cli.js" ] || die "needs npm (not found at $NPM_DIR)"
TERRAFORM=$(command -v terraform) || die "needs Terraform (terraform on PATH)"

# The Debian apt sources of this machine (deb822 files and sources.list with Debian's keyring or
# mirror); other repositories (vendors' own) are left out: a fresh machine need not have them.
SOURCES=()
for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list /etc/apt/sources.list; do
    [ -f "$f" ] || continue
    grep -qE 'debian-archive-keyring|deb\.debian\.org|security\.debian\.org|/debian/? ' "$f" && SOURCES+=("$f")
done
[ ${#SOURCES[@]} -gt 0 ] || die "no Debian apt source configured on this machine (/etc/apt/sources.list.d/*.sources)"

mkdir -p "$CACHE" "$APT_CACHE" "$NPM_CACHE"
KEY=$( { echo "$SUITE minbase $BASE_PACKAGES"; mmdebstrap --version; cat "${SOURCES[@]}"; } | sha256sum | cut -c1-16)
TARBALL=$CACHE/debian-$SUITE-minbase-$KEY.tar

# Milliseconds since $1 (a `date +%s%N`).
since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
t0=$(date +%s%N)
if [ -f "$TARBALL" ]; then
    echo "fresh-test: minimal Debian root from the cache ($TARBALL, built $(date -r "$TARBALL" -u '+%Y-%m-%d %H:%M UTC'))"
else
    echo "fresh-test: building a minimal Debian $SUITE root (mmdebstrap --variant=minbase) from ${SOURCES[*]}"
    mmdebstrap --quiet --mode=root --variant=minbase --include="$BASE_PACKAGES" \
        "$SUITE" "$CACHE/partial.tar" "${SOURCES[@]}" || { rm -f "$CACHE/partial.tar"; die "mmdebstrap failed"; }
    mv "$CACHE/partial.tar" "$TARBALL"
    # Older roots of other package lists are of no more use.
    find "$CACHE" -maxdepth 1 -name "debian-$SUITE-minbase-*.tar" ! -name "$(basename "$TARBALL")" -delete
fi
ROOT_MS=$(since "$t0")

ROOT=$(mktemp -d /var/tmp/hpcdk-fresh.XXXXXX)
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
    status=$?
    if [ "$KEEP" -eq 1 ]; then
        echo "fresh-test: the root is kept at $ROOT (chroot $ROOT; rm -rf --one-file-system $ROOT when done)"
    elif grep -qF " $ROOT/" /proc/self/mountinfo; then
        echo "fresh-test: something is still mounted under $ROOT: not removing it" >&2
    else
        rm -rf --one-file-system "$ROOT"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

t0=$(date +%s%N)
tar --numeric-owner -xpf "$TARBALL" -C "$ROOT"
# Node.js and npm as this machine has them (its headers too, for node-gyp's nodedir), Terraform.
install -D -m 0755 "$NODE" "$ROOT/usr/bin/node"
mkdir -p "$ROOT/usr/lib/node_modules" "$ROOT/usr/include"
cp -a "$NPM_DIR" "$ROOT/usr/lib/node_modules/npm"
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$ROOT/usr/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$ROOT/usr/bin/npx"
[ -d /usr/include/node ] && cp -a /usr/include/node "$ROOT/usr/include/node"
for rc in /etc/npmrc /usr/etc/npmrc; do [ -f "$rc" ] && install -D -m 0644 "$rc" "$ROOT$rc"; done
install -D -m 0755 "$TERRAFORM" "$ROOT/usr/local/bin/terraform"
# This machine's trust anchors that Debian's ca-certificates lacks (a proxy's or the site's own CA:
# a fresh machine of this kind trusts them too), as local CAs of the root, so that they survive
# update-ca-certificates when a package install reruns it.
one_per_line() { awk '/-----BEGIN CERTIFICATE-----/{c=""} {c = c $0 "|"} /-----END CERTIFICATE-----/{print c}' "$1" | sort -u; }
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
    mkdir -p "$ROOT/usr/local/share/ca-certificates"
    comm -23 <(one_per_line /etc/ssl/certs/ca-certificates.crt) <(one_per_line "$ROOT/etc/ssl/certs/ca-certificates.crt") \
        | awk -v dir="$ROOT/usr/local/share/ca-certificates" '{ f = sprintf("%s/fresh-test-host-%03d.crt", dir, NR); gsub(/\|/, "\n"); printf "%s", $0 > f; close(f) }'
    chroot "$ROOT" update-ca-certificates >/dev/null
fi
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
[ -f /etc/hosts ] && cp /etc/hosts "$ROOT/etc/hosts"

# The checkout: HEAD, then the working tree's changes (tracked files edited or deleted, and
# untracked files git does not ignore).
git clone --quiet --no-hardlinks "$SRC" "$ROOT/root/hpcdk"
git -C "$ROOT/root/hpcdk" checkout --quiet --detach "$(git -C "$SRC" rev-parse HEAD)"
changed=$( (cd "$SRC" && git status --porcelain --untracked-files=all | wc -l) )
if [ "$changed" -gt 0 ]; then
    echo "fresh-test: the checkout has $changed uncommitted or untracked file(s): testing the working tree as it is"
    # shellcheck disable=SC2016 # the inner script's own variables
    (cd "$SRC" && git ls-files -z --cached --others --exclude-standard | xargs -0 -r sh -c 'for f; do [ -e "$f" ] || [ -L "$f" ] && printf "%s\0" "$f"; done' sh) \
        | tar -C "$SRC" --null -T - -cf - | tar -C "$ROOT/root/hpcdk" -xf -
    # shellcheck disable=SC2016 # the inner script's own variables
    (cd "$SRC" && git ls-files -z --deleted) | (cd "$ROOT/root/hpcdk" && xargs -0 -r rm -f --)
fi
COPY_MS=$(since "$t0")

# The README's two set-up commands, each split at `&&` into the parts timed below.
mapfile -t COMMANDS < <(awk '/^## Set up/{s=1; next} s && /^## /{exit} s && /^```/{b=!b; next} s && b && NF' "$SRC/README.md")
[ ${#COMMANDS[@]} -eq 2 ] || die "README.md's \"## Set up\" section must hold exactly two commands in code blocks, found ${#COMMANDS[@]}"
PARTS=()
for c in "${COMMANDS[@]}"; do
    while IFS= read -r p; do PARTS+=("$p"); done < <(echo "$c" | sed 's/ && /\n/g' | sed 's/^ *//; s/ *$//')
done
[ "${PARTS[-1]}" = "npm test" ] || die "the README's test command must end with \`npm test\`, got \"${PARTS[-1]}\""
if [ ${#VITEST_ARGS[@]} -gt 0 ]; then
    printf -v quoted ' %q' "${VITEST_ARGS[@]}"
    PARTS[-1]="npm test --$quoted"
fi

# How this machine reaches the network (a proxy, the CA file Node.js and npm trust), as a fresh
# machine of this kind is set up; nothing else of this environment goes in.
PASS_ENV=()
for v in NODE_EXTRA_CA_CERTS SSL_CERT_FILE SSL_CERT_DIR CURL_CA_BUNDLE http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
    [ -n "${!v:-}" ] && PASS_ENV+=("$v=${!v}")
done
TIMES=$ROOT/root/fresh-test.times
# Inside the root, each part runs with a clean environment; the tests in their network namespace.
{
    echo '#!/bin/bash'
    declare -p PARTS PASS_ENV
    cat <<'RUN'
status=0
: > /root/fresh-test.times
for i in "${!PARTS[@]}"; do
    part=${PARTS[$i]}
    echo
    echo "fresh-test: [$((i + 1))/${#PARTS[@]}] $part"
    start=$(date +%s%N)
    net=()
    [ "$i" -eq $((${#PARTS[@]} - 1)) ] && net=(nsenter --net=/run/fresh-test.netns --)
    "${net[@]}" /usr/bin/env -i HOME=/root USER=root LOGNAME=root LANG=C.UTF-8 TERM="${TERM:-dumb}" CI=1 \
        CHECKPOINT_DISABLE=1 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "${PASS_ENV[@]}" \
        /bin/sh -c "cd /root/hpcdk && $part" || status=$?
    printf '%s\t%s\t%s\n' "$part" "$(( ($(date +%s%N) - start) / 1000000 ))" "$status" >> /root/fresh-test.times
    [ "$status" -eq 0 ] || break
done
exit "$status"
RUN
} > "$ROOT/root/fresh-test-run.sh"

echo "fresh-test: running in $ROOT:"
printf '  %s\n' "${PARTS[@]}"
status=0
export APT_CACHE NPM_CACHE TERM=${TERM:-dumb}
# --mount-proc: this PID namespace's own /proc, which unshare --net=FILE and nsenter read by PID.
unshare --mount --pid --fork --mount-proc --propagation private -- "$(readlink -f "$0")" --inside "$ROOT" || status=$?

echo
echo "fresh-test: times (s), load average $(cut -d' ' -f1-3 /proc/loadavg)"
row() { printf '  %-52s %7d.%d%s\n' "$1" $(($2 / 1000)) $(($2 % 1000 / 100)) "${3:-}"; }
row "minimal Debian root (mmdebstrap, or the cache)" "$ROOT_MS"
row "unpack; Node.js, npm, Terraform; the checkout" "$COPY_MS"
total=$((ROOT_MS + COPY_MS))
while IFS=$'\t' read -r part ms rc; do
    mark=""; [ "$rc" -eq 0 ] || mark="  FAILED (exit $rc)"
    row "$part" "$ms" "$mark"
    total=$((total + ms))
done < "$TIMES"
row "total" "$total"
if [ "$status" -eq 0 ]; then
    echo "fresh-test: PASSED"
else
    echo "fresh-test: FAILED (exit $status)"
fi
exit "$status"
