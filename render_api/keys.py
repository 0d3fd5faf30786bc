"""API keys: who a presented key belongs to (name and role), compared in constant time.

Keys come from three places, all optional:

* ``C3_RENDER_API_KEY``: one key, as in the original service; its holder is ``default``, an admin.
* ``C3_RENDER_KEYS``: JSON, the same format as the keys file, inline.
* ``C3_RENDER_KEYS_FILE``: a JSON file ``{"keys": [{"name", "key" | "sha256", "role"}, ...]}``
  (or the bare list). ``role`` is ``client`` (default: sees only its own jobs) or ``admin``
  (sees all). ``sha256`` is the hex digest of the key, so the file need not hold secrets.

The file is re-read when its modification time, size or inode changes (checked at most once a
second), so keys rotate without a restart: add the new key under the same name, hand it out,
then remove the old one. A file that no longer parses keeps the previous keys (logged).

A presented key is hashed once with SHA-256 and its digest compared with
``hmac.compare_digest`` against every entry, without stopping at a match.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import threading
import time
from dataclasses import dataclass

log = logging.getLogger(__name__)

CLIENT = "client"
ADMIN = "admin"
ROLES = (CLIENT, ADMIN)
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
HEX_DIGEST = re.compile(r"^[0-9a-f]{64}$")
#: Seconds between two checks of the keys file for changes.
RELOAD_CHECK_INTERVAL = 1.0


class KeysError(ValueError):
    """The keys configuration cannot be used; the message names the entry."""


@dataclass(frozen=True)
class Principal:
    """Who a request acts for: the key's name (recorded as each job's owner) and its role."""

    name: str
    role: str

    @property
    def admin(self) -> bool:
        return self.role == ADMIN

    def may_see(self, owner: str) -> bool:
        """Whether this caller may see a job owned by ``owner``."""
        return self.admin or owner == self.name


#: The caller when no key is configured at all (the API is open, as the original).
ANONYMOUS = Principal("anonymous", ADMIN)


@dataclass(frozen=True)
class _Entry:
    digest: bytes
    principal: Principal


def key_digest(key: str) -> bytes:
    """SHA-256 of a key (what the keys file may hold, hex-encoded)."""
    return hashlib.sha256(key.encode()).digest()


def parse_keys(text: str, source: str) -> list[_Entry]:
    """Entries of a keys document (JSON); raises :class:`KeysError` naming ``source`` and the entry."""
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise KeysError(f"{source} is not valid JSON: {exc}") from None
    items = document.get("keys") if isinstance(document, dict) else document
    if not isinstance(items, list):
        raise KeysError(f'{source} must be a list of keys or {{"keys": [...]}}')
    entries = []
    for index, item in enumerate(items):
        where = f"{source} entry {index}"
        if not isinstance(item, dict):
            raise KeysError(f"{where} is not an object")
        unknown = set(item) - {"name", "key", "sha256", "role"}
        if unknown:
            raise KeysError(f"{where} has unknown fields {sorted(unknown)}")
        name, role = item.get("name"), item.get("role", CLIENT)
        if not isinstance(name, str) or not NAME.match(name):
            raise KeysError(f"{where}: name must be 1-64 characters of letters, digits, '.', '_', '-'")
        if role not in ROLES:
            raise KeysError(f"{where} ({name}): role must be one of {', '.join(ROLES)}")
        key, hashed = item.get("key"), item.get("sha256")
        if (key is None) == (hashed is None):
            raise KeysError(f"{where} ({name}): give exactly one of key or sha256")
        if key is not None:
            if not isinstance(key, str) or len(key) < 16:
                raise KeysError(f"{where} ({name}): key must be a string of at least 16 characters")
            digest = key_digest(key)
        else:
            if not isinstance(hashed, str) or not HEX_DIGEST.match(hashed.lower()):
                raise KeysError(f"{where} ({name}): sha256 must be 64 hex digits")
            digest = bytes.fromhex(hashed)
        entries.append(_Entry(digest, Principal(name, role)))
    return entries


class KeyRing:
    """The configured keys; :meth:`identify` maps a presented key to its :class:`Principal`.

    Parameters:
      api_key: the single key of C3_RENDER_API_KEY (name ``default``, admin), or "".
      inline: the JSON of C3_RENDER_KEYS, or "".
      path: the keys file of C3_RENDER_KEYS_FILE, or "".
      clock: monotonic seconds (tests).
    """

    def __init__(self, api_key: str = "", inline: str = "", path: str = "", clock=time.monotonic):
        self.path = path
        self.clock = clock
        self._fixed: list[_Entry] = []
        if api_key:
            self._fixed.append(_Entry(key_digest(api_key), Principal("default", ADMIN)))
        if inline:
            self._fixed.extend(parse_keys(inline, "C3_RENDER_KEYS"))
        self._lock = threading.Lock()
        self._file_entries: list[_Entry] = []
        self._file_stamp: tuple | None = None
        self._checked_at = float("-inf")
        if path:
            self._file_entries, self._file_stamp = self._read_file()  # a bad file stops start-up
            self._checked_at = clock()

    @property
    def open(self) -> bool:
        """True when no key is configured at all: every request acts as :data:`ANONYMOUS`."""
        return not self.path and not self._fixed

    def entries(self) -> list[_Entry]:
        self._reload_if_changed()
        return self._fixed + self._file_entries

    def identify(self, presented: str) -> Principal | None:
        """The principal of ``presented``, or None; every entry is compared, in constant time each."""
        digest = key_digest(presented)
        found = None
        for entry in self.entries():
            if hmac.compare_digest(digest, entry.digest) and found is None:
                found = entry.principal
        return found

    def _stamp(self) -> tuple:
        info = os.stat(self.path)
        return info.st_mtime_ns, info.st_size, info.st_ino

    def _read_file(self) -> tuple[list[_Entry], tuple]:
        try:
            stamp = self._stamp()
            with open(self.path, encoding="utf-8") as handle:
                text = handle.read()
        except OSError as exc:
            raise KeysError(f"C3_RENDER_KEYS_FILE {self.path} cannot be read: {exc.strerror or exc}") from None
        return parse_keys(text, f"C3_RENDER_KEYS_FILE {self.path}"), stamp

    def _reload_if_changed(self) -> None:
        if not self.path or self.clock() - self._checked_at < RELOAD_CHECK_INTERVAL:
            return
        with self._lock:
            if self.clock() - self._checked_at < RELOAD_CHECK_INTERVAL:
                return
            self._checked_at = self.clock()
            try:
                if self._stamp() == self._file_stamp:
                    return
                entries, stamp = self._read_file()
            except (OSError, KeysError) as exc:
                log.error("keeping the previous API keys: %s", exc)
                return
            self._file_entries, self._file_stamp = entries, stamp
            log.info("reloaded %d API key(s) from %s", len(entries), self.path)
