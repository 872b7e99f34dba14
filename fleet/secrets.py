"""Secrets at rest: the server secret, node key encryption, token hashing, private files.

Node keys are encrypted with AES-256-GCM under the server secret, with the
node id as associated data (a ciphertext copied to another node's row does not
decrypt). API tokens are 32 random bytes; the registry stores only their
SHA-256 (a token has 256 bits of entropy, so a fast hash is the right one).
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import stat
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SECRET_LEN = 32
NODE_KEY_LEN = 32
TOKEN_PREFIX = "cnf_"  # noqa: S105 - a prefix, not a secret


class SecretError(Exception):
    """The server secret cannot be used; the message says why and where."""


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically, mode 0600 from the first byte."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def load_secret(path: Path, *, create: bool = True) -> bytes:
    """The server secret from ``path`` (mode 0600, 32 bytes); made on first use if ``create``."""
    if not path.exists():
        if not create:
            raise SecretError(f"{path}: the server secret does not exist")
        write_private(path, secrets.token_bytes(SECRET_LEN))
    st = path.stat()
    if st.st_mode & 0o077:
        raise SecretError(
            f"{path}: mode {stat.S_IMODE(st.st_mode):04o} lets the group or others read the "
            f"server secret; allowed: 0600 (chmod 600 {path})"
        )
    data = path.read_bytes()
    if len(data) != SECRET_LEN:
        raise SecretError(f"{path}: {len(data)} bytes, allowed: exactly {SECRET_LEN}")
    return data


class KeyBox:
    """Encrypts and decrypts node keys under the server secret."""

    def __init__(self, secret: bytes) -> None:
        self._aead = AESGCM(secret)

    def seal(self, node_id: str, key: bytes) -> bytes:
        """nonce (12 bytes) + ciphertext and tag."""
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, key, node_id.encode())

    def open(self, node_id: str, sealed: bytes) -> bytes:
        """The node key; raises cryptography's InvalidTag when it does not belong."""
        return self._aead.decrypt(sealed[:12], sealed[12:], node_id.encode())

    def __repr__(self) -> str:
        return "KeyBox(<secret>)"


def new_node_key() -> bytes:
    """32 random bytes."""
    return secrets.token_bytes(NODE_KEY_LEN)


def new_token() -> str:
    """A new API token (shown once)."""
    return TOKEN_PREFIX + base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()


def token_hash(token: str) -> str:
    """What the registry stores of a token."""
    return hashlib.sha256(token.encode()).hexdigest()
