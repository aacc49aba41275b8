"""A run's results directory: results/<run-id>/ with JUnit, logs and environment."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import subprocess
import time
from pathlib import Path

from harness import registry

REPO = Path(__file__).resolve().parent.parent


def new_run_dir(base: Path) -> Path:
    run_id = time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}"
    d = base / run_id
    d.mkdir(parents=True)
    latest = base / "latest"
    try:  # points at the newest run; replaced atomically
        tmp = base / f".latest-{os.getpid()}"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(run_id)
        os.replace(tmp, latest)
    except OSError:
        pass
    return d


def safe_name(test_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.\[\]-]+", "_", test_id)[-180:]


def tools_dir(run_dir: Path, test_id: str) -> Path:
    """Where a test keeps the tools' raw output: results/<run>/tools/<test>/."""
    return run_dir / "tools" / safe_name(test_id)


def _version(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=20).stdout.strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "unknown"


def tool_versions() -> dict:
    """The witnesses' programs: each one's path, Debian package and version, and
    whether it is the user's own build (--tool)."""
    from kernels import cache
    out = {}
    for w in registry.witnesses():
        if not w.package:
            continue
        unpacked = cache.root() / "tools" / w.package / ".version"
        if unpacked.exists():
            ver = unpacked.read_text().strip() + " (unpacked)"
        else:
            ver = _version(["dpkg-query", "-W", "-f=${Version}", w.package])
        out[w.name] = {"program": w.program, "package": w.package, "version": ver, "own_build": w.overridden}
        if w.overridden:
            try:
                out[w.name]["sha256"] = hashlib.sha256(Path(w.program).read_bytes()).hexdigest()
            except OSError as e:
                out[w.name]["sha256"] = f"unreadable: {e.strerror}"
    return out


def write_environment(run_dir: Path, kernels: dict, guests: dict, options,
                      emulator_retries: dict | None = None, tools: dict | None = None,
                      part: str | None = None) -> None:
    """environment.json: what ran, on what, with what (rewritten as it grows).
    `part`: a pytest-xdist worker's share, environment.<part>.json, joined at the end."""
    from importlib.metadata import version
    env = {
        "host": {"kernel": platform.release(), "cpus": os.cpu_count(), "python": platform.python_version()},
        "iowitness": _commit(),
        "qemu": _version(["qemu-system-x86_64", "--version"]),
        "virtme_ng": version("virtme-ng"),
        "vm": {"cpus": options.cpus, "memory": options.memory, "append": list(options.append)},
        "kernels": {
            name: {"version": k.version, "kind": k.manifest.get("kind"), "image_sha256": k.image_sha256,
                   "packages": k.manifest.get("packages", []), "dir": str(k.dir)}
            for name, k in kernels.items()
        },
        "guests": guests,
        # boots lost to the TCG stale-int3 race and booted again (vm/console.py)
        "emulator_retries": emulator_retries or {},
        "tools": tools or {},
    }
    _write_json(run_dir / (f"environment.{part}.json" if part else "environment.json"), env)


def _commit() -> str:
    """The checkout's commit, "+" if its tracked files differ from it ("" outside git)."""
    repo = Path(__file__).resolve().parent.parent
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True)
    if head.returncode != 0:
        return ""
    dirty = subprocess.run(["git", "-C", str(repo), "diff", "--quiet", "HEAD"], capture_output=True).returncode
    return head.stdout.strip() + ("+" if dirty else "")


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


_JOINED = ("kernels", "guests", "emulator_retries", "tools")  # per kernel or guest: a union


def join_environments(envs: list[dict]) -> dict:
    """Several processes' environment.json as one: the host and options of the
    first, the kernels, guests, retries and tools of all."""
    out: dict = {}
    for env in envs:
        for key, value in env.items():
            if key in _JOINED:
                out.setdefault(key, {}).update(value)
            else:
                out.setdefault(key, value)
    return out


def join_environment_parts(run_dir: Path) -> None:
    """The workers' environment.<id>.json into the run's environment.json."""
    parts = sorted(run_dir.glob("environment.*.json"))
    if not parts:
        return
    main = run_dir / "environment.json"
    envs = ([json.loads(main.read_text())] if main.exists() else []) + [json.loads(p.read_text()) for p in parts]
    _write_json(main, join_environments(envs))
    for p in parts:
        p.unlink()
