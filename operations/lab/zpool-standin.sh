#!/bin/sh
# The lab's stand-in for zpool and zfs (installed as /usr/local/sbin/zpool and zfs in every lab
# node): there is no ZFS in this kernel. A pool is a directory shared by all nodes (the "disks",
# /var/lib/hpcdk-lab/shared/pools/POOL). "import" runs hpcdk-lab-poolfs, a FUSE file system of
# this node over that directory that keeps written data in the node's memory until it is
# flushed (fsync, a 5 s transaction-group timer, export), so a power cut loses what ZFS would
# lose; "export" flushes and unmounts it. The imported state lives in /run, so a power-off loses
# it as it would lose a kernel's.
#
# Multihost protection (MMP), as ZFS does it with multihost=on: the importing node's poolfs
# writes a heartbeat (POOL.mmp: state, hostid, sequence) every zfs_multihost_interval. An import
# of a pool whose heartbeat says another host holds it watches the heartbeat as long as the zfs
# module settings in /etc/modprobe.d say (twice zfs_multihost_fail_intervals × the interval,
# or zfs_multihost_import_intervals × the interval when fail intervals are 0), and refuses when
# it moves ("-f" does not override MMP); a cleanly exported pool imports at once. The wait goes
# to /var/log/hpcdk-lab/zpool.log, where hpcdk drill finds it. POOL.multihost "off" turns it off.
#
# It answers what the ocf:heartbeat:ZFS agent and hpcdk-zpool-create-POOL ask: zpool list,
# list -o health, import, import (listing), export, status; zfs create -p [-o sync=V], zfs set
# sync=V, zfs get sync (sync=disabled: fsync is ignored in that dataset, as in ZFS).
set -eu

SHARED=/var/lib/hpcdk-lab/shared/pools
STATE=/run/hpcdk-lab/zpool
LOG=/var/log/hpcdk-lab/zpool.log
POOLFS=${HPCDK_LAB_POOLFS:-/usr/local/sbin/hpcdk-lab-poolfs}
mkdir -p "$STATE" "$(dirname "$LOG")"

die() {
    echo "cannot $*" >&2
    exit 1
}

# The pool's record of every import and export (POOL.history, on the "disks", so every node
# appends to one file): "<epoch seconds.ns> <hostname> <hostid> import|export". Tests read it to
# prove that no pool was ever imported on two nodes at once.
record() {
    printf '%s %s %s %s\n' "$(date +%s.%N)" "$(hostname)" "$(hostid)" "$2" >> "$SHARED/$1.history"
}

known() {
    [ -d "$SHARED/$1" ] && [ -f "$SHARED/$1.mountpoint" ]
}

# A process that runs (a zombie no longer does: a killed poolfs may wait a while to be reaped).
alive() {
    [ -r "/proc/$1/stat" ] && ! grep -q '^[0-9]* ([^)]*) [ZX]' "/proc/$1/stat" 2> /dev/null
}

# Imported on this node: its poolfs runs (a dead poolfs is a pool that faulted).
imported() {
    [ -f "$STATE/$1" ] && [ -f "$STATE/$1.pid" ] && alive "$(cat "$STATE/$1.pid")"
}

# A zfs module parameter from /etc/modprobe.d (hpcdk renders hpcdk-zfs.conf), or its default.
param() {
    v=$(cat /etc/modprobe.d/*.conf 2> /dev/null | sed -n "s/^options zfs .*\\b$1=\\([0-9][0-9]*\\).*/\\1/p" | tail -n 1)
    echo "${v:-$2}"
}

dataset_dir() {
    pool=${1%%/*}
    imported "$pool" || die "$2 $1: pool $pool is not imported on this node"
    echo "$(awk '{ print $NF }' "$STATE/$pool")/${1#*/}"
}

# zfs set sync=V POOL/DIR: kept in the pool's properties (on the "disks", so it moves with it).
set_sync() {
    pool=${1%%/*}
    case $2 in standard | always | disabled) ;; *) die "set sync=$2: expected standard, always or disabled" ;; esac
    props=$SHARED/$pool.props
    touch "$props"
    grep -v "^${1#*/} " "$props" > "$props.tmp" || true
    [ "$2" = standard ] || echo "${1#*/} sync=$2" >> "$props.tmp"
    mv "$props.tmp" "$props"
}

if [ "$(basename "$0")" = zfs ]; then
    case "${1:-} ${2:-}" in
    "create -p")
        shift 2
        sync=""
        if [ "${1:-}" = -o ]; then
            case $2 in sync=*) sync=${2#sync=} ;; *) die "run zfs create -o $2: the lab's stand-in knows only sync=" ;; esac
            shift 2
        fi
        [ $# -eq 1 ] || die "run zfs create -p $*: expected one POOL/DIR"
        dir=$(dataset_dir "$1" create)
        mkdir -p "$dir"
        [ -z "$sync" ] || set_sync "$1" "$sync"
        ;;
    "set sync="*)
        [ $# -eq 3 ] || die "run zfs $*: expected zfs set sync=VALUE POOL/DIR"
        dataset_dir "$3" set > /dev/null
        set_sync "$3" "${2#sync=}"
        ;;
    "inherit sync")
        [ $# -eq 3 ] || die "run zfs $*: expected zfs inherit sync POOL/DIR"
        dataset_dir "$3" inherit > /dev/null
        set_sync "$3" standard
        ;;
    "get -H")
        # zfs get -H -o value sync POOL/DIR
        if [ $# -ne 6 ] || [ "$3" != -o ] || [ "$4" != value ] || [ "$5" != sync ]; then
            die "run zfs $*: expected zfs get -H -o value sync POOL/DIR"
        fi
        v=$(sed -n "s|^${6#*/} sync=||p" "$SHARED/${6%%/*}.props" 2> /dev/null | tail -n 1)
        echo "${v:-standard}"
        ;;
    *)
        die "run zfs $*: the lab's stand-in knows only zfs create -p [-o sync=V] POOL/DIR, zfs set sync=V, zfs inherit sync and zfs get -H -o value sync"
        ;;
    esac
    exit 0
fi

# The MMP activity check before importing $1 (see the header). Returns non-zero when another host
# still writes the pool's heartbeat.
activity_check() {
    name=$1
    mmp=$SHARED/$name.mmp
    [ "$(cat "$SHARED/$name.multihost" 2> /dev/null || echo on)" = on ] || return 0
    [ -f "$mmp" ] || return 0
    read -r state holder seq _ remote_interval remote_fail < "$mmp" || return 0
    [ "$state" = ACTIVE ] || return 0
    mine=$(hostid)
    [ "$holder" != "$mine" ] || return 0
    interval=$(param zfs_multihost_interval 1000)
    intervals=$(param zfs_multihost_import_intervals 20)
    # As OpenZFS' spa_activity_check_duration: the holder's fail intervals and interval from its
    # heartbeat (its uberblock), else this node's import intervals (never under 1 s).
    wait_ms=$(awk -v f="${remote_fail:-0}" -v ri="${remote_interval:-$interval}" -v i="$interval" -v n="$intervals" \
        'BEGIN { if (f > 0) w = f * ri * 2; else { w = n * i; if (n * ri > w) w = n * ri; if (w < 1000) w = 1000 }; print int(w) }')
    begin=$(date +%s.%N)
    end_ms=$(($(date +%s%3N) + wait_ms))
    while [ "$(date +%s%3N)" -lt "$end_ms" ]; do
        sleep 0.1
        read -r _ _ now_seq _ < "$mmp" || true
        if [ "$now_seq" != "$seq" ]; then
            echo "$(date +%s.%N) import $name mmp-refused $begin $(date +%s.%N) hostid $holder" >> "$LOG"
            echo "cannot import '$name': pool is imported on another host (hostid $holder, its MMP heartbeat moves): export it there first" >&2
            return 1
        fi
    done
    echo "$(date +%s.%N) import $name mmp-wait $begin $(date +%s.%N) last held by hostid $holder, ${wait_ms} ms" >> "$LOG"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
list)
    # -o takes columns (name, health, and for the monitoring's zpool collector size, allocated,
    # free, fragmentation, from the pool's mounted file system); -H and -p are taken as given.
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
        if ! imported "$name" && [ ! -f "$STATE/$name" ]; then
            echo "cannot open '$name': no such pool" >&2
            exit 1
        fi
        pools=$name
    else
        pools=""
        for f in "$STATE"/*; do
            case $f in *.pid) continue ;; esac
            [ -e "$f" ] && pools="$pools $(basename "$f")"
        done
    fi
    for pool in $pools; do
        # Imported, but its file system process died: the pool faulted.
        health=ONLINE
        imported "$pool" || health=FAULTED
        mountpoint=$(cat "$STATE/$pool")
        line=""
        for col in $(echo "$cols" | tr , ' '); do
            case $col in
            name) v=$pool ;;
            health) v=$health ;;
            size) v=-; [ $health = FAULTED ] || v=$(df -B1 --output=size "$mountpoint" 2> /dev/null | tail -n 1 | tr -d ' ') ;;
            allocated | alloc) v=-; [ $health = FAULTED ] || v=$(df -B1 --output=used "$mountpoint" 2> /dev/null | tail -n 1 | tr -d ' ') ;;
            free) v=-; [ $health = FAULTED ] || v=$(df -B1 --output=avail "$mountpoint" 2> /dev/null | tail -n 1 | tr -d ' ') ;;
            fragmentation | frag) v=0 ;;
            *) v=- ;;
            esac
            line="$line${line:+$(printf '\t')}${v:--}"
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
    activity_check "$name" || exit 1
    mountpoint=$(cat "$SHARED/$name.mountpoint")
    mkdir -p "$mountpoint"
    umount -l "$mountpoint" 2> /dev/null || true
    txg=$(param zfs_txg_timeout 5)
    # The pool's block device (a loop device the lab made): the mount's device number, which NFS
    # servers put in their file handles, is then the same on every node.
    blkdev=""
    [ ! -s "$SHARED/$name.blkdev" ] || blkdev="--blkdev $(cat "$SHARED/$name.blkdev")"
    # shellcheck disable=SC2086 # $blkdev is two words or none
    setsid "$POOLFS" "$SHARED/$name" "$mountpoint" --txg-sec "$txg" --props "$SHARED/$name.props" $blkdev \
        --mmp-file "$SHARED/$name.mmp" --mmp-interval-ms "$(param zfs_multihost_interval 1000)" \
        --mmp-fail-intervals "$(param zfs_multihost_fail_intervals 10)" --hostid "$(hostid)" \
        < /dev/null >> /var/log/hpcdk-lab/poolfs-"$name".log 2>&1 &
    echo $! > "$STATE/$name.pid"
    i=0
    until grep -q " $mountpoint fuse\(blk\)\{0,1\}\.hpcdk " /proc/mounts; do
        i=$((i + 1))
        if [ "$i" -gt 100 ] || ! alive "$(cat "$STATE/$name.pid")"; then
            rm -f "$STATE/$name.pid"
            die "import '$name': its file system did not mount on $mountpoint: $(tail -n 3 /var/log/hpcdk-lab/poolfs-"$name".log 2> /dev/null | tr '\n' ' ')"
        fi
        sleep 0.05
    done
    echo "$mountpoint" > "$STATE/$name"
    record "$name" import
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
    [ -f "$STATE/$name" ] || die "open '$name': no such pool"
    mountpoint=$(cat "$STATE/$name")
    pid=$(cat "$STATE/$name.pid" 2> /dev/null || echo "")
    # SIGTERM: poolfs writes what it holds to the disks, marks the pool exported and unmounts.
    if [ -n "$pid" ] && alive "$pid"; then
        kill -TERM "$pid"
        i=0
        while alive "$pid" && [ "$i" -lt 200 ]; do
            sleep 0.05
            i=$((i + 1))
        done
        if alive "$pid"; then die "export '$name': its file system does not stop ($mountpoint is busy)"; fi
    fi
    umount "$mountpoint" 2> /dev/null || umount -l "$mountpoint" 2> /dev/null || true
    rm -f "$STATE/$name" "$STATE/$name.pid"
    record "$name" export
    ;;
status)
    for f in "$STATE"/*; do
        case $f in *.pid) continue ;; esac
        [ -e "$f" ] && printf '  pool: %s\n state: ONLINE\n' "$(basename "$f")"
    done
    ;;
*)
    echo "usage: zpool list|import|export|status (hpcdk lab stand-in)" >&2
    exit 2
    ;;
esac
