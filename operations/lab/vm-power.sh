#!/bin/sh
# vm-power.sh on|off|status DOMAIN: the power of one Vagrant lab VM, the power backend of the lab's
# powerman device (vpc-device.sh) when fence_powerman fences VMs. libvirt is the one in
# LIBVIRT_DEFAULT_URI (the lab's own libvirtd). Off is `virsh destroy`, a power cut: the guest
# gets no shutdown, its page cache and kernel state are lost; on is `virsh start`; status is
# `virsh domstate`, "on" for a domain that runs (or is paused, or shutting down), else "off".
set -eu

action=${1:-}
domain=${2:-}
[ -n "$domain" ] || {
    echo "usage: vm-power.sh on|off|status DOMAIN" >&2
    exit 2
}

state() {
    case $(virsh domstate "$domain" 2> /dev/null | head -n 1) in
    running | idle | paused | blocked | "in shutdown" | pmsuspended) echo on ;;
    *) echo off ;;
    esac
}

case $action in
status)
    state
    ;;
off)
    [ "$(state)" = off ] || virsh destroy "$domain" > /dev/null
    ;;
on)
    [ "$(state)" = on ] && exit 0
    # powerman gives a device 5 s per command (vpc.dev), and a start under software emulation
    # can take longer: start in the background, wait up to 4 s, and let the fence agent's status
    # polling judge the rest.
    setsid virsh start "$domain" < /dev/null > /dev/null 2>&1 &
    i=0
    while [ "$i" -lt 40 ] && [ "$(state)" = off ]; do
        sleep 0.1
        i=$((i + 1))
    done
    ;;
*)
    echo "usage: vm-power.sh on|off|status DOMAIN" >&2
    exit 2
    ;;
esac
