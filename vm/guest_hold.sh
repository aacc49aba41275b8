#!/bin/sh
# The guest's `vng --exec` command: runs once udev is done, holds the guest up
# until the host ends it (that powers the guest off).
#
# virtme-ng-init configures eth0 while udev may still be loading virtio_net and
# renaming the interface; under TCG load it loses that race and the guest has
# no address. QEMU user networking always offers 10.0.2.15/24, so give the NIC
# that address if it has none (no default route: nothing beyond the SSH forward).
for dev in /sys/class/net/*; do
    n=${dev##*/}
    [ "$n" = lo ] && continue
    ip -4 addr show dev "$n" | grep -q inet && continue
    ip link set "$n" up && ip addr add 10.0.2.15/24 dev "$n"
done
exec sleep 987654321
