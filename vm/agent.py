"""The guest-side command agent: one JSON request per line in, one JSON reply per line out.

Started once per guest over SSH (paying sshd's and the login shell's start-up
once), then every command is a round trip on the same channel. Standard library
only: it runs under whatever python3 the guest has (the host's, over 9p).

Requests: {"op": ..., ...}. Replies: {"ok": true, ...} or {"ok": false, "error": ...}.
Output is base64 so any bytes survive.
"""

import base64
import itertools
import json
import os
import signal
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
    """Run a shell command to completion (or its timeout, then kill its whole group)."""
    t0 = time.monotonic()
    p = subprocess.Popen(req["cmd"], shell=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, start_new_session=True, cwd=req.get("cwd") or "/",
                         env=_env(req))
    timed_out = False
    data = base64.b64decode(req.get("input", ""))
    try:
        out, err = p.communicate(data, timeout=req.get("timeout"))
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_group(p)
        out, err = p.communicate()
    return {"rc": p.returncode, "stdout": b64(out), "stderr": b64(err),
            "duration": time.monotonic() - t0, "timed_out": timed_out}


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


def main():
    out = sys.stdout
    out.write(json.dumps({"ok": True, "ready": True, "pid": os.getpid()}) + "\n")
    out.flush()
    for line in sys.stdin:
        try:
            req = json.loads(line)
            reply = OPS[req["op"]](req)
            reply["ok"] = True
        except Exception as e:  # the host gets the error as a value, the agent lives on
            reply = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        out.write(json.dumps(reply) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
