"""`iowitness VERB ...`: one command for everything the project runs besides
pytest itself. Each verb hands its arguments to the module that has always
done the work (`python -m kernels`, `python -m suites`, `python -m vm.bench`,
`python -m harness.mutants|soak|figures`); those forms stay as aliases.

Installed by ./bootstrap into the venv as a console script (pyproject.toml).
It lives at the top floor (suites): it reaches every layer below.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass

from suites.registration import install


@dataclass(frozen=True)
class Verb:
    module: str  # whose main(argv) does the work
    help: str
    prefix: bool = True  # the module's own sub-command is the verb itself


VERBS: dict[str, Verb] = {
    "kernels": Verb("kernels.__main__", "the kernel catalog and cache: list, fetch, build, path, verify",
                    prefix=False),
    "check": Verb("harness.kernel_commands", "boot each kernel and check it (default: every Debian flavour)"),
    "bisect": Verb("harness.kernel_commands", "find the commit that changed a verdict, flake-aware"),
    "bisect-one": Verb("harness.kernel_commands", "judge one revision with git bisect run's exit codes"),
    "series": Verb("harness.kernel_commands", "judge each commit of a patch series against its base"),
    "bisect-debian": Verb("harness.kernel_commands", "bisect over the ABIs Debian serves for a flavour"),
    "reproduce": Verb("suites.__main__", "reproduce a documented kernel behaviour on demand"),
    "tools": Verb("suites.__main__", "the tools suite and its agreement matrix (--tool NAME=PATH: your build)"),
    "plant-bug": Verb("suites.__main__", "run lying builds of the tools and show each is caught"),
    "summary": Verb("suites.__main__", "write a run's summary.md and summary.html again"),
    "compare": Verb("harness.compare", "what changed verdict between two runs", prefix=False),
    "kcidb": Verb("harness.kcidb", "a run as KCIDB JSON, validated", prefix=False),
    "merge": Verb("suites.__main__", "join shards or runs into one run"),
    "bench": Verb("harness.bench", "boot and round-trip figures of this machine", prefix=False),
    "mutants": Verb("harness.mutants", "the planted-bug kernels, each caught by its test", prefix=False),
    "soak": Verb("harness.soak", "the suite N times: verdicts per test and their spread", prefix=False),
    "figures": Verb("harness.figures", "per test, its verdicts and the figures its rows measured", prefix=False),
}


def usage() -> str:
    width = max(map(len, VERBS))
    lines = ["usage: iowitness VERB [ARGS ...]    (iowitness VERB --help: its own options)", "", "verbs:"]
    lines += [f"  {name:{width}}  {v.help}" for name, v in VERBS.items()]
    lines += ["", "The tests themselves: .venv/bin/pytest [suites/...] [--kernel NAME] (README)."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(usage())
        return 0 if args else 2
    verb = VERBS.get(args[0])
    if verb is None:
        print(f"iowitness: unknown verb {args[0]!r} (iowitness --help lists them)", file=sys.stderr)
        return 2
    rest = args if verb.prefix else args[1:]
    install()
    return importlib.import_module(verb.module).main(rest)


if __name__ == "__main__":
    sys.exit(main())
