#!/bin/sh
# systemctl on a fleet lab host (no systemd, no daemons: the fleet lab measures the deploy, not
# the services): records every request in /var/lib/hpcdk-fleet/systemctl.log, so a test can see
# which handlers and steps a deploy ran, and succeeds. `is-active` answers "active" for a unit
# that was started (enable --now, start, restart, reload) since the host's upper layer was made.
set -eu
LOG=/var/lib/hpcdk-fleet/systemctl.log
mkdir -p /var/lib/hpcdk-fleet
printf '%s\n' "$*" >> "$LOG"
case ${1:-} in
is-active)
    unit=${2:-}
    if grep -Eq "^(enable --now|start|restart|reload|try-reload-or-restart|reload-or-restart) (.* )?$unit( |\$)" "$LOG"; then
        echo active
        exit 0
    fi
    echo inactive
    exit 3
    ;;
esac
exit 0
