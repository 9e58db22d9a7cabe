#!/bin/sh
# The init of a lab node (installed as /usr/local/sbin/hpcdk-lab-init): starts sshd, then waits.
# Daemons the deploy asks for (corosync, pacemaker, ...) are started by hpcdk-lab-service.
set -eu

mkdir -p /run/sshd /run/hpcdk-lab /run/rpcbind /var/log/hpcdk-lab
chmod 0755 /run/sshd
# Every NFS server registers with rpcbind (nfs-ganesha does at start).
if command -v rpcbind > /dev/null 2>&1; then
    rpcbind
fi
/usr/sbin/sshd -D -e -f /etc/ssh/sshd_config.hpcdk-lab > /var/log/hpcdk-lab/sshd.log 2>&1 &
if [ -x /usr/local/sbin/hpcdk-lab-boot-services ]; then
    /usr/local/sbin/hpcdk-lab-boot-services > /var/log/hpcdk-lab/boot-services.log 2>&1 || true
fi
while :; do
    sleep 3600
done
