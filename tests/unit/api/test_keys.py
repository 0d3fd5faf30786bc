"""The key ring: formats, roles, constant-time lookup over every entry, reload on change."""

import hashlib
import json

import pytest

from render_api.keys import ADMIN, ANONYMOUS, CLIENT, KeyRing, KeysError, Principal, parse_keys

ALICE = "alice-key-0123456789abcdef"


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_single_key_of_the_original_is_an_admin_named_default():
    ring = KeyRing(api_key="short")
    assert ring.identify("short") == Principal("default", ADMIN)
    assert ring.identify("other") is None
    assert not ring.open


def test_no_key_at_all_is_open():
    assert KeyRing().open
    assert ANONYMOUS.admin


def test_keys_by_digest_or_in_clear_with_roles():
    ring = KeyRing(inline=json.dumps([
        {"name": "alice", "sha256": hashlib.sha256(ALICE.encode()).hexdigest()},
        {"name": "ops", "key": "ops-key-0123456789abcdef", "role": "admin"},
    ]))
    assert ring.identify(ALICE) == Principal("alice", CLIENT)
    assert ring.identify("ops-key-0123456789abcdef").admin
    assert ring.identify(ALICE.upper()) is None
    assert Principal("alice", CLIENT).may_see("alice") and not Principal("alice", CLIENT).may_see("bob")


@pytest.mark.parametrize("document, message", [
    ("not json", "not valid JSON"),
    ('{"keys": 1}', "must be a list"),
    ('[{"name": "a b", "key": "0123456789abcdef"}]', "name must be"),
    ('[{"name": "a", "key": "0123456789abcdef", "role": "root"}]', "role must be"),
    ('[{"name": "a"}]', "exactly one of key or sha256"),
    ('[{"name": "a", "key": "short"}]', "at least 16"),
    ('[{"name": "a", "sha256": "abc"}]', "64 hex digits"),
    ('[{"name": "a", "key": "0123456789abcdef", "extra": 1}]', "unknown fields"),
])
def test_bad_documents_name_the_entry(document, message):
    with pytest.raises(KeysError, match=message):
        parse_keys(document, "test")


def test_the_file_is_reloaded_on_change_and_a_broken_file_keeps_the_old_keys(tmp_path):
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({"keys": [{"name": "alice", "key": ALICE}]}))
    clock = Clock()
    ring = KeyRing(path=str(path), clock=clock)
    assert ring.identify(ALICE).name == "alice"

    path.write_text(json.dumps({"keys": [{"name": "bob", "key": "bob-key-0123456789abcdef"}]}))
    assert ring.identify(ALICE) is not None  # not checked again within a second
    clock.now += 1.5
    assert ring.identify(ALICE) is None
    assert ring.identify("bob-key-0123456789abcdef").name == "bob"

    path.write_text("{broken")
    clock.now += 1.5
    assert ring.identify("bob-key-0123456789abcdef").name == "bob"


def test_a_bad_file_stops_start_up(tmp_path):
    with pytest.raises(KeysError, match="cannot be read"):
        KeyRing(path=str(tmp_path / "missing.json"))


def test_every_entry_is_compared(monkeypatch):
    import render_api.keys as keys

    calls = []
    real = keys.hmac.compare_digest
    monkeypatch.setattr(keys.hmac, "compare_digest", lambda a, b: calls.append(1) or real(a, b))
    ring = KeyRing(api_key=ALICE, inline=json.dumps([{"name": f"k{i}", "key": f"key-{i:02d}-0123456789abcdef"}
                                                       for i in range(5)]))
    assert ring.identify(ALICE).name == "default"  # the first entry
    assert len(calls) == 6
