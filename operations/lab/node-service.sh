#!/bin/sh
# hpcdk-lab-service start|stop|status|try-restart|try-reload SERVICE...: the lab's stand-in for
# systemctl (no systemd runs in a lab node). Services: corosync, pacemaker, and any systemd unit
# NAME.service or NAME.timer installed on the node, run from its own unit file as systemd would
# (EnvironmentFile, ExecStart with $VAR split into words, User; a timer runs its service's
# ExecStart every OnUnitActiveSec). A started service is started again at the next boot of the
# node, as an enabled unit would be.
set -eu

RUN=/run/hpcdk-lab
LOG=/var/log/hpcdk-lab
ENABLED=/var/lib/hpcdk-lab/enabled
mkdir -p "$RUN" "$LOG" "$ENABLED"

running() {
    [ -f "$RUN/$1.pid" ] || return 1
    pid=$(cat "$RUN/$1.pid")
    # A zombie is not running (this PID 1 reaps slowly).
    [ -r "/proc/$pid/stat" ] && ! grep -q '^[0-9]* ([^)]*) [ZX]' "/proc/$pid/stat"
}

unit_file() {
    for d in /etc/systemd/system /lib/systemd/system /usr/lib/systemd/system; do
        if [ -f "$d/$1" ]; then
            echo "$d/$1"
            return 0
        fi
    done
    echo "hpcdk-lab-service: no unit file for $1" >&2
    exit 2
}

# The last value of KEY in a unit file and its drop-ins (a later assignment wins).
unit_key() {
    cat "$1" "$1".d/*.conf 2> /dev/null | sed -n "s/^$2=//p" | tail -n 1
}

# Runs a unit's ExecStart in the foreground of this (sub)shell: its EnvironmentFiles loaded, $VAR
# split into words without globbing, as its User.
exec_unit() {
    file=$1
    command=$(unit_key "$file" ExecStart)
    user=$(unit_key "$file" User)
    [ -n "$user" ] || user=root
    envs=$(cat "$file" "$file".d/*.conf 2> /dev/null | sed -n 's/^EnvironmentFile=//p')
    while IFS= read -r env; do
        case $env in
        "") continue ;;
        -*)
            env=${env#-}
            [ -f "$env" ] || continue
            ;;
        esac
        set -a
        # shellcheck source=/dev/null
        . "$env"
        set +a
    done << END
$envs
END
    # systemd expands an unset variable to nothing, and does not glob.
    set +u -f
    eval "set -- $command"
    exec setpriv --reuid="$user" --regid="$(id -gn "$user")" --init-groups -- "$@"
}

start() {
    running "$1" && return 0
    case $1 in
    corosync) setsid corosync -f > "$LOG/corosync.log" 2>&1 < /dev/null & ;;
    pacemaker) setsid pacemakerd > "$LOG/pacemaker.log" 2>&1 < /dev/null & ;;
    *.service)
        file=$(unit_file "$1")
        (exec_unit "$file") > "$LOG/$1.log" 2>&1 < /dev/null &
        ;;
    *.timer)
        file=$(unit_file "${1%.timer}.service")
        interval=$(unit_key "$(unit_file "$1")" OnUnitActiveSec | sed 's/s$//')
        case $interval in
        "" | *[!0-9]*)
            echo "hpcdk-lab-service: $1 needs OnUnitActiveSec in seconds, got '$interval'" >&2
            exit 2
            ;;
        esac
        (while :; do
            (exec_unit "$file") || true
            sleep "$interval"
        done) > "$LOG/$1.log" 2>&1 < /dev/null &
        ;;
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
        *)
            # A unit's daemon has no common way to say it is ready: it must still run after
            # its first half second (a bad argument or a taken port ends it sooner).
            [ "$i" -ge 5 ] && running "$1" && return 0
            ;;
        esac
        running "$1" || break
        sleep 0.1
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
    try-restart)
        if running "$service"; then
            old=$(cat "$RUN/$service.pid")
            stop "$service"
            # Bounded: the old daemon must let go of its port before the new one takes it.
            i=0
            while [ "$i" -lt 100 ] && [ -r "/proc/$old/stat" ] && ! grep -q '^[0-9]* ([^)]*) [ZX]' "/proc/$old/stat"; do
                sleep 0.1
                i=$((i + 1))
            done
            start "$service"
        fi
        ;;
    try-reload)
        # The Debian units' ExecReload: kill -HUP $MAINPID.
        if running "$service"; then kill -HUP "$(cat "$RUN/$service.pid")"; fi
        ;;
    status)
        if running "$service"; then echo "$service running"; else
            echo "$service stopped"
            exit 3
        fi
        ;;
    *)
        echo "usage: hpcdk-lab-service start|stop|status|try-restart|try-reload SERVICE..." >&2
        exit 2
        ;;
    esac
done
