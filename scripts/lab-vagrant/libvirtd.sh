#!/bin/sh
# Runs libvirtd for the Vagrant lab with state of its own:
#
#   ip netns exec NETNS unshare --mount --propagation private libvirtd.sh STATE_DIR
#
# Inside the lab's network namespace (its libvirt networks, dnsmasq and VMs never touch this
# machine's network) and a private mount namespace in which /etc/libvirt, /var/lib/libvirt,
# /run/libvirt, /var/log/libvirt and /var/cache/libvirt are directories under STATE_DIR, so
# nothing libvirt writes outlives the lab and no other libvirtd is disturbed. Clients outside
# reach it at qemu:///system?socket=STATE_DIR/run/libvirt-sock.
#
# virtlogd runs as a daemon (its PID in STATE_DIR/run/virtlogd.pid); libvirtd replaces this
# shell, so the caller's child PID is libvirtd's. Both run without systemd.
set -eu

STATE=${1:?usage: libvirtd.sh STATE_DIR}
for d in etc lib run log cache; do mkdir -p "$STATE/$d"; done
if [ ! -e "$STATE/etc/qemu.conf" ]; then
    cp -a /etc/libvirt/. "$STATE/etc/"
    # QEMU runs as root: its disks and the storage pool live under STATE_DIR, which the
    # libvirt-qemu user may not traverse, and there is no AppArmor or SELinux here to label them.
    cat >> "$STATE/etc/qemu.conf" << 'EOF'

# hpcdk Vagrant lab
user = "root"
group = "root"
dynamic_ownership = 0
security_driver = "none"
EOF
    printf '\n# hpcdk Vagrant lab\nlog_outputs = "3:file:/var/log/libvirt/libvirtd.log"\n' >> "$STATE/etc/libvirtd.conf"
fi
for pair in etc:/etc/libvirt lib:/var/lib/libvirt run:/run/libvirt log:/var/log/libvirt cache:/var/cache/libvirt; do
    mkdir -p "${pair#*:}"
    mount --bind "$STATE/${pair%%:*}" "${pair#*:}"
done
ip link set lo up
virtlogd -d -p /run/libvirt/virtlogd.pid
exec libvirtd -p /run/libvirt/libvirtd.pid
