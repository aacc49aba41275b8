#!/bin/sh
# The guest's `vng --exec` command: runs once udev is done, starts the command
# agent, and holds the guest up until the host ends it (that powers the guest off).
# $1, $2: the names of the virtio-serial ports of the agent and of the ping loop
# (vm/guest.py adds both).
#
# The agent gets root's usual environment, not the init's: what an SSH login as
# root would have, without running any rc file.
export HOME=/root USER=root LOGNAME=root SHELL=/bin/bash
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# The agent first: it is the boot's critical path. -S: no site module (no scan
# of site directories, nothing the agent uses). If it ever ends, the kernel log
# says so, which the host watches while it waits for a reply.
agent="$(dirname "$0")/agent.py"
(cd / && /usr/bin/python3 -S -u "$agent" --port "${1:-iowitness.agent}" </dev/null
 echo "<3>iowitness-agent: exited with status $?" >/dev/kmsg) &
# The ping loop: "pong" for each line. When the agent does not answer, the host
# asks here to tell a lost agent (this answers) from a hung guest (nothing does).
# A port opens once only, so one read-write descriptor; reads end at once while
# no host is connected.
for p in /sys/class/virtio-ports/*; do
    read -r name 2>/dev/null <"$p/name" && [ "$name" = "${2:-iowitness.ping}" ] || continue  # no fork: boot path
    (exec 3<>"/dev/${p##*/}"
     while :; do if read -r _ <&3; then echo pong >&3; else sleep 0.2; fi; done) </dev/null >/dev/null 2>&1 &
done
ip link set lo up
# Every command starts /bin/sh: touching the shell, the loader and the C library
# copies them (same bytes) into the tmpfs upper layers of the /usr and /etc
# overlays, so exec reads them from guest memory instead of over 9p.
touch -c "$(readlink -f /bin/sh)" "$(readlink -f /lib64/ld-linux-x86-64.so.2)" \
    "$(readlink -f /lib/x86_64-linux-gnu/libc.so.6)" /etc/ld.so.cache 2>/dev/null
#
# With SSH (GuestOptions.ssh): virtme-ng-init configures eth0 while udev may still be loading virtio_net and
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
