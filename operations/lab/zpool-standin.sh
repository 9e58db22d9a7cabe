#!/bin/sh
# The lab's stand-in for zpool (installed as /usr/local/sbin/zpool in every lab node): there is no
# ZFS in this kernel. A pool is a directory shared by all nodes (/var/lib/hpcdk-lab/shared/pools);
# "import" bind-mounts it on the pool's mountpoint in this node, "export" unmounts it. The imported
# state lives in /run, so a power-off loses it as it would lose a kernel's. It answers what the
# ocf:heartbeat:ZFS agent asks: list, list -o health, import, import (listing), export.
set -eu

SHARED=/var/lib/hpcdk-lab/shared/pools
STATE=/run/hpcdk-lab/zpool
mkdir -p "$STATE"

die() {
    echo "cannot $*" >&2
    exit 1
}

known() {
    [ -d "$SHARED/$1" ] && [ -f "$SHARED/$1.mountpoint" ]
}

imported() {
    [ -f "$STATE/$1" ]
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
list)
    # -o takes columns (name, health, and for the monitoring's zpool collector size, allocated,
    # free, fragmentation, from the pool directory's file system); -H and -p are taken as given.
    cols=name
    name=""
    while [ $# -gt 0 ]; do
        case $1 in
        -H | -p | -Hp | -pH) ;;
        -o)
            shift
            cols=$1
            ;;
        *) name=$1 ;;
        esac
        shift
    done
    if [ -n "$name" ]; then
        imported "$name" || {
            echo "cannot open '$name': no such pool" >&2
            exit 1
        }
        pools=$name
    else
        pools=""
        for f in "$STATE"/*; do
            [ -e "$f" ] && pools="$pools $(basename "$f")"
        done
    fi
    for pool in $pools; do
        line=""
        for col in $(echo "$cols" | tr , ' '); do
            case $col in
            name) v=$pool ;;
            health) v=ONLINE ;;
            size) v=$(df -B1 --output=size "$(cat "$STATE/$pool")" | tail -n 1 | tr -d ' ') ;;
            allocated | alloc) v=$(df -B1 --output=used "$(cat "$STATE/$pool")" | tail -n 1 | tr -d ' ') ;;
            free) v=$(df -B1 --output=avail "$(cat "$STATE/$pool")" | tail -n 1 | tr -d ' ') ;;
            fragmentation | frag) v=0 ;;
            *) v=- ;;
            esac
            line="$line${line:+$(printf '\t')}$v"
        done
        echo "$line"
    done
    ;;
import)
    name=""
    while [ $# -gt 0 ]; do
        case $1 in
        -f | -N) ;;
        -d | -o) shift ;;
        *) name=$1 ;;
        esac
        shift
    done
    if [ -z "$name" ]; then
        # The listing `zpool import` prints for pools that can be imported.
        for d in "$SHARED"/*.mountpoint; do
            [ -e "$d" ] || continue
            p=$(basename "$d" .mountpoint)
            imported "$p" || printf '   pool: %s\n     id: 0\n  state: ONLINE\n action: The pool can be imported using its name.\n\n' "$p"
        done
        exit 0
    fi
    known "$name" || die "import '$name': no such pool available"
    imported "$name" && exit 0
    mountpoint=$(cat "$SHARED/$name.mountpoint")
    mkdir -p "$mountpoint"
    mount --bind "$SHARED/$name" "$mountpoint" || die "import '$name': mount on $mountpoint failed"
    echo "$mountpoint" > "$STATE/$name"
    ;;
export)
    name=""
    while [ $# -gt 0 ]; do
        case $1 in
        -f) ;;
        *) name=$1 ;;
        esac
        shift
    done
    imported "$name" || die "open '$name': no such pool"
    mountpoint=$(cat "$STATE/$name")
    umount "$mountpoint" 2> /dev/null || umount -l "$mountpoint" || die "export '$name': $mountpoint is busy"
    rm -f "$STATE/$name"
    ;;
status)
    for f in "$STATE"/*; do
        [ -e "$f" ] && printf '  pool: %s\n state: ONLINE\n' "$(basename "$f")"
    done
    ;;
*)
    echo "usage: zpool list|import|export|status (hpcdk lab stand-in)" >&2
    exit 2
    ;;
esac
