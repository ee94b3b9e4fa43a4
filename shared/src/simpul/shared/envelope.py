"""Envelope encryption of the private keys a service keeps in its database (AES-256-GCM).

Each key is encrypted under its own random data key; the data key is wrapped by a key-encryption
key (KEK) that never enters the database. Rotating the KEK re-wraps the data keys only.

A sealed value: MAGIC | KEK id (8 bytes) | nonce + wrapped data key (60) | nonce + ciphertext.
The caller's `context` (e.g. the row's key id) is authenticated with the ciphertext, so a sealed
value copied onto another row does not open there.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from simpul.shared.settings import BaseServiceSettings, read_or_create_secret

MAGIC = b"SE1"
_ID_BYTES = 8
_NONCE_BYTES = 12
_WRAPPED_BYTES = _NONCE_BYTES + 32 + 16
_HEADER_BYTES = len(MAGIC) + _ID_BYTES + _WRAPPED_BYTES
_WRAP_CONTEXT = b"simpul data key"


class EnvelopeError(Exception):
    """A sealed value that can't be opened here (unknown KEK, tampered, or not sealed at all)."""


def parse_key(text: str) -> bytes:
    """A KEK as written in settings: 32 random bytes, base64url (padding optional)."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("a key-encryption key is 32 bytes in base64url") from exc
    if len(raw) != 32:
        raise ValueError("a key-encryption key is 32 bytes in base64url")
    return raw


def new_key_text() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode("ascii").rstrip("=")


def key_id(kek: bytes) -> bytes:
    return hashlib.sha256(b"simpul kek id" + kek).digest()[:_ID_BYTES]


class KeyEncryptionKeys:
    """The current KEK, which seals, and previous ones, which still open until re-wrapped."""

    def __init__(self, current: bytes, previous: Iterable[bytes] = ()) -> None:
        self.current = current
        self.current_id = key_id(current)
        self._by_id = {key_id(kek): AESGCM(kek) for kek in (current, *previous)}

    @classmethod
    def parse(cls, text: str) -> KeyEncryptionKeys:
        """Keys separated by commas or new lines, the current one first."""
        keys = [parse_key(part.strip()) for part in text.replace(",", "\n").splitlines() if part.strip()]
        if not keys:
            raise ValueError("no key-encryption key given")
        return cls(keys[0], keys[1:])

    def seal(self, plaintext: bytes, context: bytes) -> bytes:
        data_key = AESGCM.generate_key(bit_length=256)
        wrap_nonce, data_nonce = os.urandom(_NONCE_BYTES), os.urandom(_NONCE_BYTES)
        wrapped = wrap_nonce + self._by_id[self.current_id].encrypt(wrap_nonce, data_key, _WRAP_CONTEXT)
        ciphertext = AESGCM(data_key).encrypt(data_nonce, plaintext, context)
        return MAGIC + self.current_id + wrapped + data_nonce + ciphertext

    def open(self, sealed: bytes, context: bytes) -> bytes:
        data_key = self._data_key(sealed)
        body = sealed[_HEADER_BYTES:]
        try:
            return AESGCM(data_key).decrypt(body[:_NONCE_BYTES], body[_NONCE_BYTES:], context)
        except InvalidTag as exc:
            raise EnvelopeError("the sealed value does not match its context or was altered") from exc

    def rewrap(self, sealed: bytes) -> bytes:
        """The same ciphertext with its data key wrapped by the current KEK."""
        data_key = self._data_key(sealed)
        nonce = os.urandom(_NONCE_BYTES)
        wrapped = nonce + self._by_id[self.current_id].encrypt(nonce, data_key, _WRAP_CONTEXT)
        return MAGIC + self.current_id + wrapped + sealed[_HEADER_BYTES:]

    def is_current(self, sealed: bytes) -> bool:
        return sealed[len(MAGIC): len(MAGIC) + _ID_BYTES] == self.current_id

    def _data_key(self, sealed: bytes) -> bytes:
        if len(sealed) <= _HEADER_BYTES + _NONCE_BYTES or not sealed.startswith(MAGIC):
            raise EnvelopeError("not a sealed value")
        kek = self._by_id.get(sealed[len(MAGIC): len(MAGIC) + _ID_BYTES])
        if kek is None:
            raise EnvelopeError("sealed under a key-encryption key this process does not have")
        wrapped = sealed[len(MAGIC) + _ID_BYTES: _HEADER_BYTES]
        try:
            return kek.decrypt(wrapped[:_NONCE_BYTES], wrapped[_NONCE_BYTES:], _WRAP_CONTEXT)
        except InvalidTag as exc:
            raise EnvelopeError("the wrapped data key was altered") from exc


class ReloadingKeys:
    """The configured KEKs, read again when a sealed value names one not held: another process
    re-wrapped it under a new key, which a KEK file shows at once (a variable only after a
    restart, until which opening fails with EnvelopeError)."""

    def __init__(self, read: Callable[[], KeyEncryptionKeys]) -> None:
        self._read = read
        self.keys = read()

    def seal(self, plaintext: bytes, context: bytes) -> bytes:
        return self.keys.seal(plaintext, context)

    def open(self, sealed: bytes, context: bytes) -> bytes:
        try:
            return self.keys.open(sealed, context)
        except EnvelopeError:
            self.keys = self._read()
            return self.keys.open(sealed, context)


def load_keys(inline: str | None, file: Path | None, default_file: Path) -> KeyEncryptionKeys:
    """From SIMPUL_KEY_ENCRYPTION_KEY, else SIMPUL_KEY_ENCRYPTION_KEY_FILE, else (embedded
    default) a file generated once under data_dir with mode 0600."""
    if inline:
        return KeyEncryptionKeys.parse(inline)
    if file is not None:
        return KeyEncryptionKeys.parse(file.read_text())
    return KeyEncryptionKeys.parse(read_or_create_secret(default_file))


def keys_for(settings: BaseServiceSettings) -> KeyEncryptionKeys:
    return load_keys(settings.key_encryption_key, settings.key_encryption_key_file,
                     settings.default_key_encryption_key_file())


async def rotate_key_encryption_key(
    settings: BaseServiceSettings, rewrap: Callable[[KeyEncryptionKeys], Awaitable[int]]
) -> int:
    """Re-wrap every data key of the service under the current KEK; the number re-wrapped.

    A KEK the operator manages (variable or file) is rotated by giving "new,old" first, running
    this, then giving "new" alone. The generated development file is rotated here: a new key is
    put first, the data keys re-wrapped, and the old key removed from the file.
    """
    if settings.key_encryption_key or settings.key_encryption_key_file:
        return await rewrap(keys_for(settings))
    path = settings.default_key_encryption_key_file()
    old = [line.strip() for line in read_or_create_secret(path).splitlines() if line.strip()]
    new = new_key_text()
    # Both in the file while re-wrapping: a replica that reads it meanwhile opens either.
    write_key_file(path, [new, *old])
    count = await rewrap(KeyEncryptionKeys.parse(path.read_text()))
    write_key_file(path, [new])
    return count


def write_key_file(path: Path, keys_text: Iterable[str]) -> None:
    """Replace a KEK file atomically, readable by its owner only."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("\n".join(keys_text) + "\n")
    os.replace(temporary, path)
