"""The vng command line that boots a guest, and the private session directory it
runs in.

vng runs with HOME pointed at the session directory (mode 0700, removed at
shutdown) and two virtio-serial ports whose QEMU ends are unix sockets there: the
command agent's (vm/channel.py) and a shell ping loop's (vm/liveness.py). The
guest runs vm/guest_hold.sh, which holds it up until HOLDER is ended.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from kernels import tools
from vm.errors import BootFailed
from vm.options import GuestOptions
from vm.rootfs import NINE_P, path_for, vng_args

HOLD_SCRIPT = Path(__file__).resolve().parent / "guest_hold.sh"
HOLDER = "sleep 987654321"  # what the hold script execs; ending it powers the guest off
AGENT_PORT_NAME = "iowitness.agent"  # the virtserialport's name; vm/guest_hold.sh passes it to the agent
PING_PORT_NAME = "iowitness.ping"  # a shell loop in the guest answers "pong": the kernel still runs tasks

SUN_PATH_MAX = 107  # sockaddr_un.sun_path is 108 bytes with the NUL (unix(7))
SESSION_PATH_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_/-.")


def agent_socket(session_dir: Path) -> Path:
    return session_dir / "agent.sock"


def ping_socket(session_dir: Path) -> Path:
    return session_dir / "ping.sock"


def session_dir_problem(session_dir: Path) -> str | None:
    """Why QEMU could not put its sockets in this directory, or None. vng hands the
    -chardev option to a shell and QEMU splits it at commas, so the path is kept to
    plain characters; a unix socket path has a length limit."""
    longest = str(agent_socket(session_dir))
    if set(longest) - SESSION_PATH_CHARS:
        return f"session dir {session_dir} has characters QEMU's -chardev path cannot take"
    if len(longest) > SUN_PATH_MAX:
        return f"session dir {session_dir} is too long for a unix socket path ({len(longest)} > {SUN_PATH_MAX})"
    return None


def environment(session_dir: Path, rootfs: str) -> dict[str, str]:
    """vng's environment: HOME in the session dir, and the virtiofsd it is to use."""
    env = tools.env(HOME=str(session_dir), IOWITNESS_VIRTIOFS_DIR=str(session_dir))
    env["PATH"] = path_for(rootfs, env["PATH"])
    return env


def make_session_dir(label: str) -> Path:
    """A new private directory under $TMPDIR (mkdtemp: mode 0700; keys live here)."""
    home = Path(tempfile.mkdtemp(prefix="iowitness-vm-"))
    problem = session_dir_problem(home)
    if problem:
        shutil.rmtree(home, ignore_errors=True)
        raise BootFailed(f"{label}: {problem}; set TMPDIR to a short plain path")
    return home


def _port_opts(chardev: str, path: Path, name: str) -> list[str]:
    return [f"--qemu-opts=-chardev socket,id={chardev},path={path},server=on,wait=off",
            f"--qemu-opts=-device virtserialport,chardev={chardev},name={name}"]


def command_line(boot_target, options: GuestOptions, session_dir: Path, tcg: bool, aslr: bool,
                 ssh_port: int | None, rootfs: str = NINE_P) -> list[str]:
    o = options
    cmd = [tools.vng(), "-v", "-r", str(boot_target), "--cpus", str(o.cpus), "--memory", o.memory,
           *vng_args(rootfs),
           # vng hands these to a shell: session_dir_problem keeps the path plain
           *_port_opts("iowagent", agent_socket(session_dir), AGENT_PORT_NAME),
           *_port_opts("iowping", ping_socket(session_dir), PING_PORT_NAME)]
    if ssh_port is not None:
        cmd += ["--ssh", str(ssh_port), "--ssh-tcp", "--qemu-opts=-set netdev.ssh.restrict=on"]
    if tcg:
        cmd.append("--disable-kvm")
    for d in o.rwdirs:
        cmd += ["--rwdir", d]
    append = list(o.append)
    if not aslr:
        append.append("norandmaps")  # kernel.randomize_va_space = 0 from boot
    if append:
        cmd += ["--append", " ".join(append)]
    return cmd + list(o.extra_vng) + ["--exec", f"/bin/sh {HOLD_SCRIPT} {AGENT_PORT_NAME} {PING_PORT_NAME}"]
