#!/bin/sh
# Starts, at boot, the services a deploy started before (hpcdk-lab-boot-services).
set -u
for f in /var/lib/hpcdk-lab/enabled/*; do
    [ -e "$f" ] || continue
    /usr/local/sbin/hpcdk-lab-service start "$(basename "$f")"
done
