"""The guest-side command agent: one JSON request per line in, one JSON reply per line out.

Started by the guest's hold script (vm/guest_hold.sh) as soon as the boot hands
over to it; it serves a virtio-serial port that QEMU connects to a unix socket
in the host session's private directory, so no network, sshd or shell is
between the host and a command. Without --port it serves stdin/stdout instead.
Standard library only: it runs under whatever python3 the guest has (the host's,
over 9p).

The host speaks first: the agent only writes in reply to a request, so nothing
is written while the host is not connected. Requests: {"op": ..., ...}. Replies:
{"ok": true, ...} or {"ok": false, "error": ...}. Output is base64.

Start-up is on every boot's critical path, and under TCG a cold import costs
about ten times a warm one (measured: subprocess, tempfile and shlex together
~0.7 s at boot), so only what serving a request needs is imported up front
(and binascii rather than base64).
"""

import binascii
import itertools
import json
import os
import select
import signal
import sys
import time

PORTS = "/sys/class/virtio-ports"
procs = {}  # pid -> (Popen, stdout path, stderr path)
kept = set()  # pids spawned with keep: not reaped at the end of a test
spawned = itertools.count()
_work = []  # the directory for background output, made on first use


def work_dir():
    if not _work:
        import tempfile
        _work.append(tempfile.mkdtemp(prefix="iowitness-agent-"))
    return _work[0]


def b64(data):
    return binascii.b2a_base64(data, newline=False).decode("ascii")


def unb64(text):
    return binascii.a2b_base64(text)


def _kill_group(p, sig=signal.SIGKILL):
    try:
        os.killpg(p.pid, sig)
    except ProcessLookupError:
        pass


def op_ping(req):
    return {"pong": time.monotonic()}


def op_run(req):
    """Run a shell command to completion (or its timeout, then kill its whole group).

    posix_spawn and a poll loop rather than Popen.communicate: under TCG every line
    of Python costs, and this is the path every command takes."""
    t0 = time.monotonic()
    cmd = req["cmd"]
    if req.get("cwd"):
        import shlex
        cmd = f"cd -- {shlex.quote(req['cwd'])} || exit 127\n{cmd}"
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    try:
        pid = os.posix_spawn("/bin/sh", ["sh", "-c", cmd], _env(req), setsid=True,
                             setsigdef=(signal.SIGPIPE, signal.SIGXFSZ),  # Python ignores them; children must not
                             file_actions=[(os.POSIX_SPAWN_DUP2, in_r, 0), (os.POSIX_SPAWN_DUP2, out_w, 1),
                                           (os.POSIX_SPAWN_DUP2, err_w, 2)])
    finally:
        for fd in (in_r, out_w, err_w):
            os.close(fd)
    out, err, timed_out = _collect(pid, in_w, out_r, err_r, unb64(req.get("input", "")),
                                   req.get("timeout"))
    _, status = os.waitpid(pid, 0)
    return {"rc": os.waitstatus_to_exitcode(status), "stdout": b64(out), "stderr": b64(err),
            "duration": time.monotonic() - t0, "timed_out": timed_out}


def _collect(pid, in_w, out_r, err_r, data, timeout):
    """Feed stdin and drain stdout/stderr until both close; past the timeout, kill
    the command's process group and drain what is left (for at most 10 s more)."""
    chunks = {out_r: [], err_r: []}
    poller = select.poll()
    poller.register(out_r, select.POLLIN)
    poller.register(err_r, select.POLLIN)
    if data:
        os.set_blocking(in_w, False)
        poller.register(in_w, select.POLLOUT)
    else:
        os.close(in_w)
    open_fds = set(chunks) | ({in_w} if data else set())
    deadline = None if timeout is None else time.monotonic() + timeout
    timed_out = False
    while chunks.keys() & open_fds:
        wait = None if deadline is None else max(0.0, deadline - time.monotonic())
        events = poller.poll(None if wait is None else int(wait * 1000) + 1)
        if not events and deadline is not None and time.monotonic() >= deadline:
            if timed_out:
                break  # something outside the group still holds the pipes
            timed_out = True
            _kill_pid_group(pid)
            deadline = time.monotonic() + 10
            continue
        for fd, _ in events:
            if fd == in_w:
                try:
                    data = data[os.write(in_w, data[:65536]):]
                except BrokenPipeError:
                    data = b""
                if not data:
                    poller.unregister(in_w)
                    os.close(in_w)
                    open_fds.discard(in_w)
                continue
            block = os.read(fd, 1 << 16)
            if block:
                chunks[fd].append(block)
            else:
                poller.unregister(fd)
                open_fds.discard(fd)
    for fd in (out_r, err_r, *([in_w] if in_w in open_fds else [])):
        os.close(fd)
    return b"".join(chunks[out_r]), b"".join(chunks[err_r]), timed_out


def _kill_pid_group(pid):
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _env(req):
    env = dict(os.environ)
    env.update(req.get("env") or {})
    return env


def op_spawn(req):
    """Start a command in the background in its own process group; reply with its pid."""
    import subprocess
    n = next(spawned)  # never reused: output files are opened for append
    out_path, err_path = os.path.join(work_dir(), f"{n}.out"), os.path.join(work_dir(), f"{n}.err")
    # Append mode: a program that writes one stream through two descriptors
    # (bpftrace) would otherwise overwrite its own lines and leave NUL holes.
    with open(out_path, "ab") as out, open(err_path, "ab") as err:
        p = subprocess.Popen(req["cmd"], shell=True, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                             start_new_session=True, cwd=req.get("cwd") or "/", env=_env(req))
    procs[p.pid] = (p, out_path, err_path)
    if req.get("keep"):
        kept.add(p.pid)
    return {"pid": p.pid}


def _proc(req):
    pid = req["pid"]
    if pid not in procs:
        raise KeyError(f"no background process {pid}")
    return procs[pid]


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def op_poll(req):
    p, out, err = _proc(req)
    return {"rc": p.poll(), "stdout": b64(_read(out)), "stderr": b64(_read(err))}


def op_poll_from(req):
    """Its stdout from byte `offset` on (a long-lived tracer's output, read a piece
    at a time), and whether it still runs."""
    p, out, _ = _proc(req)
    rc = p.poll()
    with open(out, "rb") as f:
        f.seek(req.get("offset", 0))
        data = f.read()
    return {"rc": rc, "stdout": b64(data)}


def op_wait(req):
    import subprocess
    p, out, err = _proc(req)
    try:
        rc = p.wait(timeout=req.get("timeout"))
    except subprocess.TimeoutExpired:
        rc = None
    return {"rc": rc, "stdout": b64(_read(out)), "stderr": b64(_read(err))}


def op_signal(req):
    p, _, _ = _proc(req)
    sig = req.get("signal", signal.SIGTERM)
    if req.get("group", True):
        _kill_group(p, sig)
    elif p.poll() is None:
        p.send_signal(sig)
    return {}


def op_reap(req):
    """Kill every background process still running (end of a test); report which.
    Processes spawned with keep (a tracer serving several tests) are left alone."""
    import subprocess
    killed = []
    for pid, (p, _, _) in list(procs.items()):
        if pid in kept and p.poll() is None:
            continue
        kept.discard(pid)
        if p.poll() is None:
            _kill_group(p)
            killed.append(pid)
        try:
            p.wait(timeout=req.get("timeout", 10))
        except subprocess.TimeoutExpired:
            pass  # unkillable (D state): the reply still says who was left
        del procs[pid]
    still = [pid for pid in killed if os.path.exists(f"/proc/{pid}")]
    return {"killed": killed, "unkillable": still}


def op_read_file(req):
    return {"data": b64(_read(req["path"]))}


def op_read_files(req):
    """Several files read back to back, bracketed by the guest's CLOCK_MONOTONIC,
    so counters from different files describe (nearly) the same instant. A file
    that cannot be read (a task that exited) maps to null."""
    t0 = time.clock_gettime(time.CLOCK_MONOTONIC)
    data = {}
    for path in req["paths"]:
        try:
            data[path] = b64(_read(path))
        except OSError:
            data[path] = None
    return {"t0": t0, "t1": time.clock_gettime(time.CLOCK_MONOTONIC), "data": data}


def op_write_file(req):
    path = req["path"]
    os.makedirs(os.path.dirname(path) or "/", exist_ok=True)
    with open(path, "wb") as f:
        f.write(unb64(req["data"]))
    if "mode" in req:
        os.chmod(path, req["mode"])
    return {}


def op_clock(req):
    """The guest's CLOCK_MONOTONIC and wall clock at one instant: tools stamp their
    output with wall-clock time, witnesses place it in monotonic windows."""
    return {"monotonic": time.clock_gettime(time.CLOCK_MONOTONIC), "realtime": time.time()}


def op_hello(req):
    return {"ready": True, "pid": os.getpid()}


OPS = {name[3:]: fn for name, fn in globals().items() if name.startswith("op_")}


def handle(line):
    try:
        req = json.loads(line)
        reply = OPS[req["op"]](req)
        reply["ok"] = True
    except Exception as e:  # the host gets the error as a value, the agent lives on
        reply = {"ok": False, "error": f"{type(e).__name__}: {e}"}
    return json.dumps(reply).encode() + b"\n"


def serve(inp, out):
    """Requests from a stream until it ends (stdin/stdout mode)."""
    for line in inp:
        out.write(handle(line))
        out.flush()


def port_path(name):
    """The character device of the virtio-serial port called `name` (udev's
    /dev/virtio-ports/ link may not exist yet, sysfs always says)."""
    for _ in range(100):
        try:
            for vport in os.listdir(PORTS):
                with open(f"{PORTS}/{vport}/name") as f:
                    if f.read().strip() == name:
                        return f"/dev/{vport}"
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"agent: no virtio-serial port named {name}")


def serve_port(name):
    """Serve the port for the guest's whole life. A read of 0 bytes means the
    host end is not connected (QEMU's socket has no client): wait for one, and
    drop any half request of the client that left."""
    fd = os.open(port_path(name), os.O_RDWR)
    with open("/dev/kmsg", "w") as kmsg:  # on the console: when the guest became ready
        kmsg.write(f"iowitness-agent: serving {name} as pid {os.getpid()}\n")
    buf = b""
    while True:
        data = os.read(fd, 1 << 20)
        if not data:
            buf = b""
            time.sleep(0.2)  # reads return at once while no host is connected: look again soon
            continue
        buf += data
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            reply = handle(line)
            try:
                while reply:
                    reply = reply[os.write(fd, reply):]
            except OSError:
                buf = b""  # the host went away mid-reply; wait for the next one


def main():
    # Started in the background by a shell (vm/guest_hold.sh), the agent inherits
    # SIGINT ignored, and so would everything it starts: a program stopped with
    # SIGINT as from a terminal (a Python tool's KeyboardInterrupt, which Python
    # only installs when SIGINT is not ignored) would never see it.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    if len(sys.argv) == 3 and sys.argv[1] == "--port":
        serve_port(sys.argv[2])
    else:
        serve(sys.stdin.buffer, sys.stdout.buffer)


if __name__ == "__main__":
    main()
