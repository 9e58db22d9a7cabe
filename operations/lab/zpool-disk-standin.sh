#!/bin/sh
# The Vagrant lab's stand-in for zpool, installed as /usr/local/sbin/zpool in VMs whose box has no
# ZFS (lab.vagrant.zpoolStandIn). The namespace lab's stand-in (zpool-standin.sh) shares a
# directory between nodes; VMs share real block devices, so here a pool is an ext4 file system on
# the pool's first shared disk, and every state comes from the disks and the kernel:
#
# - create: mkfs.ext4 on the first device of the vdevs (the others are left alone: no redundancy),
#   labelled with the pool's name, with ext4's multiple mount protection (MMP) when the pool asks
#   for multihost=on, as ZFS's multihost activity check refuses a pool another host has imported;
#   the pool's properties go into a file on it, /.hpcdk-zpool-standin; then the pool is imported,
#   as zpool create leaves it;
# - import: finds the pool by its label among the block devices in the -d directories (default
#   /dev/disk/by-id), reads the mountpoint from the file system without mounting it (debugfs),
#   and mounts it there; MMP makes the mount wait and refuses a disk another VM has mounted;
# - export: unmounts it, refusing while any other mount of the disk remains (a bind mount of a
#   directory in the pool, like nfsserver's /var/lib/nfs);
# - list, status: a pool is imported when its disk is mounted on its mountpoint in /proc/mounts
#   (a power cut loses that with the kernel's state).
#
# It answers what ocf:heartbeat:ZFS and hpcdk-zpool-create-<pool> ask, with their options.
set -eu

PROPS=.hpcdk-zpool-standin
# Which disk and mountpoint each imported pool has (tests put it elsewhere).
STATE=${HPCDK_ZPOOL_STANDIN_STATE:-/run/hpcdk-lab/zpool}

die() {
    echo "cannot $*" >&2
    exit 1
}

# A zfs module parameter from /etc/modprobe.d (hpcdk renders hpcdk-zfs.conf), or its default.
param() {
    v=$(cat /etc/modprobe.d/*.conf 2> /dev/null | sed -n "s/^options zfs .*\\b$1=\\([0-9][0-9]*\\).*/\\1/p" | tail -n 1)
    echo "${v:-$2}"
}

# The kernel's name of a device (what /proc/mounts shows).
real() {
    readlink -f "$1"
}

# mounted_on DEVICE: every mountpoint of the device in this mount namespace, one a line.
mounted_on() {
    r=$(real "$1")
    while read -r source target _; do
        if [ "$source" = "$r" ]; then echo "$target"; fi
    done < /proc/mounts
}

# imported POOL: the pool's disk is mounted on its mountpoint (STATE remembers which disk and
# mountpoint; the mount table says whether it still is).
imported() {
    [ -f "$STATE/$1" ] || return 1
    read -r device mountpoint < "$STATE/$1"
    mounted_on "$device" | grep -qx "$mountpoint"
}

imported_pools() {
    [ -d "$STATE" ] || return 0
    for f in "$STATE"/*; do
        [ -f "$f" ] || continue
        p=$(basename "$f")
        if imported "$p"; then echo "$p"; fi
    done
}

# scan DIR...: "POOL DEVICE" for every stand-in pool on the block devices in the directories.
scan() {
    seen=" "
    for dir in "$@"; do
        for dev in "$dir"/*; do
            [ -b "$dev" ] || continue
            r=$(real "$dev")
            case $seen in *" $r "*) continue ;; esac
            seen="$seen$r "
            # -p: read the disk itself, not blkid's cache (another VM may have just written it).
            [ "$(blkid -p -o value -s TYPE "$dev" 2> /dev/null || true)" = ext4 ] || continue
            label=$(blkid -p -o value -s LABEL "$dev" 2> /dev/null || true)
            [ -n "$label" ] || continue
            if props_of "$dev" | grep -qx "pool=$label"; then echo "$label $dev"; fi
        done
    done
}

# props_of DEVICE: the pool's properties file, read from the disk without mounting it.
props_of() {
    # -c: without the bitmaps, which a file system not cleanly unmounted (a power cut) may have
    # stale; the properties file is written once, at creation, and never changes.
    debugfs -c -R "cat /$PROPS" "$1" 2> /dev/null || true
}

prop() {
    sed -n "s/^$1=//p" | head -n 1
}

# Run as zfs (the lab installs this stand-in under that name too): `zfs create -p POOL/DIR`, what
# hpcdk-zpool-create-<pool> runs for the site's exports, makes DIR in the imported pool.
if [ "$(basename "$0")" = zfs ]; then
    if [ $# -ne 3 ] || [ "$1" != create ] || [ "$2" != -p ]; then
        die "run zfs $*: the lab's stand-in knows only zfs create -p POOL/DIR"
    fi
    pool=${3%%/*}
    imported "$pool" || die "create $3: pool $pool is not imported on this node"
    mkdir -p "$(awk '{ print $NF }' "$STATE/$pool")/${3#*/}"
    exit 0
fi

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
create)
    force=false
    multihost=off
    mountpoint=""
    while [ $# -gt 0 ]; do
        case $1 in
        -f) force=true ;;
        -m)
            shift
            mountpoint=$1
            ;;
        -o)
            shift
            case $1 in multihost=*) multihost=${1#multihost=} ;; esac
            ;;
        -O)
            shift
            case $1 in mountpoint=*) mountpoint=${1#mountpoint=} ;; esac
            ;;
        -*) die "create: option $1 is not supported by the lab's zpool stand-in" ;;
        *) break ;;
        esac
        shift
    done
    pool=${1:-}
    [ -n "$pool" ] || die "create: no pool name"
    shift
    [ "${#pool}" -le 16 ] || die "create '$pool': the lab's zpool stand-in keeps the name in an ext4 label (16 characters at most)"
    mountpoint=${mountpoint:-/$pool}
    devices=""
    first=""
    for word in "$@"; do
        case $word in
        mirror | raidz | raidz1 | raidz2 | raidz3 | stripe) ;;
        *)
            [ -b "$word" ] || die "create '$pool': $word is not a block device"
            devices="$devices${devices:+ }$word"
            first=${first:-$word}
            ;;
        esac
    done
    [ -n "$first" ] || die "create '$pool': no devices"
    imported "$pool" && die "create '$pool': pool already exists"
    if [ -n "$(mounted_on "$first")" ]; then die "create '$pool': $first is in use"; fi
    if ! $force && [ -n "$(blkid -p -o value -s TYPE "$first" 2> /dev/null || true)" ]; then
        die "create '$pool': $first holds a file system (use -f)"
    fi
    # MMP's block is rewritten every mmp_update_interval seconds, and an import waits twice
    # (2 x check interval + 1 s) when the pool was not exported cleanly: at the default 5 s that is
    # 42 s; at 1 s, 22 s (the kernel's check interval is at least 5 s).
    mmp=""
    [ "$multihost" = on ] && mmp="-O mmp -E mmp_update_interval=1"
    # shellcheck disable=SC2086 # $mmp is words or none
    mkfs.ext4 -q -F -L "$pool" $mmp "$first" || die "create '$pool': mkfs.ext4 on $first failed"
    mkdir -p "$mountpoint" "$STATE"
    mount -t ext4 "$first" "$mountpoint" || die "create '$pool': mount on $mountpoint failed"
    printf 'pool=%s\nmountpoint=%s\nmultihost=%s\ndevices=%s\n' "$pool" "$mountpoint" "$multihost" "$devices" > "$mountpoint/$PROPS"
    sync -f "$mountpoint/$PROPS"
    echo "$first $mountpoint" > "$STATE/$pool"
    ;;
import)
    dirs=""
    pool=""
    while [ $# -gt 0 ]; do
        case $1 in
        -f | -N) ;;
        -d)
            shift
            dirs="$dirs${dirs:+ }$1"
            ;;
        -o) shift ;;
        -*) die "import: option $1 is not supported by the lab's zpool stand-in" ;;
        *) pool=$1 ;;
        esac
        shift
    done
    # shellcheck disable=SC2086 # the directories are words
    found=$(scan ${dirs:-/dev/disk/by-id})
    if [ -z "$pool" ]; then
        # The listing `zpool import` prints of the pools that can be imported.
        echo "$found" | while read -r p dev; do
            [ -n "$p" ] || continue
            imported "$p" || printf '   pool: %s\n     id: 0\n  state: ONLINE\n action: The pool can be imported using its name.\n config:\n\n\t%s  ONLINE\n\t  %s  ONLINE\n\n' "$p" "$p" "$dev"
        done
        exit 0
    fi
    imported "$pool" && exit 0
    device=$(echo "$found" | while read -r p dev; do if [ "$p" = "$pool" ]; then echo "$dev"; fi; done | head -n 1)
    [ -n "$device" ] || die "import '$pool': no such pool available"
    mountpoint=$(props_of "$device" | prop mountpoint)
    [ -n "$mountpoint" ] || die "import '$pool': $device has no mountpoint in /$PROPS"
    mkdir -p "$mountpoint" "$STATE"
    # A disk another VM held and did not unmount cleanly (e2mmpstatus: in use) is what ZFS' MMP
    # activity check waits for: as long as the zfs module settings in /etc/modprobe.d say (twice
    # zfs_multihost_fail_intervals x zfs_multihost_interval, or zfs_multihost_import_intervals x
    # the interval when fail intervals are 0), and at least as long as ext4's own MMP wait.
    begin=$(date +%s.%N)
    begin_ms=$(date +%s%3N)
    unclean=false
    if [ "$(props_of "$device" | prop multihost)" = on ] && ! e2mmpstatus "$device" > /dev/null 2>&1; then unclean=true; fi
    # With MMP the kernel waits here, and refuses a disk another VM keeps mounted.
    mount -t ext4 "$device" "$mountpoint" || die "import '$pool': mounting $device on $mountpoint failed"
    if $unclean; then
        interval=$(param zfs_multihost_interval 1000)
        fail=$(param zfs_multihost_fail_intervals 10)
        intervals=$(param zfs_multihost_import_intervals 20)
        wait_ms=$(awk -v f="$fail" -v i="$interval" -v n="$intervals" 'BEGIN { if (f > 0) w = f * i * 2; else w = n * i; if (w < 1000) w = 1000; print int(w) }')
        left=$((begin_ms + wait_ms - $(date +%s%3N)))
        [ "$left" -le 0 ] || sleep "$(awk -v l="$left" 'BEGIN { printf "%.3f", l / 1000 }')"
        mkdir -p /var/log/hpcdk-lab
        echo "$(date +%s.%N) import $pool mmp-wait $begin $(date +%s.%N) not exported cleanly, ${wait_ms} ms" >> /var/log/hpcdk-lab/zpool.log
    fi
    echo "$device $mountpoint" > "$STATE/$pool"
    ;;
export)
    pool=""
    while [ $# -gt 0 ]; do
        case $1 in
        -f) ;;
        *) pool=$1 ;;
        esac
        shift
    done
    imported "$pool" || die "open '$pool': no such pool"
    read -r device mountpoint < "$STATE/$pool"
    others=$(mounted_on "$device" | grep -vx "$mountpoint" || true)
    [ -z "$others" ] || die "export '$pool': pool is busy (also mounted on $(echo "$others" | tr '\n' ' '))"
    umount "$mountpoint" || die "export '$pool': $mountpoint is busy"
    rm -f "$STATE/$pool"
    ;;
list)
    fields=name
    pool=""
    while [ $# -gt 0 ]; do
        case $1 in
        -H) ;;
        -o)
            shift
            fields=$1
            ;;
        *) pool=$1 ;;
        esac
        shift
    done
    if [ -n "$pool" ]; then
        imported "$pool" || die "open '$pool': no such pool"
        pools=$pool
    else
        pools=$(imported_pools)
    fi
    tab=$(printf '\t')
    for p in $pools; do
        line=""
        for f in $(echo "$fields" | tr ',' ' '); do
            case $f in
            name) v=$p ;;
            health) v=ONLINE ;;
            *) v=- ;;
            esac
            line="$line${line:+$tab}$v"
        done
        echo "$line"
    done
    ;;
status)
    for p in ${1:-$(imported_pools)}; do
        imported "$p" || die "open '$p': no such pool"
        read -r device mountpoint < "$STATE/$p"
        printf '  pool: %s\n state: ONLINE\nconfig:\n\n\t%s  ONLINE\n\t  %s  ONLINE (ext4 on %s)\n\n' "$p" "$p" "$device" "$mountpoint"
    done
    ;;
*)
    echo "usage: zpool create|import|export|list|status (hpcdk Vagrant lab stand-in)" >&2
    exit 2
    ;;
esac
