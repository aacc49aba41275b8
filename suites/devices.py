"""Devices the scenarios wait on, set up in the guest: a slow block device
(null_blk with a completion delay), an ext4 filesystem that can be frozen, and
one whose writes are slow (its journal's commits take seconds), and swap whose
reads are slow."""

from __future__ import annotations

from contextlib import contextmanager, suppress

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


class DelayedLoop:
    """A block device whose reads and writes take as long as its table says:
    device-mapper's delay target (drivers/md/dm-delay.c) over a loop device, the
    image on the guest's tmpfs (memory-backed: it keeps what is written). The
    delays are loaded into the live table (`delays()`, a reload under suspend),
    so what is made on it is made with none. Flushes are never delayed
    (dm-delay's third class). The suspend does not freeze a filesystem on it
    (--nolockfs: a freeze has side effects of its own, SlowJournalExt4's)."""

    def __init__(self, guest: Guest, name: str, size_mb: int = 64):
        self.guest, self.name = guest, name
        self.image = f"/tmp/{name}.img"
        guest.run(f"modprobe loop && modprobe dm-delay && rm -f {self.image} && truncate -s {size_mb}M {self.image}",
                  check=True, timeout=120)
        self.loopdev = guest.sh(f"losetup -f --show {self.image}").strip()
        self.sectors = size_mb * 1024 * 1024 // 512
        # dmsetup without udev: the guest's udev has no device-mapper rules to answer it
        guest.run(f"dmsetup create --noudevsync {name} --table '{self._table(0, 0)}'", check=True)
        # devtmpfs makes /dev/dm-N as the device is added; /dev/mapper's link is udev's, and may come later
        self.path = "/dev/dm-" + guest.sh(f"dmsetup info -c --noheadings -o minor {name}").strip()

    def _table(self, read_ms: int, write_ms: int) -> str:
        d = self.loopdev
        return f"0 {self.sectors} delay {d} 0 {read_ms} {d} 0 {write_ms} {d} 0 0"

    def delays(self, read_ms: int = 0, write_ms: int = 0) -> None:
        self.guest.run(f"dmsetup suspend --nolockfs --noudevsync {self.name} "
                       f"&& dmsetup reload --noudevsync {self.name} --table '{self._table(read_ms, write_ms)}' "
                       f"&& dmsetup resume --noudevsync {self.name}", check=True, timeout=120)

    def remove(self) -> None:
        self.guest.run(f"dmsetup remove --noudevsync {self.name}; losetup -d {self.loopdev}; rm -f {self.image}",
                       timeout=120)

    @contextmanager
    def removed_on_failure(self, undo: str = ""):
        """What is made on it, or it is removed again (after `undo`, best effort):
        left behind, the next test in this guest could not create it."""
        try:
            yield
        except BaseException:
            if self.guest.usable():
                with suppress(Exception):  # the failure that got here is the one to report
                    self.guest.run(f"{undo + '; ' if undo else ''}umount {self.path}", timeout=120)
                    self.remove()
            raise


class SlowJournalExt4:
    """An ext4 filesystem whose writes each take `delay_s` (a DelayedLoop). It is
    made, mounted and its journal committed once with no delay; then the write
    delay is loaded, so neither mkfs nor mount waits. Reads are not delayed.

    A commit writes the transaction's blocks and waits for them, then writes the
    commit record and waits for it (fs/jbd2/commit.c
    jbd2_journal_commit_transaction(), without async_commit): two delays.
    Flushes are not delayed, or the commit record's preflush would add a third.
    The suspend for a reload does not freeze the fs: freezing flushes the journal
    (ext4_freeze() -> jbd2_journal_flush() sets JBD2_FLUSHED), and the next
    commit would first rewrite the journal's superblock, a third delay too.
    mount -o commit=600 keeps the periodic commit (5 s by default) from
    committing a change before the tasks fsync it; mkfs initialises the inode
    tables, so ext4lazyinit writes nothing meanwhile."""

    MOUNT = "/tmp/iowitness-journal"

    def __init__(self, guest: Guest, delay_s: float = NULLB_DELAY_S / 2):
        self.guest = guest
        self.device = DelayedLoop(guest, "iowitness-journal")
        self.path = f"{self.MOUNT}/file"
        dev = self.device.path
        with self.device.removed_on_failure():
            guest.run(f"mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0,nodiscard {dev} "
                      f"&& mkdir -p {self.MOUNT} && mount -o commit=600 {dev} {self.MOUNT} "
                      f"&& touch {self.path} && sync -f {self.path}", check=True, timeout=120)
            self.device.delays(write_ms=int(delay_s * 1000))

    def dirty(self) -> None:
        """Change the file's inode (its times) in the running transaction."""
        self.guest.run(f"touch {self.path}", check=True)

    def journal_thread(self) -> int:
        """The pid of its journal thread, named "jbd2/<device>-<journal inode>"
        (fs/ext4/super.c ext4_get_journal(), fs/jbd2/journal.c jbd2_journal_init_inode())."""
        return int(self.guest.sh(f"pgrep '^jbd2/{self.device.path.removeprefix('/dev/')}-'").split()[0])

    def remove(self) -> None:
        self.device.delays()  # unmounting commits: not at delay_s a write
        self.guest.run(f"umount {self.MOUNT}", timeout=120)
        self.device.remove()


class SlowSwap:
    """Swap whose reads each take `delay_s` (a DelayedLoop): made and switched on
    with no delay, then the read delay loaded. Swap-in readahead is switched off
    (vm.page-cluster 0: mm/swap_state.c reads 2^page-cluster pages around the
    fault), so each task's fault reads its own page and no other task's; put back
    by `remove()`, which switches the swap off (it reads every page back, with
    no delay by then)."""

    def __init__(self, guest: Guest, delay_s: float = NULLB_DELAY_S):
        self.guest = guest
        self.device = DelayedLoop(guest, "iowitness-swap")
        cluster = guest.sh("cat /proc/sys/vm/page-cluster").strip()
        self._off = f"swapoff {self.device.path}; echo {cluster} > /proc/sys/vm/page-cluster"
        with self.device.removed_on_failure(self._off):
            guest.run(f"mkswap -q {self.device.path} && swapon {self.device.path} "
                      "&& echo 0 > /proc/sys/vm/page-cluster", check=True, timeout=120)
            self.device.delays(read_ms=int(delay_s * 1000))

    def remove(self) -> None:
        self.device.delays()
        self.guest.run(self._off, timeout=120)
        self.device.remove()
