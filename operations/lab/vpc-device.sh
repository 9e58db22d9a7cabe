#!/bin/sh
# The lab's power controller, a device for powermand speaking the protocol of powerman's "vpc"
# specification (/etc/powerman/vpc.dev) on stdin/stdout, like vpcd; but where vpcd only keeps
# pretend states, "off" here really cuts a lab node's power and "on" boots it (power.sh).
# Plug N is the node directory on line N+1 of PLUGS-FILE.
set -u
# "stat *": the star is a word here, never a file name.
set -f

plugs_file=$1
power=$(dirname "$0")/power.sh
seq=0

node_dir() {
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
    d=$(node_dir "$1")
    if [ -n "$d" ] && [ "$(sh "$power" status "$d")" = on ]; then echo "plug $1: ON"; else echo "plug $1: OFF"; fi
}

on_plug() {
    d=$(node_dir "$1")
    [ -z "$d" ] || sh "$power" on "$d" > /dev/null 2>&1
}

off_plug() {
    d=$(node_dir "$1")
    [ -z "$d" ] || sh "$power" off "$d" > /dev/null 2>&1
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
