"""Devices the scenarios wait on, set up in the guest: a slow block device
(null_blk with a completion delay) and an ext4 filesystem that can be frozen."""

from __future__ import annotations

from vm.errors import CommandFailed
from vm.guest import Guest

# Every request of the slow device completes after this long: the holds' waits
# (suites/holds.py) are as long, and their window fits inside with room to open.
NULLB_DELAY_S = 10.0


class SlowNullb:
    """/dev/nullb0, every request completing after `delay_s` (null_blk irqmode=2:
    a timer per request, completion_nsec), set up once per guest.

    Loading it scans the partition table in modprobe itself: so it is started in
    the background, the caller can do other set-up meanwhile (attach a tracer),
    and `device()` waits for it. null_blk gives its requests a 5 s timeout
    (null_init_tag_set(): set->timeout = 5 * HZ), after which they fail: each of
    the kernel's partition parsers then reads sector 0 again (12 reads, 121 s
    measured on debian-6.12). The queue's sysfs directory exists before the scan
    starts (device_add_disk() registers the queue first), so the timeout is
    raised as soon as it appears: a read that succeeds stays in the page cache
    for the next parser. udev does not probe nullb*
    (60-persistent-storage.rules lists the kernels it probes)."""

    def __init__(self, guest: Guest, delay_s: float = NULLB_DELAY_S):
        self.guest, self.delay_s = guest, delay_s
        self.path = "/dev/nullb0"
        guest.kept_modules.add("null_blk")
        timeout = "/sys/block/nullb0/queue/io_timeout"
        self.proc = guest.spawn(
            f"modprobe null_blk nr_devices=1 irqmode=2 completion_nsec={int(delay_s * 1e9)} & m=$!; "
            f"until [ -e {timeout} ] || ! kill -0 $m 2>/dev/null; do sleep 0.02; done; "
            f"echo {self.io_timeout_ms} > {timeout} 2>/dev/null; wait $m", keep=True)
        self.ready = False

    @property
    def io_timeout_ms(self) -> int:
        return int(self.delay_s * 6 * 1000)

    def device(self) -> str:
        if not self.ready:
            r = self.guest.wait(self.proc, timeout=30 * self.delay_s)
            if r.rc != 0:
                raise CommandFailed(r)
            # Again: the early write is best-effort (the queue may not have appeared
            # before modprobe ended); this one fails loudly if the value cannot be set.
            self.guest.write_file("/sys/block/nullb0/queue/io_timeout", str(self.io_timeout_ms).encode())
            self.ready = True
        return self.path


class FrozenExt4:
    """An ext4 filesystem on a loop device (image on the guest's tmpfs), with
    freeze/thaw; `remove()` thaws and unmounts it (a frozen fs left behind would
    block the next test's writers)."""

    IMAGE, MOUNT = "/tmp/iowitness-freeze.img", "/tmp/iowitness-freeze"

    def __init__(self, guest: Guest):
        self.guest = guest
        # loop-control appears only once the module is in: mount -o loop cannot load it.
        guest.run(f"modprobe loop && rm -f {self.IMAGE} && truncate -s 64M {self.IMAGE} "
                  f"&& mkfs.ext4 -q -F {self.IMAGE}", check=True, timeout=120)
        self.loopdev = guest.sh(f"losetup -f --show {self.IMAGE}").strip()
        guest.run(f"mkdir -p {self.MOUNT} && mount {self.loopdev} {self.MOUNT} && touch {self.MOUNT}/file",
                  check=True, timeout=120)
        self.path = f"{self.MOUNT}/file"

    def freeze(self) -> None:
        self.guest.run(f"fsfreeze -f {self.MOUNT}", check=True)

    def thaw(self) -> None:
        self.guest.run(f"fsfreeze -u {self.MOUNT}", check=True)

    def remove(self) -> None:
        self.guest.run(f"fsfreeze -u {self.MOUNT}")
        self.guest.run(f"umount {self.MOUNT}; losetup -d {self.loopdev}; rm -f {self.IMAGE}", timeout=120)
