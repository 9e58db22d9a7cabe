#!/bin/sh
# The labs' power controller, a device for powermand speaking the protocol of powerman's "vpc"
# specification (/etc/powerman/vpc.dev) on stdin/stdout, like vpcd; but where vpcd only keeps
# pretend states, "off" here really cuts a machine's power and "on" powers it on again.
#
#   vpc-device.sh POWER PLUGS-FILE
#
# POWER is the lab's power backend, run as `sh POWER on|off|status TARGET` (status prints "on"
# or "off"): power.sh for the namespace lab's nodes, vm-power.sh for the Vagrant lab's VMs.
# Plug N is the TARGET on line N+1 of PLUGS-FILE (a node directory, a libvirt domain).
set -u
# "stat *": the star is a word here, never a file name.
set -f

power=$1
plugs_file=$2
seq=0

target() {
    sed -n "$(($1 + 1))p" "$plugs_file"
}

each_plug() {
    # each_plug SPEC COMMAND: "*" is every plug (16, as vpc.dev lists them), else one number.
    if [ "$1" = "*" ]; then
        i=0
        while [ "$i" -lt 16 ]; do
            "$2" "$i"
            i=$((i + 1))
        done
    else
        "$2" "$1"
    fi
}

stat_plug() {
    t=$(target "$1")
    if [ -n "$t" ] && [ "$(sh "$power" status "$t")" = on ]; then echo "plug $1: ON"; else echo "plug $1: OFF"; fi
}

on_plug() {
    t=$(target "$1")
    # The node boots in its boot time, as a server after a power switch's "on" (power.sh).
    [ -z "$t" ] || HPCDK_LAB_SWITCH=1 sh "$power" on "$t" > /dev/null 2>&1
}

off_plug() {
    t=$(target "$1")
    [ -z "$t" ] || sh "$power" off "$t" > /dev/null 2>&1
}

reset_plug() {
    off_plug "$1"
    on_plug "$1"
}

printf '%d vpc> ' "$seq"
while IFS= read -r line; do
    # shellcheck disable=SC2086 # split the command into words
    set -- $line
    case ${1:-} in
    login | logoff) ;;
    stat | beacon) each_plug "${2:-*}" stat_plug ;;
    on) each_plug "$2" on_plug ;;
    off) each_plug "$2" off_plug ;;
    reset) each_plug "$2" reset_plug ;;
    temp) each_plug "${2:-*}" stat_plug ;;
    flash | unflash) ;;
    esac
    printf '%d OK\n' "$seq"
    [ "${1:-}" = logoff ] && exit 0
    seq=$((seq + 1))
    printf '%d vpc> ' "$seq"
done
