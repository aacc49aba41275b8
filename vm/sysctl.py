"""Sysctls set in a guest and put back afterwards (LTP's .save_restore)."""

from __future__ import annotations


def path(name: str) -> str:
    return "/proc/sys/" + name.replace(".", "/")


class Sysctls:
    """Set sysctls in the guest; restore() puts every one back, last set first."""

    def __init__(self, guest):
        self.guest = guest
        self.saved: dict[str, str] = {}

    path = staticmethod(path)

    def get(self, name: str) -> str:
        return self.guest.read_text(path(name)).strip()

    def set(self, name: str, value) -> None:
        if name not in self.saved:
            self.saved[name] = self.get(name)
        self.guest.write_file(path(name), str(value).encode())

    def restore(self) -> None:
        for name, value in reversed(list(self.saved.items())):
            self.guest.write_file(path(name), value.encode())
