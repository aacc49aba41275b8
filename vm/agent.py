"""The guest-side command agent: one JSON request per line in, one JSON reply per line out.

Started at boot by the guest's hold script (vm/guest_hold.sh), listening on the
guest's loopback; the host reaches it through its SSH connection as a forwarded
TCP channel (direct-tcpip), so no shell and no rc file runs for it, and its
start-up overlaps sshd's. Every command is then a round trip on that channel.
Without --listen it serves stdin/stdout instead. Standard library only: it runs
under whatever python3 the guest has (the host's, over 9p).

Requests: {"op": ..., ...}. Replies: {"ok": true, ...} or {"ok": false, "error": ...}.
Output is base64 so any bytes survive.
"""

import base64
import itertools
import json
import os
import select
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time

WORK = tempfile.mkdtemp(prefix="iowitness-agent-")
procs = {}  # pid -> (Popen, stdout path, stderr path)
kept = set()  # pids spawned with keep: not reaped at the end of a test
spawned = itertools.count()


def b64(data):
    return base64.b64encode(data).decode("ascii")


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
    out, err, timed_out = _collect(pid, in_w, out_r, err_r, base64.b64decode(req.get("input", "")),
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
    n = next(spawned)  # never reused: output files are opened for append
    out_path, err_path = os.path.join(WORK, f"{n}.out"), os.path.join(WORK, f"{n}.err")
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


def op_wait(req):
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
        f.write(base64.b64decode(req["data"]))
    if "mode" in req:
        os.chmod(path, req["mode"])
    return {}


OPS = {name[3:]: fn for name, fn in globals().items() if name.startswith("op_")}


def serve(inp, out):
    """One client: requests until it closes its end."""
    out.write(json.dumps({"ok": True, "ready": True, "pid": os.getpid()}).encode() + b"\n")
    out.flush()
    for line in inp:
        try:
            req = json.loads(line)
            reply = OPS[req["op"]](req)
            reply["ok"] = True
        except Exception as e:  # the host gets the error as a value, the agent lives on
            reply = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        out.write(json.dumps(reply).encode() + b"\n")
        out.flush()


def listen(port):
    """Serve one client at a time on 127.0.0.1:port, for the guest's whole life."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(1)
    while True:
        conn, _ = srv.accept()
        with conn, conn.makefile("rb") as inp, conn.makefile("wb") as out:
            try:
                serve(inp, out)
            except OSError:
                pass  # the host went away mid-reply; wait for the next one


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--listen":
        listen(int(sys.argv[2]))
    else:
        serve(sys.stdin.buffer, sys.stdout.buffer)


if __name__ == "__main__":
    main()
