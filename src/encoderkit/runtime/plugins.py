"""One plug-in base and one registry for every extension point the index loads by name: retrievers
(``bm25``, ``dense``, ``colbert``, ...) and index-time annotators (``classify``, ``entities``, ...).

A plug-in is a class with a ``name`` and settings it validates (:class:`Plugin`). A :class:`Registry`
maps names to classes; a class registers itself with the registry's decorator in the process that uses
it, or is found through the registry's entry-point group of an installed package (this package's own
built-in plug-ins included: see ``[project.entry-points]`` in ``pyproject.toml``). No plug-in is ever
imported through a hand-written import string.

>>> reg = Registry("widget", "encoderkit.no-such-group")
>>> @reg.register
... class Knob(Plugin):
...     name = "knob"
...     @classmethod
...     def default_settings(cls):
...         return {"turns": 1}
>>> reg.get("knob").check_settings({"turns": 3}), reg.names()
({'turns': 3}, ['knob'])
>>> reg.get("dial")
Traceback (most recent call last):
...
encoderkit.errors.EncoderkitError: unknown widget 'dial'; known widgets: knob
"""

from __future__ import annotations

import sys
from typing import ClassVar

from ..errors import EncoderkitError


class Plugin:
    """Base of every plug-in: a ``name`` (an identifier) and settings checked against its defaults."""

    name: ClassVar[str] = ""
    plugin_kind: ClassVar[str] = "plugin"  # what messages call it ("retriever", "annotator")

    @classmethod
    def default_settings(cls) -> dict:
        """Settings a new index records for this plug-in (JSON-serialisable)."""
        return {}

    @classmethod
    def check_settings(cls, settings: dict) -> dict:
        """Validated settings, the defaults filled in; unknown keys are errors naming the known ones."""
        unknown = set(settings) - set(cls.default_settings())
        if unknown:
            raise EncoderkitError(
                f"unknown {cls.name} {cls.plugin_kind} setting(s): {', '.join(sorted(unknown))}",
                hint=f"known: {', '.join(sorted(cls.default_settings())) or 'none'}",
            )
        return {**cls.default_settings(), **settings}


class Registry:
    """Plug-in classes by name, for one kind of plug-in and one entry-point group."""

    def __init__(self, kind: str, group: str):
        self.kind = kind
        self.group = group
        self._classes: dict[str, type] = {}
        self._entry_points_loaded = False

    def register(self, cls: type) -> type:
        """Register a class under ``cls.name`` (replacing one of the same name); usable as a decorator."""
        if not cls.name or not cls.name.replace("-", "_").isidentifier():
            raise ValueError(f"{self.kind} name {cls.name!r} must be a non-empty identifier")
        self._classes[cls.name] = cls
        return cls

    def unregister(self, name: str) -> None:
        self._classes.pop(name, None)

    def _load_entry_points(self) -> None:
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        from importlib.metadata import entry_points

        for ep in entry_points(group=self.group):
            if ep.name in self._classes:
                continue
            try:
                self.register(ep.load())
            except Exception as exc:  # a broken plug-in must not break the others
                print(f"note: {self.kind} plugin {ep.name!r} failed to load ({exc})", file=sys.stderr)

    def names(self) -> list[str]:
        """Every registered name (entry points included)."""
        self._load_entry_points()
        return sorted(self._classes)

    def get(self, name: str) -> type:
        """The class registered as ``name``; a clear error listing the known ones otherwise."""
        if name not in self._classes:
            self._load_entry_points()
        if name not in self._classes:
            raise EncoderkitError(f"unknown {self.kind} '{name}'", hint=f"known {self.kind}s: {', '.join(self.names())}")
        return self._classes[name]
