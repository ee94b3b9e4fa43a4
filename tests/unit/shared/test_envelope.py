"""Envelope encryption of stored private keys: sealed values open only with their context and a
KEK that wrapped them; re-wrapping changes the KEK, not the ciphertext; the development KEK file
is made once, readable by its owner only, and rotated in place."""

from __future__ import annotations

import asyncio
import stat
from concurrent.futures import ThreadPoolExecutor

import pytest

from simpul.shared.envelope import (
    EnvelopeError,
    KeyEncryptionKeys,
    load_keys,
    new_key_text,
    parse_key,
    rotate_key_encryption_key,
)
from simpul.shared.settings import BaseServiceSettings

SECRET = b"-----BEGIN PRIVATE KEY----- not really"


def test_a_sealed_value_opens_with_its_context_only():
    keys = KeyEncryptionKeys.parse(new_key_text())
    sealed = keys.seal(SECRET, b"kid-1")
    assert SECRET not in sealed
    assert keys.open(sealed, b"kid-1") == SECRET
    with pytest.raises(EnvelopeError):
        keys.open(sealed, b"kid-2")
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(EnvelopeError):
        keys.open(tampered, b"kid-1")
    with pytest.raises(EnvelopeError, match="not a sealed value"):
        keys.open(SECRET, b"kid-1")


def test_rewrapping_moves_the_data_key_to_the_new_kek_and_leaves_the_ciphertext():
    old, new = new_key_text(), new_key_text()
    sealed = KeyEncryptionKeys.parse(old).seal(SECRET, b"ctx")
    during = KeyEncryptionKeys.parse(f"{new},{old}")
    assert during.open(sealed, b"ctx") == SECRET and not during.is_current(sealed)
    rewrapped = during.rewrap(sealed)
    assert during.is_current(rewrapped) and rewrapped[-len(SECRET) - 16:] == sealed[-len(SECRET) - 16:]
    assert KeyEncryptionKeys.parse(new).open(rewrapped, b"ctx") == SECRET
    with pytest.raises(EnvelopeError, match="does not have"):
        KeyEncryptionKeys.parse(old).open(rewrapped, b"ctx")


@pytest.mark.parametrize("text", ["", "short", "!" * 43, new_key_text() + "AAAA"], ids=["empty", "short", "not-base64", "too-long"])
def test_a_malformed_kek_is_refused_with_a_clear_message(text):
    with pytest.raises(ValueError, match="key-encryption key"):
        KeyEncryptionKeys.parse(text) if text == "" else parse_key(text)


def test_the_development_kek_file_is_made_once_with_owner_only_permissions(tmp_path):
    path = tmp_path / "secrets" / "x-key-encryption.key"
    with ThreadPoolExecutor(8) as pool:
        loaded = list(pool.map(lambda _: load_keys(None, None, path).current, range(16)))
    assert len(set(loaded)) == 1
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    inline = new_key_text()
    assert load_keys(inline, path, path).current == parse_key(inline)


def test_rotating_the_development_kek_rewraps_and_keeps_only_the_new_key(tmp_path):
    settings = BaseServiceSettings(data_dir=tmp_path)
    path = settings.default_key_encryption_key_file()
    sealed = [load_keys(None, None, path).seal(SECRET, b"ctx")]

    async def rewrap(keys: KeyEncryptionKeys) -> int:
        sealed[0] = keys.rewrap(sealed[0])
        return 1

    before = path.read_text()
    assert asyncio.run(rotate_key_encryption_key(settings, rewrap)) == 1
    after = path.read_text()
    assert after != before and len(after.split()) == 1
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_keys(None, None, path).open(sealed[0], b"ctx") == SECRET
