#!/bin/sh
# Boots one host of a fleet lab. Runs in the host's own network, mount and UTS namespaces:
# gives its NIC the host's address, builds its root (an overlay of this machine's root with the
# host's own upper layer, so what a deploy writes stays on that host), and execs sshd in it as
# the host's one process. Killing that sshd (and removing the namespace) is a power cut.
set -eu

NAME=$1
DIR=$2
ADDRESS=$3
ROOT=$DIR/root

ip link set lo up
ip addr add "$ADDRESS" dev eth0
ip link set eth0 up
mount --make-rprivate /
mount -t overlay overlay -o "lowerdir=/,upperdir=$DIR/upper,workdir=$DIR/work" "$ROOT"
mount -t proc proc "$ROOT/proc"
mount --rbind /dev "$ROOT/dev"
mount -t tmpfs -o mode=0755,size=16m tmpfs "$ROOT/run"
mount -t tmpfs -o mode=1777,size=64m tmpfs "$ROOT/tmp"
mkdir -p "$ROOT/run/sshd"
chmod 0755 "$ROOT/run/sshd"
hostname "$NAME"
exec chroot "$ROOT" /usr/sbin/sshd -D -e -f /etc/ssh/sshd_config.hpcdk-fleet
