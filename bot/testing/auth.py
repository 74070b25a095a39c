"""Authentication as GitHub does it: RS256 JWTs for the App, opaque tokens for installations
and users.

The error messages are GitHub's own, so a bot's log reads the same against the emulator.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TypeGuard

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

# GitHub tolerates this much clock drift on `iat`, and no JWT may live longer than 10 min.
CLOCK_SKEW_SECONDS = 60
MAX_JWT_LIFETIME_SECONDS = 600

UNDECODABLE = "A JSON web token could not be decoded"
BAD_ISSUER = "'Issuer' claim ('iss') must be an Integer"
BAD_ISSUED_AT = (
    "'Issued at' claim ('iat') must be an Integer representing the time that the assertion "
    "was issued"
)
EXPIRED = (
    "'Expiration time' claim ('exp') must be a numeric value representing the future time "
    "at which the assertion expires"
)
TOO_LONG = "'Expiration time' claim ('exp') is too far in the future"
# GitHub's token prefixes that stand for a person (classic and fine-grained PATs, OAuth and
# App user tokens); installation tokens start with `ghs_`.
USER_TOKEN_PREFIXES = ("ghp_", "github_pat_", "gho_", "ghu_")


class AuthKind(StrEnum):
    JWT = "jwt"
    INSTALLATION = "installation"
    USER = "user"
    NONE = "none"


class AuthError(Exception):
    """A credential GitHub would refuse; the message is GitHub's."""


@dataclass(frozen=True, slots=True)
class KeyPair:
    """An App's RSA key pair, PEM-encoded: the private half goes to the bot."""

    private_pem: str
    public_pem: str


def generate_key_pair() -> KeyPair:
    """A fresh 2048-bit RSA key pair for an emulated App."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return KeyPair(private_pem.decode("ascii"), public_pem.decode("ascii"))


def load_public_key(pem: str | bytes) -> PublicKeyTypes:
    return serialization.load_pem_public_key(pem.encode("ascii") if isinstance(pem, str) else pem)


def read_authorization(header: str | None) -> tuple[AuthKind, str]:
    """Which kind of credential a request carries, and the credential itself.

    `Bearer` carries either a JWT (three dot-separated parts) or a token; `token` always
    carries a token, a user's when it has a user prefix (as GitHub's tokens announce what
    they are). Anything else counts as an installation token, which then fails as unknown.
    """
    if not header:
        return AuthKind.NONE, ""
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value.count(".") == 2:
        return AuthKind.JWT, value
    if value.startswith(USER_TOKEN_PREFIXES):
        return AuthKind.USER, value
    return AuthKind.INSTALLATION, value


def verify_app_jwt(token: str, *, app_id: int, public_key: PublicKeyTypes, now: float) -> None:
    """Raise AuthError unless `token` is a JWT this App signed and GitHub would accept now."""
    try:
        claims = jwt.decode(
            token,
            public_key,  # type: ignore[arg-type]  # PyJWT accepts any loaded RSA public key
            algorithms=["RS256"],
            # The time claims are checked below, with GitHub's rules and messages.
            options={
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
                # GitHub takes `iss` as a number or a numeric string; PyJWT wants a string.
                "verify_iss": False,
            },
        )
    except jwt.PyJWTError:
        raise AuthError(UNDECODABLE) from None
    _check_issuer(claims.get("iss"), app_id)
    iat, exp = claims.get("iat"), claims.get("exp")
    if not _is_number(iat) or iat > now + CLOCK_SKEW_SECONDS:
        raise AuthError(BAD_ISSUED_AT)
    if not _is_number(exp) or exp <= now:
        raise AuthError(EXPIRED)
    if exp - iat > MAX_JWT_LIFETIME_SECONDS:
        raise AuthError(TOO_LONG)


def _check_issuer(iss: object, app_id: int) -> None:
    if isinstance(iss, bool) or not isinstance(iss, int | str):
        raise AuthError(BAD_ISSUER)
    if isinstance(iss, str) and not iss.isdigit():
        raise AuthError(BAD_ISSUER)
    # Another App's id: its key could not have verified this signature.
    if int(iss) != app_id:
        raise AuthError(UNDECODABLE)


def _is_number(value: object) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool)
