"""API keys: where they come from, what is refused, how they are checked."""

import pytest

from encoderkit.errors import DataError, EncoderkitError
from encoderkit.server.keys import ApiKeys, load_keys, read_key_file

KEY = "k" * 20


def test_key_file_and_environment(tmp_path):
    f = tmp_path / "keys.txt"
    f.write_text(f"# keys for the search service\n\n{KEY}\n  {'z' * 32}  \n")
    assert read_key_file(f) == [KEY, "z" * 32]
    assert load_keys(f, env={"ENCODERKIT_API_KEYS": f"{'a' * 16}, {'b' * 16}"}) == [KEY, "z" * 32, "a" * 16, "b" * 16]
    assert load_keys(None, env={}) == []


def test_weak_or_missing_keys_are_refused(tmp_path):
    f = tmp_path / "keys.txt"
    f.write_text(f"{KEY}\nshort\n")
    with pytest.raises(DataError, match=r"keys.txt:2: API key is shorter than 16"):
        read_key_file(f)
    f.write_text("# nothing\n")
    with pytest.raises(DataError, match="no API keys"):
        read_key_file(f)
    with pytest.raises(EncoderkitError, match="cannot read API key file"):
        read_key_file(tmp_path / "missing.txt")
    with pytest.raises(EncoderkitError, match="shorter than 16"):
        load_keys(None, env={"ENCODERKIT_API_KEYS": "tiny"})


def test_check():
    keys = ApiKeys([KEY, "y" * 16])
    assert keys.check(f"Bearer {KEY}") and keys.check(f"bearer {'y' * 16}") and keys.check(f"Bearer {KEY}".encode())
    assert not keys.check(KEY) and not keys.check(f"Basic {KEY}") and not keys.check("Bearer ") and not keys.check(None)
    assert not keys.check(f"Bearer {KEY}x") and not keys.check(f"Bearer {KEY[:-1]}")
    assert not ApiKeys([]).check(f"Bearer {KEY}") and not ApiKeys([])
