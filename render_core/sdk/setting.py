"""One environment variable, declared once: name, type, default, unit, help, secret.

Plugins declare theirs with :class:`Setting` (through ``render_core.plugin``) and
read them with ``SETTING.read()`` or :func:`read_settings`; the core declares its own
the same way on :class:`render_core.config.settings.Settings`. The README's
configuration table is generated from these declarations, and this module is the
one place that reads the process environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping


class SettingsError(ValueError):
    """An environment variable holds a value that cannot be used; the message names it."""


#: ``check(value)`` returns what is wrong with ``value`` ("must be above 0") or None.
Check = Callable[[Any], "str | None"]

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
_TYPES = (str, int, float, bool, Path)


def _parse_flag(raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError("expected true or false")


def _parse_int(raw: str) -> int:
    try:
        return int(raw.strip())
    except ValueError:
        raise ValueError("expected an integer") from None


def _parse_float(raw: str) -> float:
    try:
        return float(raw.strip())
    except ValueError:
        raise ValueError("expected a number") from None


_PARSERS: dict[type, Callable[[str], Any]] = {
    str: lambda raw: raw.strip(), int: _parse_int, float: _parse_float, bool: _parse_flag,
    Path: lambda raw: Path(raw.strip()).expanduser(),
}


@dataclass(frozen=True)
class Setting:
    """An environment variable: how to read it and how to document it.

    Parameters:
      name: the variable, e.g. ``VISION_URL``.
      default: the value when the variable is unset or empty (None: "not set", with ``type``).
      help: one line for the configuration table.
      unit: the unit of a number (``s``, ``ms``, ``bytes``, ``MP``...), "" when none.
      type: ``str``, ``int``, ``float``, ``bool`` or ``Path`` (default: the type of ``default``;
        an integer default of a float setting is fine).
      secret: a credential: never shown in listings or logs.
      aliases: other names read, in order, when ``name`` is unset.
      choices: the allowed values of a text setting (compared in lower case).
      check: ``check(value)`` returns what is wrong with a set value, or None (see :func:`above`...).
      shown_default: how the table shows the default when the literal is not telling
        (e.g. "a temporary directory").
    """

    name: str
    default: Any
    help: str
    unit: str = ""
    type: type | None = None
    secret: bool = False
    aliases: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()
    check: Check | None = None
    shown_default: str | None = None

    def __post_init__(self):
        kind = self.type or (Path if isinstance(self.default, Path) else type(self.default))
        if kind not in _TYPES:
            raise TypeError(f"setting {self.name}: type {kind!r} is not one of str, int, float, bool, Path")
        object.__setattr__(self, "type", kind)

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)

    def parse(self, raw: str, name: str | None = None) -> Any:
        """The value of ``raw`` as set in variable ``name``; SettingsError names the variable."""
        name = name or self.name
        shown = name if self.secret else f"{name}={raw!r}"  # a secret's value is never echoed
        try:
            value = _PARSERS[self.type](raw)
        except ValueError as exc:
            raise SettingsError(f"{shown} is not valid: {exc}") from None
        if self.choices and str(value).lower() not in self.choices:
            raise SettingsError(f"{shown} is not valid: expected one of {', '.join(self.choices)}")
        if self.choices:
            value = str(value).lower()
        problem = self.check(value) if self.check is not None else None
        if problem:
            raise SettingsError(f"{shown} is not valid: {problem}")
        return value

    def read(self, environ: Mapping[str, str] | None = None) -> Any:
        """The value from ``environ`` (default: the process environment), else the default."""
        env = os.environ if environ is None else environ
        for name in self.names:
            raw = env.get(name)
            if raw is not None and raw.strip():
                return self.parse(raw, name)
        return self.default

    def shown(self) -> str:
        """The default as the configuration table shows it."""
        if self.shown_default is not None:
            return self.shown_default
        if self.default in ("", None):
            return "-"
        if isinstance(self.default, bool):
            return "true" if self.default else "false"
        if isinstance(self.default, float) and self.default.is_integer():
            return str(int(self.default))
        return str(self.default)


def read_settings(declarations: Iterable[Setting], environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``{name: value}`` of every declared variable, read now; SettingsError names a bad one."""
    return {setting.name: setting.read(environ) for setting in declarations}


# ---- checks ------------------------------------------------------------------------------------

def above(low: float) -> Check:
    """Values must be greater than ``low``."""
    return lambda value: None if value > low else f"must be above {low:g}"


def at_least(low: float) -> Check:
    """Values must be ``low`` or more."""
    return lambda value: None if value >= low else f"must be at least {low:g}"


def between(low: float, high: float) -> Check:
    """Values must lie in [low, high]."""
    return lambda value: None if low <= value <= high else f"must be between {low:g} and {high:g}"


def existing_file(path: Path) -> str | None:
    """A path setting must name a readable file."""
    return None if path.is_file() and os.access(path, os.R_OK) else "not a readable file"


def http_url(url: str) -> str | None:
    """A URL setting must be http:// or https://."""
    return None if url.lower().startswith(("http://", "https://")) else "must be an http:// or https:// URL"
