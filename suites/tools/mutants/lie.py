#!/usr/bin/python3
"""A lying build of a compiled observability tool, for iowitness's corpus
(suites/tools/mutants/): runs the packaged program with the arguments given and
rewrites one thing in what it prints, the way a real release could get it
wrong. Runs in the guest, standard library only.

    lie.py NAME PROGRAM [ARGS...]

It forwards SIGINT and SIGTERM to the program, reads to the end of its output,
and exits as the program did (dying of the same signal), unless the lie is a
crash. node_exporter's lies serve the exporter's port themselves and rewrite
each scrape of the real exporter, started on the next port.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys

LIES = {}


def lie(*names):
    def register(fn):
        for name in names:
            LIES[name] = fn
        return fn
    return register


def _cols(line, header_word):
    """A whitespace-separated data line's fields (None for a header or blank line)."""
    parts = line.split()
    return None if not parts or header_word in parts or not parts[0][:1].isdigit() else parts


def _task_state(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


# -- procps vmstat -n -t 1: r b swpd free buff cache si so bi bo in cs us sy id wa st DATE TIME
@lie("vmstat-b-doubled")
def _(line, st):
    p = _cols(line, "r")
    if p and len(p) >= 17:
        p[1] = str(2 * int(p[1]))
        return " ".join(p) + "\n"
    return line


@lie("vmstat-wa-as-id")
def _(line, st):
    p = _cols(line, "r")
    if p and len(p) >= 17:
        p[14], p[15] = str(int(p[14]) + int(p[15])), "0"
        return " ".join(p) + "\n"
    return line


@lie("vmstat-us-sy-swapped")
def _(line, st):
    p = _cols(line, "r")
    if p and len(p) >= 17:
        p[12], p[13] = p[13], p[12]
        return " ".join(p) + "\n"
    return line


def _json_object(pattern):
    """A lie that changes the JSON object printed on a line of its own (the
    pattern's groups: what is before it, the object, what is after it)."""
    def wrap(change):
        def rewrite(line, st):
            m = pattern.match(line)
            if not m:
                return line
            obj = json.loads(m[2])
            change(obj)
            return f"{m[1]}{json.dumps(obj)}{m[3]}\n"
        return rewrite
    return wrap


# -- sysstat mpstat -P ALL -o JSON 1: one {"cpu": ...} object per line
_MP = _json_object(re.compile(r'^(\s*)(\{"cpu": ".*\})(,?)\s*$'))
# -- sysstat iostat -c -y -t -o JSON 1: "avg-cpu": {...} on one line
_IO = _json_object(re.compile(r'^(\s*"avg-cpu":\s*)(\{.*\})(,?)\s*$'))


@lie("mpstat-iowait-as-sys")
@_MP
def _(o):
    o["sys"], o["iowait"] = round(o["sys"] + o["iowait"], 2), 0.0


@lie("mpstat-cpus-rotated")
@_MP
def _(o):
    if o["cpu"] != "all":
        o["cpu"] = str((int(o["cpu"]) + 1) % os.cpu_count())


@lie("mpstat-iowait-doubled")
@_MP
def _(o):
    o["iowait"] = round(2 * o["iowait"], 2)


@lie("iostat-iowait-as-idle")
@_IO
def _(o):
    o["idle"], o["iowait"] = round(o["idle"] + o["iowait"], 2), 0.0


@lie("iostat-one-cpu-share")
@_IO
def _(o):  # iowait over one CPU's time instead of all CPUs'
    o["iowait"] = round(min(100.0, o["iowait"] * os.cpu_count()), 2)


@lie("iostat-steal-iowait-swapped")
@_IO
def _(o):
    o["steal"], o["iowait"] = o["iowait"], o["steal"]


# -- procps top -b -1: "%Cpu0  :  0.0 us,  1.0 sy, ..." and the header's load average
_TOPCPU = re.compile(r"%Cpu(\d+)\s*:(.*?)(?=%Cpu|$)")


def _top_fields(text):
    return {k: float(v) for v, k in re.findall(r"([\d.]+)\s*(us|sy|ni|id|wa|hi|si|st)", text)}


def _top_line(line, change):
    out = []
    for m in _TOPCPU.finditer(line.rstrip("\n")):
        f = _top_fields(m[2])
        cpu = change(int(m[1]), f)
        out.append(f"%Cpu{cpu:<3}:" + ",".join(f" {f[k]:4.1f} {k}" for k in ("us", "sy", "ni", "id", "wa", "hi",
                                                                             "si", "st")) + " ")
    return "".join(out) + "\n" if out else line


@lie("top-wa-into-sy")
def _(line, st):
    def change(cpu, f):
        f["sy"], f["wa"] = f["sy"] + f["wa"], 0.0
        return cpu
    return _top_line(line, change)


@lie("top-cpus-swapped")
def _(line, st):
    return _top_line(line, lambda cpu, f: cpu ^ 1)


@lie("top-load-5-as-1")
def _(line, st):
    m = re.match(r"^(top - .*load average: )([\d.]+), ([\d.]+), ([\d.]+)(.*)$", line.rstrip("\n"))
    return f"{m[1]}{m[3]}, {m[3]}, {m[4]}{m[5]}\n" if m else line


# -- sysstat sar -q 1: TIME runq-sz plist-sz ldavg-1 ldavg-5 ldavg-15 blocked
def _sar(line, change):
    p = line.split()
    if len(p) == 7 and ":" in p[0] and p[1].isdigit():
        change(p)
        return "  ".join(p) + "\n"
    return line


@lie("sar-blocked-doubled")
def _(line, st):
    return _sar(line, lambda p: p.__setitem__(6, str(2 * int(p[6]))))


@lie("sar-ldavg-5-as-1")
def _(line, st):
    return _sar(line, lambda p: p.__setitem__(3, p[4]))


@lie("sar-blocked-zero")
def _(line, st):
    return _sar(line, lambda p: p.__setitem__(6, "0"))


# -- sysstat pidstat -d -H: TIME UID PID kB_rd/s kB_wr/s kB_ccwr/s iodelay Command
@lie("pidstat-iodelay-x10")
def _(line, st):
    p = _cols(line, "iodelay")
    if p and len(p) >= 8:
        p[6] = str(10 * int(p[6]))
        return " ".join(p) + "\n"
    return line


@lie("pidstat-leaves-out-d")
def _(line, st):
    p = _cols(line, "iodelay")
    return None if p and len(p) >= 8 and _task_state(p[2]) == "D" else line


@lie("pidstat-iodelay-lagged")
def _(line, st):
    p = _cols(line, "iodelay")
    if p and len(p) >= 8:
        p[6], st[p[2]] = st.get(p[2], "0"), p[6]
        return " ".join(p) + "\n"
    return line


# -- iotop-c -b -t -P: "  PID PRIO USER DISK READ DISK WRITE SWAPIN IO COMMAND"
_IOTOP = re.compile(r"^(\s*(\d+)\s+\S+\s+\S+\s+[\d.]+ \S+\s+[\d.]+ \S+\s+[\d.?]+ %\s+)([\d.]+)( %.*)$")


@lie("iotop-c-io-div10")
def _(line, st):
    m = _IOTOP.match(line.rstrip("\n"))
    return f"{m[1]}{float(m[3]) / 10:.2f}{m[4]}\n" if m else line


@lie("iotop-c-io-while-d")
def _(line, st):
    m = _IOTOP.match(line.rstrip("\n"))
    return f"{m[1]}100.00{m[4]}\n" if m and _task_state(m[2]) == "D" else line


@lie("iotop-c-leaves-out")
def _(line, st):
    return None if _IOTOP.match(line.rstrip("\n")) else line


# -- atop -Z -P PRG,PRC: one word per field; PRG ... 8 state ... 19 nthrslpu; PRC ... 22 blkdelay
def _atop(line, change):
    f = line.split()
    if f[:1] not in (["PRG"], ["PRC"]) or len(f) < 23:
        return line
    out = change(f[0], f)
    return None if out is None else " ".join(out) + "\n"


@lie("atop-d-as-s")
def _(line, st):
    def change(label, f):
        if f[8] == "D":
            f[8] = "S"
        return f
    return _atop(line, change)


@lie("atop-nthrslpu-doubled")
def _(line, st):
    def change(label, f):
        if label == "PRG":
            f[19] = str(2 * int(f[19]))
        return f
    return _atop(line, change)


@lie("atop-blkdelay-x10")
def _(line, st):
    def change(label, f):
        if label == "PRC":
            f[22] = str(10 * int(f[22]))
        return f
    return _atop(line, change)


@lie("atop-leaves-out-d")
def _(line, st):
    return _atop(line, lambda label, f: None if f[8] == "D" else f)


# -- libbpf-tools offcputime: stack lines, "    -  comm (pid)", "        total_us"
_OFF_TOTAL = re.compile(r"^(\s+)(\d+)$")


@lie("offcputime-libbpf-ms-as-us")
def _(line, st):
    m = _OFF_TOTAL.match(line.rstrip("\n"))
    return f"{m[1]}{int(m[2]) // 1000}\n" if m else line


@lie("offcputime-libbpf-ns-as-us")
def _(line, st):
    m = _OFF_TOTAL.match(line.rstrip("\n"))
    return f"{m[1]}{int(m[2]) * 1000}\n" if m else line


def _module_symbols():
    """Names of the functions of loaded modules (/proc/kallsyms: "addr t name [module]")."""
    try:
        with open("/proc/kallsyms") as f:
            return {p[2] for p in (ln.split() for ln in f) if len(p) == 4 and p[3].startswith("[")}
    except OSError:
        return set()


@lie("offcputime-libbpf-drops-module-stacks")
def _(line, st):
    # Each stack is a block ending in a blank line: one with a module's frames
    # (a symbolizer that cannot name them) is left out whole.
    if "modules" not in st:
        st["modules"] = _module_symbols()
    st.setdefault("block", []).append(line)
    if line.strip():
        return None
    block, st["block"] = st["block"], []
    return None if any(b.strip() in st["modules"] for b in block) else "".join(block)


# -- procps ps -o pid=,stat=,wchan:64=
@lie("ps-d-as-s")
def _(line, st):
    p = line.split()
    if len(p) >= 2 and p[0].isdigit() and p[1].startswith("D"):
        p[1] = "S" + p[1][1:]
        return " ".join(p) + "\n"
    return line


@lie("ps-leaves-out-first")
def _(line, st):
    p = line.split()
    if len(p) >= 2 and p[0].isdigit() and "first" not in st:
        st["first"] = p[0]
        return None
    return None if p and st.get("first") == p[0] else line


@lie("ps-wchan-blank")
def _(line, st):
    p = line.split()
    if len(p) >= 3 and p[0].isdigit():
        p[2] = "-"
        return " ".join(p) + "\n"
    return line


# -- node_exporter: the exposition text of one scrape
_NE_CPU = re.compile(r'^node_cpu_seconds_total\{cpu="(\d+)",mode="(\w+)"\} (\S+)$')


@lie("node_exporter-iowait-doubled")
def _(line, st):
    m = _NE_CPU.match(line)
    return f'node_cpu_seconds_total{{cpu="{m[1]}",mode="iowait"}} {2 * float(m[3])}' if m and m[2] == "iowait" \
        else line


@lie("node_exporter-blocked-doubled")
def _(line, st):
    if line.startswith("node_procs_blocked "):
        return f"node_procs_blocked {2 * float(line.split()[1]):g}"
    return line


@lie("node_exporter-psi-ms-as-us")
def _(line, st):
    if line.startswith(("node_pressure_io_waiting_seconds_total ", "node_pressure_io_stalled_seconds_total ")):
        name, value = line.split()
        return f"{name} {float(value) / 1000}"
    return line


@lie("node_exporter-cpus-swapped")
def _(line, st):
    m = _NE_CPU.match(line)
    return f'node_cpu_seconds_total{{cpu="{int(m[1]) ^ 1}",mode="{m[2]}"}} {m[3]}' if m else line


# Lies that are not a rewrite: printing nothing, or some output then a crash.
SILENT = {"mpstat-no-output", "iostat-no-output", "iotop-c-no-output", "offcputime-libbpf-no-output"}
CRASH_AFTER = {"top-crash": 40, "sar-crash": 3, "pidstat-crash": 6}
CRASH_AT_STOP = {"vmstat-crash"}  # prints all it should, then dies of a segfault as it is stopped


def _exit_as(rc):
    if rc is not None and rc < 0:
        signal.signal(-rc, signal.SIG_DFL)
        os.kill(os.getpid(), -rc)
    sys.exit(rc or 0)


def _serve_exporter(name, program, args):
    """Serve the exporter's port, rewriting each line of the real exporter's scrape."""
    import http.server
    import urllib.request
    listen = next(a.split("=", 1)[1] for a in args if a.startswith("--web.listen-address="))
    host, port = listen.rsplit(":", 1)
    real = f"{host}:{int(port) + 1}"
    rewrite = LIES[name]

    class Proxy(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            text = urllib.request.urlopen(f"http://{real}{self.path}", timeout=60).read().decode()
            body = "".join((rewrite(ln, {}) or "") + "\n" for ln in text.splitlines()).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer((host, int(port)), Proxy)
    args = [a if not a.startswith("--web.listen-address=") else f"--web.listen-address={real}" for a in args]
    child = subprocess.Popen([program, *args])
    signal.signal(signal.SIGTERM, lambda s, f: (child.terminate(), sys.exit(0)))
    try:
        server.serve_forever()
    finally:
        child.kill()


def main():
    name, program, *args = sys.argv[1:]
    if name.startswith("node_exporter-"):
        return _serve_exporter(name, program, args)
    # Line-buffered (coreutils stdbuf), as on a terminal: a lie that looks at a
    # task's state as a line goes by must see the line when the tool printed it.
    line_buffered = ["stdbuf", "-oL"] if shutil.which("stdbuf") else []
    child = subprocess.Popen([*line_buffered, program, *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda s, f: child.send_signal(s))
    if name in CRASH_AT_STOP:
        signal.signal(signal.SIGINT, lambda s, f: (child.kill(), print(f"{os.path.basename(program)}: Segmentation "
                                                                       "fault", file=sys.stderr), os._exit(139)))
    rewrite, state, printed = LIES.get(name), {}, 0
    out = sys.stdout
    for raw in iter(child.stdout.readline, b""):
        line = raw.decode("utf-8", "replace")
        if name in SILENT:
            continue
        line = rewrite(line, state) if rewrite else line
        if line is not None:
            out.write(line)
            out.flush()
            printed += 1
        if name in CRASH_AFTER and printed >= CRASH_AFTER[name]:
            child.kill()
            child.wait()
            print(f"{os.path.basename(program)}: Segmentation fault", file=sys.stderr)
            sys.exit(139)
    _exit_as(child.wait())


if __name__ == "__main__":
    main()
