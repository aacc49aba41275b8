"""Devices the scenarios wait on, set up in the guest: a slow block device
(null_blk with a completion delay), an ext4 filesystem that can be frozen, and
one whose writes are slow (its journal's commits take seconds)."""

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


class SlowJournalExt4:
    """An ext4 filesystem whose writes each take `delay_s`: device-mapper's delay
    target (drivers/md/dm-delay.c) over a loop device (image on the guest's
    tmpfs). It is made, mounted and its journal committed once with no delay;
    then the delay is loaded into the live table (a reload under suspend), so
    neither mkfs nor mount waits. Reads are not delayed.

    A commit writes the transaction's blocks and waits for them, then writes the
    commit record and waits for it (fs/jbd2/commit.c
    jbd2_journal_commit_transaction(), without async_commit): two delays.
    Flushes are not delayed (dm-delay's third class), or the commit record's
    preflush would add a third. The suspend for a reload does not freeze the fs
    (--nolockfs): freezing flushes the journal (ext4_freeze() ->
    jbd2_journal_flush() sets JBD2_FLUSHED), and the next commit would first
    rewrite the journal's superblock, a third delay too. mount -o commit=600 keeps
    the periodic commit (5 s by default) from committing a change before the
    tasks fsync it; mkfs initialises the inode tables, so ext4lazyinit writes
    nothing meanwhile."""

    IMAGE, MOUNT, NAME = "/tmp/iowitness-journal.img", "/tmp/iowitness-journal", "iowitness-journal"

    def __init__(self, guest: Guest, delay_s: float = NULLB_DELAY_S / 2):
        self.guest, self.delay_s = guest, delay_s
        guest.run(f"modprobe loop && modprobe dm-delay && rm -f {self.IMAGE} && truncate -s 64M {self.IMAGE}",
                  check=True, timeout=120)
        self.loopdev = guest.sh(f"losetup -f --show {self.IMAGE}").strip()
        self.sectors = 64 * 1024 * 1024 // 512
        self._table(0)
        # devtmpfs makes /dev/dm-N as the device is added; /dev/mapper's link is udev's, and may come later
        self.dev = "/dev/dm-" + guest.sh(f"dmsetup info -c --noheadings -o minor {self.NAME}").strip()
        guest.run(f"mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0,nodiscard {self.dev} "
                  f"&& mkdir -p {self.MOUNT} && mount -o commit=600 {self.dev} {self.MOUNT} "
                  f"&& touch {self.MOUNT}/file && sync -f {self.MOUNT}/file", check=True, timeout=120)
        self.path = f"{self.MOUNT}/file"
        self._table(int(delay_s * 1000))

    def _table(self, write_ms: int) -> None:
        """Create the device, or load a new write delay into it (dmsetup without
        udev: the guest's udev has no device-mapper rules to answer it)."""
        table = f"0 {self.sectors} delay {self.loopdev} 0 0 {self.loopdev} 0 {write_ms} {self.loopdev} 0 0"
        if not self.guest.run(f"dmsetup status {self.NAME}").ok:
            self.guest.run(f"dmsetup create --noudevsync {self.NAME} --table '{table}'", check=True)
            return
        self.guest.run(f"dmsetup suspend --nolockfs --noudevsync {self.NAME} "
                       f"&& dmsetup reload --noudevsync {self.NAME} --table '{table}' "
                       f"&& dmsetup resume --noudevsync {self.NAME}", check=True, timeout=120)

    def dirty(self) -> None:
        """Change the file's inode (its times) in the running transaction."""
        self.guest.run(f"touch {self.path}", check=True)

    def journal_thread(self) -> int:
        """The pid of its journal thread, named "jbd2/<device>-<journal inode>"
        (fs/ext4/super.c ext4_get_journal(), fs/jbd2/journal.c jbd2_journal_init_inode())."""
        return int(self.guest.sh(f"pgrep '^jbd2/{self.dev.removeprefix('/dev/')}-'").split()[0])

    def remove(self) -> None:
        self._table(0)  # unmounting commits: not at delay_s a write
        self.guest.run(f"umount {self.MOUNT}; dmsetup remove --noudevsync {self.NAME}; "
                       f"losetup -d {self.loopdev}; rm -f {self.IMAGE}", timeout=120)
