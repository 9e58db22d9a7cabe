#!/bin/sh
# Builds hpcdk's offline Vagrant box for the libvirt provider from Debian's repositories only:
# Debian 12 with its kernel, systemd, ifupdown (Vagrant configures private networks with it),
# openssh-server, sudo, a `vagrant` user with the box's own key, and every package a management
# node needs, because the guests have no repository access.
#
#   build-box.sh BOX_FILE [MIRROR]
#
# The image is built without mounting the root file system read-write at all (mkfs.ext4 -d),
# extlinux is installed from a private mount namespace (grub-install fails here), and the file
# system is checked with e2fsck -fy after it is unmounted: an image captured with a dirty ext4
# journal replays it at first boot, which overwrote the boot sector in an earlier attempt.
set -eu

BOX=${1:?usage: build-box.sh BOX_FILE [MIRROR]}
MIRROR=${2:-http://deb.debian.org/debian}
SECURITY=${HPCDK_BOX_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
SIZE_MIB=${HPCDK_BOX_SIZE_MIB:-4096}

# What a management node runs (hpcdk's host bundles install these; the guests cannot download
# them), what Vagrant needs in the guest, sg3-utils for fence_scsi's persistent reservations, the
# powerman client fence_powerman runs, and e2fsprogs for the lab's zpool stand-in (ext4 pools).
PACKAGES="linux-image-amd64 systemd-sysv udev dbus ifupdown isc-dhcp-client netbase iproute2 \
openssh-server sudo procps less e2fsprogs \
corosync pacemaker pacemaker-cli-utils pcs resource-agents fence-agents sg3-utils powerman \
nfs-kernel-server rpcbind"

for tool in mmdebstrap mkfs.ext4 e2fsck tune2fs sfdisk extlinux qemu-img ssh-keygen unshare; do
    command -v "$tool" > /dev/null 2>&1 || { echo "build-box: $tool is missing" >&2; exit 1; }
done
MBR=/usr/lib/syslinux/mbr/mbr.bin
[ -r "$MBR" ] || { echo "build-box: $MBR is missing (apt-get install syslinux-common)" >&2; exit 1; }

OUT_DIR=$(dirname "$BOX")
WORK=$(mktemp -d "$OUT_DIR/build-box.XXXXXX")
cleanup() {
    if [ -n "${LOOP:-}" ]; then losetup -d "$LOOP" 2> /dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM
ROOT=$WORK/rootfs
UUID=$(cat /proc/sys/kernel/random/uuid)

echo "build-box: debootstrapping Debian 12 with $(echo "$PACKAGES" | wc -w) packages from $MIRROR"
mmdebstrap --mode=root --variant=apt --include="$(echo "$PACKAGES" | tr -s ' ' ',')" \
    --aptopt='APT::Install-Recommends "false"' \
    bookworm "$ROOT" \
    "deb $MIRROR bookworm main" "deb $MIRROR bookworm-updates main" "deb $SECURITY bookworm-security main"

echo "build-box: configuring the guest"
echo hpcdk-box > "$ROOT/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\thpcdk-box\n' > "$ROOT/etc/hosts"
printf 'UUID=%s\t/\text4\terrors=remount-ro\t0\t1\n' "$UUID" > "$ROOT/etc/fstab"
# eth0 is Vagrant's management network (DHCP); Vagrant appends the private networks itself.
cat > "$ROOT/etc/network/interfaces" << 'EOF'
source /etc/network/interfaces.d/*

auto lo
iface lo inet loopback

auto eth0
iface eth0 inet dhcp
EOF
# Each VM makes its own machine id and SSH host keys at first boot.
: > "$ROOT/etc/machine-id"
rm -f "$ROOT"/etc/ssh/ssh_host_*
mkdir -p "$ROOT/etc/systemd/system/ssh.service.d"
cat > "$ROOT/etc/systemd/system/ssh.service.d/hpcdk-host-keys.conf" << 'EOF'
[Service]
ExecStartPre=
ExecStartPre=/usr/bin/ssh-keygen -A
ExecStartPre=/usr/sbin/sshd -t
EOF
cat > "$ROOT/etc/ssh/sshd_config.d/hpcdk-box.conf" << 'EOF'
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
EOF
# The vagrant user, with the box's own key (no insecure well-known key) and passwordless sudo.
chroot "$ROOT" useradd --create-home --shell /bin/bash vagrant
install -d -m 0700 -o 1000 -g 1000 "$ROOT/home/vagrant/.ssh"
ssh-keygen -q -t ed25519 -N '' -C hpcdk-box -f "$WORK/vagrant_private_key"
install -m 0600 -o 1000 -g 1000 "$WORK/vagrant_private_key.pub" "$ROOT/home/vagrant/.ssh/authorized_keys"
[ "$(stat -c %u "$ROOT/home/vagrant")" = 1000 ] || { echo "build-box: vagrant is not uid 1000" >&2; exit 1; }
# root takes the same key: hpcdk deploy logs in as root, as it does in the namespace lab (its
# cluster step runs crm_mon and cibadmin without sudo).
install -d -m 0700 "$ROOT/root/.ssh"
install -m 0600 "$WORK/vagrant_private_key.pub" "$ROOT/root/.ssh/authorized_keys"
printf 'vagrant ALL=(ALL) NOPASSWD: ALL\nDefaults:vagrant !requiretty\n' > "$ROOT/etc/sudoers.d/vagrant"
chmod 0440 "$ROOT/etc/sudoers.d/vagrant"
# hpcdk deploy starts the cluster itself, from its own corosync.conf; the packages' defaults must
# not run first. Timers that only cost CPU under software emulation go too.
# powerman brings its daemon: the guests only need its client.
for unit in corosync.service pacemaker.service pcsd.service pcsd-ruby.service nfs-server.service powerman.service \
    apt-daily.timer apt-daily-upgrade.timer man-db.timer e2scrub_all.timer fstrim.timer; do
    if [ -e "$ROOT/lib/systemd/system/$unit" ]; then chroot "$ROOT" systemctl disable --quiet "$unit"; fi
done
chroot "$ROOT" systemctl mask systemd-networkd-wait-online.service 2> /dev/null || true
# The guests have no repository: drop the lists and the package cache.
rm -rf "$ROOT"/var/lib/apt/lists/* "$ROOT"/var/cache/apt/*.bin "$ROOT"/var/cache/apt/archives/*.deb

KVER=$(basename "$(ls -d "$ROOT"/lib/modules/*)")
if [ ! -f "$ROOT/boot/vmlinuz-$KVER" ] || [ ! -f "$ROOT/boot/initrd.img-$KVER" ]; then
    echo "build-box: no kernel or initrd for $KVER" >&2
    exit 1
fi
mkdir -p "$ROOT/boot/extlinux"
cat > "$ROOT/boot/extlinux/extlinux.conf" << EOF
DEFAULT debian
TIMEOUT 1
PROMPT 0
LABEL debian
    LINUX /boot/vmlinuz-$KVER
    INITRD /boot/initrd.img-$KVER
    APPEND root=UUID=$UUID ro console=ttyS0,115200 net.ifnames=0 biosdevname=0 quiet
EOF

echo "build-box: making the disk image (kernel $KVER)"
FS=$WORK/fs.img
FS_MIB=$((SIZE_MIB - 1))
mkfs.ext4 -q -F -L root -U "$UUID" -d "$ROOT" "$FS" "${FS_MIB}M"
# extlinux needs the file system mounted; mount it in a private mount namespace so no other
# process can hold it, and unmount before the check.
mkdir "$WORK/mnt"
# shellcheck disable=SC2016 # $1 and $2 expand in the inner shell
unshare --mount --propagation private sh -c '
    set -e
    mount -o loop "$1" "$2"
    extlinux --install "$2/boot/extlinux" > /dev/null
    umount "$2"
' sh "$FS" "$WORK/mnt"
e2fsck -fy "$FS" > /dev/null || [ $? -le 1 ]
tune2fs -l "$FS" | grep -q '^Filesystem state:  *clean$' || { echo "build-box: the file system is not clean" >&2; exit 1; }

DISK=$WORK/disk.img
truncate -s "${SIZE_MIB}M" "$DISK"
echo 'start=2048, type=83, bootable' | sfdisk -q "$DISK"
dd if="$MBR" of="$DISK" bs=440 count=1 conv=notrunc status=none
dd if="$FS" of="$DISK" bs=1M seek=1 conv=notrunc,sparse status=none
rm "$FS"

echo "build-box: packaging $BOX"
qemu-img convert -f raw -O qcow2 "$DISK" "$WORK/box.img"
rm "$DISK"
printf '{"provider": "libvirt", "format": "qcow2", "virtual_size": %d}\n' $(((SIZE_MIB + 1023) / 1024)) > "$WORK/metadata.json"
# The box carries its key: every Vagrantfile that uses the box logs in with it.
cat > "$WORK/Vagrantfile" << 'EOF'
Vagrant.configure("2") do |config|
  config.ssh.username = "vagrant"
  config.ssh.private_key_path = File.expand_path("vagrant_private_key", __dir__)
end
EOF
tar -C "$WORK" -cf "$BOX.partial" metadata.json Vagrantfile vagrant_private_key box.img
mv "$BOX.partial" "$BOX"
echo "build-box: $BOX ($(du -h "$BOX" | cut -f1))"
