#!/bin/sh
# Boots one lab node. Runs under tini as PID 1 of the node's own PID namespace, inside its own
# network, mount and UTS namespaces: builds the node's root (an overlay of this machine's root
# with the node's own upper layer), mounts fresh /proc, /sys, /dev/shm, /run and /tmp, and
# starts the node's init in it. Killing tini is a power cut: every process of the node dies.
set -eu

NODE=$1
DIR=$2
ROOT=$DIR/root
# The firmware and boot before the node's init (power.sh: the power switch's "on"): nothing runs.
DELAY=${3:-0}
if [ "$DELAY" -gt 0 ]; then
    sleep "$DELAY"
    echo "$(date +%s.%N) booted" >> "$DIR/power.log"
fi

mount --make-rprivate /
mount -t overlay overlay -o "lowerdir=/,upperdir=$DIR/upper,workdir=$DIR/work" "$ROOT"
mount -t proc proc "$ROOT/proc"
mount -t sysfs sysfs "$ROOT/sys"
mount --rbind /dev "$ROOT/dev"
mount -t tmpfs -o mode=1777 tmpfs "$ROOT/dev/shm"
mount -t tmpfs -o mode=0755 tmpfs "$ROOT/run"
mount -t tmpfs -o mode=1777 tmpfs "$ROOT/tmp"
# What all nodes share: the lab's pools (the stand-in for shared LUNs).
mkdir -p "$ROOT/var/lib/hpcdk-lab/shared"
mount --bind "$(dirname "$DIR")/shared" "$ROOT/var/lib/hpcdk-lab/shared"
hostname "$NODE"
exec chroot "$ROOT" /usr/local/sbin/hpcdk-lab-init "$NODE"
