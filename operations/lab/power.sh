#!/bin/sh
# power on|off|status NODE-DIR: the power of one lab node, used by the lab itself and by the lab's
# power controller behind powermand (fence_powerman). The node's settings are in NODE-DIR/node.env.
# Off kills the node's init (every process of the node dies at once) and removes its network
# namespace, addresses included (a floating IP it held goes with it); on builds them again and
# boots the node. Each switch is logged to NODE-DIR/power.log (`<epoch seconds> off|on`), so a
# drill can tell when the power was really cut, not only when it asked the fence device.
set -eu

action=$1
dir=$2
# shellcheck source=/dev/null
. "$dir/node.env"

running() {
    [ -f "$dir/unshare.pid" ] || return 1
    pid=$(cat "$dir/unshare.pid")
    [ -r "/proc/$pid/stat" ] && ! grep -q '^[0-9]* ([^)]*) [ZX]' "/proc/$pid/stat"
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
    setsid ip netns exec "$NETNS" unshare --mount --uts --pid --fork tini -s -- /bin/sh "$BOOT" "$NODE" "$dir" < /dev/null > /dev/null 2>&1 &
    echo $! > "$dir/unshare.pid"
    ;;
*)
    echo "usage: power on|off|status NODE-DIR" >&2
    exit 2
    ;;
esac
