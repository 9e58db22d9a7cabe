#!/bin/sh
# hpcdk-lab-service start|stop|status SERVICE...: the lab's stand-in for systemctl (no systemd
# runs in a lab node). Services: corosync, pacemaker. A started service is started again at the
# next boot of the node, as an enabled unit would be.
set -eu

RUN=/run/hpcdk-lab
LOG=/var/log/hpcdk-lab
ENABLED=/var/lib/hpcdk-lab/enabled
mkdir -p "$RUN" "$LOG" "$ENABLED"

running() {
    [ -f "$RUN/$1.pid" ] && kill -0 "$(cat "$RUN/$1.pid")" 2> /dev/null
}

start() {
    running "$1" && return 0
    case $1 in
    corosync) setsid corosync -f > "$LOG/corosync.log" 2>&1 < /dev/null & ;;
    pacemaker) setsid pacemakerd > "$LOG/pacemaker.log" 2>&1 < /dev/null & ;;
    *)
        echo "hpcdk-lab-service: unknown service $1" >&2
        exit 2
        ;;
    esac
    echo $! > "$RUN/$1.pid"
    touch "$ENABLED/$1"
    # Wait (bounded) until the daemon answers.
    i=0
    while [ "$i" -lt 50 ]; do
        case $1 in
        corosync) corosync-cfgtool -s > /dev/null 2>&1 && return 0 ;;
        pacemaker) crmadmin -S "$(uname -n)" > /dev/null 2>&1 && return 0 ;;
        esac
        sleep 0.2
        i=$((i + 1))
    done
    running "$1" || {
        echo "hpcdk-lab-service: $1 did not start: $(tail -n 5 "$LOG/$1.log")" >&2
        exit 1
    }
}

stop() {
    if running "$1"; then
        kill "$(cat "$RUN/$1.pid")" 2> /dev/null || true
    fi
    rm -f "$RUN/$1.pid" "$ENABLED/$1"
}

action=$1
shift
for service in "$@"; do
    case $action in
    start) start "$service" ;;
    stop) stop "$service" ;;
    status)
        if running "$service"; then echo "$service running"; else
            echo "$service stopped"
            exit 3
        fi
        ;;
    *)
        echo "usage: hpcdk-lab-service start|stop|status SERVICE..." >&2
        exit 2
        ;;
    esac
done
