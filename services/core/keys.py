"""The region's signing key: loaded from, or created in, the key directory; never leaves it.

The private key is only ever held in memory and written to its own 0600 file. Everything that
leaves the process (events, JWKS, logs) carries the public JWK alone.
"""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey

# RFC 7638 §3.2: the thumbprint covers only the required members of each key type.
_THUMBPRINT_MEMBERS = {
    "RSA": ("e", "kty", "n"),
    "EC": ("crv", "kty", "x", "y"),
    "OKP": ("crv", "kty", "x"),
}
# The public key parameters of each key type (RFC 7518 §6.2.1, §6.3.1; RFC 8037 §2): for these
# types exactly the thumbprint members.
_PUBLIC_MEMBERS = _THUMBPRINT_MEMBERS


class KeyFileError(RuntimeError):
    """The key file cannot be used safely; the message is one line fit for an operator."""


@dataclass(frozen=True)
class SigningKey:
    kid: str
    alg: str
    private_key: PrivateKey
    public_jwk: dict[str, str]

    def __repr__(self) -> str:
        # Keep the private key out of any repr that might reach a log or a traceback.
        return f"SigningKey(kid={self.kid!r}, alg={self.alg!r})"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    members = _THUMBPRINT_MEMBERS[jwk["kty"]]
    canonical = orjson.dumps({name: jwk[name] for name in members}, option=orjson.OPT_SORT_KEYS)
    return b64url(hashlib.sha256(canonical).digest())


def public_jwk(private_key: PrivateKey) -> dict[str, str]:
    """The public key parameters as a JWK (string members only: ``kty`` and the key's own)."""
    if isinstance(private_key, rsa.RSAPrivateKey):
        jwk: Any = RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    elif isinstance(private_key, ec.EllipticCurvePrivateKey):
        jwk = ECAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    else:
        jwk = OKPAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    return public_members(jwk)


def public_members(jwk: Mapping[str, Any]) -> dict[str, str]:
    """Only the public key parameters of ``jwk``'s key type (RFC 7517 §4, RFC 7518 §6).

    Anything else is dropped: PyJWT's ``to_jwk`` adds ``key_ops`` (an array, RFC 7517 §4.3) that
    earlier code stored as the string ``"['verify']"``, which strict JWK parsers refuse; such
    records are still in the logs and stores, so readers of a stored JWK pass it through here.
    Raises KeyError for an unknown ``kty`` or a missing parameter.
    """
    return {name: str(jwk[name]) for name in _PUBLIC_MEMBERS[str(jwk["kty"])]}


def generate_private_key(alg: str) -> PrivateKey:
    if alg == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    raise KeyFileError(f"unsupported signing algorithm {alg!r}")


def key_path(key_dir: Path, region: str, alg: str) -> Path:
    return key_dir / f"{region}-{alg.lower()}.pem"


def load_or_create(key_dir: Path, region: str, alg: str) -> SigningKey:
    path = key_path(key_dir, region, alg)
    private_key = _load(path, alg) if path.exists() else _create(key_dir, path, alg)
    return signing_key(private_key, alg)


def signing_key(private_key: PrivateKey, alg: str) -> SigningKey:
    jwk = public_jwk(private_key)
    return SigningKey(kid=jwk_thumbprint(jwk), alg=alg, private_key=private_key, public_jwk=jwk)


def load(key_dir: Path, region: str, alg: str) -> SigningKey:
    """The key in the region's key file; KeyFileError (one line) if it is missing or unsafe."""
    return signing_key(_load(key_path(key_dir, region, alg), alg), alg)


def file_version(key_dir: Path, region: str, alg: str) -> tuple[int, int, int] | None:
    """What changes when the key file is replaced (inode, size, mtime), or None if absent."""
    try:
        st = key_path(key_dir, region, alg).stat()
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def install(key_dir: Path, region: str, key: SigningKey) -> None:
    """Replace the region's key file with ``key`` (atomic, 0600). The old private key is gone
    from disk: its tokens keep verifying through the published public key alone."""
    pem = key.private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path = key_path(key_dir, region, key.alg)
    try:
        _write_private(path, pem)
    except OSError as exc:
        raise KeyFileError(f"cannot write signing key {path}: {exc.strerror}") from None


def _load(path: Path, alg: str) -> PrivateKey:
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyFileError(
                f"signing key {path} is accessible by group/others (mode {stat.S_IMODE(mode):o});"
                " run: chmod 600 " + str(path)
            )
        data = path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read signing key {path}: {exc.strerror}") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise KeyFileError(f"signing key {path} is not an unencrypted PEM private key") from None
    if not isinstance(key, _EXPECTED_TYPE[alg]):
        raise KeyFileError(f"signing key {path} is not a {alg} key")
    return key  # type: ignore[return-value]


_EXPECTED_TYPE: dict[str, type] = {
    "RS256": rsa.RSAPrivateKey,
    "ES256": ec.EllipticCurvePrivateKey,
    "EdDSA": ed25519.Ed25519PrivateKey,
}


def _create(key_dir: Path, path: Path, alg: str) -> PrivateKey:
    key = generate_private_key(alg)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        key_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        _write_private(path, pem)
    except OSError as exc:
        raise KeyFileError(f"cannot write signing key {path}: {exc.strerror}") from None
    return key


def _write_private(path: Path, pem: bytes) -> None:
    """Write atomically: a crash leaves either no key file or a complete one, never a torn one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, pem)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
