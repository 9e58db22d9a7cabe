#!/bin/sh
# power on|off|status NODE-DIR: the power of one lab node, used by the lab itself and by the lab's
# power controller behind powermand (fence_powerman). The node's settings are in NODE-DIR/node.env.
# Off kills the node's init (every process of the node dies at once) and removes its network
# namespace, addresses included (a floating IP it held goes with it); on builds them again and
# boots the node. Each switch is logged to NODE-DIR/power.log (`<epoch seconds> off|on`), so a
# drill can tell when the power was really cut, not only when it asked the fence device.
# With HPCDK_LAB_SWITCH=1 (the power controller's "on"), the node's init starts BOOT_SEC seconds
# after the power (node.env; a server's firmware and boot); the lab's own "on" boots at once.
set -eu

action=$1
dir=$2
# shellcheck source=/dev/null
. "$dir/node.env"

# alive PID: the process exists and has not exited (a zombie has).
alive() {
    [ -r "/proc/$1/stat" ] && ! grep -q '^[0-9]* ([^)]*) [ZX]' "/proc/$1/stat"
}

running() {
    [ -f "$dir/unshare.pid" ] && alive "$(cat "$dir/unshare.pid")"
}

# kill_pool_servers INIT: SIGKILL the pool stand-in's servers (hpcdk-lab-poolfs) of the node whose
# PID namespace INIT is the init of, and wait (at most 5 s) until each has exited.
kill_pool_servers() {
    ns=$(readlink "/proc/$1/ns/pid" 2> /dev/null) || return 0
    pids=""
    for p in $(pgrep -x hpcdk-lab-poolf || true); do
        [ "$(readlink "/proc/$p/ns/pid" 2> /dev/null)" = "$ns" ] && pids="$pids $p"
    done
    [ -n "$pids" ] || return 0
    # shellcheck disable=SC2086 # the PIDs are words
    kill -9 $pids 2> /dev/null || true
    for p in $pids; do
        i=0
        # Exited (its files closed) once it is a zombie or gone.
        while [ "$i" -lt 50 ] && alive "$p"; do
            sleep 0.1
            i=$((i + 1))
        done
    done
}

case $action in
status)
    if running; then echo on; else echo off; fi
    ;;
off)
    if [ -f "$dir/unshare.pid" ]; then
        outer=$(cat "$dir/unshare.pid")
        init=$(cut -d ' ' -f 1 "/proc/$outer/task/$outer/children" 2> /dev/null || true)
        echo "$(date +%s.%N) off" >> "$dir/power.log"
        # The node's pool file systems' servers die first, and are gone before the rest of the node.
        # A poolfs that is the last process of the node's mount namespace to exit unmounts its own
        # fuseblk at exit, and the kernel sends that file system's DESTROY to the dying server itself
        # before its /dev/fuse is closed: it never returns, and holds the super block's lock, so every
        # sync(2) on the machine hangs until the connection is aborted (seen: a CI run stuck 23 min).
        # Killed first, a poolfs loses what it had not flushed, as at a power cut, and is not last.
        kill_pool_servers "$init"
        kill -9 "$init" "$outer" 2> /dev/null || true
        i=0
        while [ "$i" -lt 100 ] && running; do
            sleep 0.1
            i=$((i + 1))
        done
        rm -f "$dir/unshare.pid"
    fi
    ip netns del "$NETNS" 2> /dev/null || true
    ;;
on)
    running && exit 0
    echo "$(date +%s.%N) on" >> "$dir/power.log"
    ip netns del "$NETNS" 2> /dev/null || true
    ip netns add "$NETNS"
    ip -n "$NETNS" link set lo up
    for link in $LINKS; do
        # name,peer,bridge,address,mac
        name=$(echo "$link" | cut -d , -f 1)
        peer=$(echo "$link" | cut -d , -f 2)
        bridge=$(echo "$link" | cut -d , -f 3)
        address=$(echo "$link" | cut -d , -f 4)
        mac=$(echo "$link" | cut -d , -f 5)
        ip -n "$HUB" link del "$peer" 2> /dev/null || true
        # The node's NIC keeps its MAC across boots, so its peers' ARP caches stay right.
        ip -n "$HUB" link add "$peer" type veth peer name "$name" address "$mac" netns "$NETNS"
        ip -n "$HUB" link set "$peer" master "$bridge" up
        ip -n "$NETNS" addr add "$address" dev "$name"
        ip -n "$NETNS" link set "$name" up
    done
    delay=0
    [ "${HPCDK_LAB_SWITCH:-0}" != 1 ] || delay=${BOOT_SEC:-0}
    setsid ip netns exec "$NETNS" unshare --mount --uts --pid --fork tini -s -- /bin/sh "$BOOT" "$NODE" "$dir" "$delay" < /dev/null > /dev/null 2>&1 &
    echo $! > "$dir/unshare.pid"
    ;;
*)
    echo "usage: power on|off|status NODE-DIR" >&2
    exit 2
    ;;
esac
