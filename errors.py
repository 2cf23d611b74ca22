"""The single exception tree of blindsum.

Everything blindsum raises on purpose derives from :class:`BlindsumError`, so a
caller can catch one class; the REST layer maps each leaf to a stable
problem+json ``type`` and the SDK maps it back.  Caller misuse (a wrong type, a
negative length) stays ``TypeError``/``ValueError``, as in ``cryptography``.

::

    BlindsumError
    ├── ConfigError                 unsafe or impossible configuration
    ├── ProtocolError               a peer or the server broke the protocol
    │   ├── RoundStateError         a message arrived in the wrong stage
    │   ├── StaleRoundError         a message belongs to another round
    │   ├── MalformedMessageError   bytes that do not decode to a valid message
    │   │   ├── WrongSizeError      an upload whose size is not the round's
    │   │   └── PayloadTooLargeError  a body over the size the round allows
    │   └── ThresholdNotMetError    too few participants left to finish safely
    ├── CryptoError                 opaque: never says which check failed
    │   ├── InvalidSignatureError
    │   ├── InvalidShareError
    │   ├── MaskMismatchError
    │   └── DecryptionError
    ├── BudgetExhaustedError        training would exceed the privacy budget
    ├── AuthError                   unknown, expired or reused credentials
    ├── NotFoundError               no such federation, round or client
    └── ServiceUnavailableError     the service stayed unreachable after retries

Each class has a stable ``slug``: the wire names it ``urn:blindsum:problem:<slug>``
and :func:`error_class_for` maps it back, so a client catches the server's
errors as the same classes.

Crypto failures are deliberately opaque (like Fernet's bare ``InvalidToken``):
messages never carry a secret, a share, a key or a vector.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "AuthError",
    "BlindsumError",
    "BudgetExhaustedError",
    "ConfigError",
    "CryptoError",
    "DecryptionError",
    "error_class_for",
    "InvalidShareError",
    "InvalidSignatureError",
    "MalformedMessageError",
    "NotFoundError",
    "PayloadTooLargeError",
    "ProtocolError",
    "RoundStateError",
    "ServiceUnavailableError",
    "ThresholdNotMetError",
    "WrongSizeError",
]


class BlindsumError(Exception):
    """Base class of every error blindsum raises on purpose."""

    slug: ClassVar[str] = "error"


class ConfigError(BlindsumError):
    """A configuration that is unsafe (could overflow, leak) or cannot work."""

    slug: ClassVar[str] = "invalid-configuration"


class ProtocolError(BlindsumError):
    """A participant or the server sent something the protocol forbids."""

    slug: ClassVar[str] = "protocol-violation"


class RoundStateError(ProtocolError):
    """A message or call arrived in a stage where it is not allowed."""

    slug: ClassVar[str] = "wrong-stage"


class MalformedMessageError(ProtocolError):
    """Bytes that do not decode to a well-formed message."""

    slug: ClassVar[str] = "malformed-message"


class WrongSizeError(MalformedMessageError):
    """An upload whose declared size is not the one the round's spec fixes."""

    slug: ClassVar[str] = "wrong-size"


class PayloadTooLargeError(MalformedMessageError):
    """A request body larger than anything the round could accept."""

    slug: ClassVar[str] = "payload-too-large"


class ThresholdNotMetError(ProtocolError):
    """Too few participants remain to finish the round without losing privacy."""

    slug: ClassVar[str] = "threshold-not-met"


class CryptoError(BlindsumError):
    """A cryptographic check failed; deliberately says nothing more."""

    slug: ClassVar[str] = "crypto-check-failed"


class InvalidSignatureError(CryptoError):
    """A signature did not verify."""

    slug: ClassVar[str] = "invalid-signature"


class InvalidShareError(CryptoError):
    """Secret shares are inconsistent or out of range."""

    slug: ClassVar[str] = "invalid-share"


class DecryptionError(CryptoError):
    """An envelope or ciphertext failed to authenticate or decrypt."""

    slug: ClassVar[str] = "decryption-failed"


class BudgetExhaustedError(BlindsumError):
    """Training would push a client past its privacy budget."""

    slug: ClassVar[str] = "budget-exhausted"


class AuthError(BlindsumError):
    """Unknown, expired or reused credentials (all look the same on purpose)."""

    slug: ClassVar[str] = "unauthorized"


class NotFoundError(BlindsumError):
    """No such federation, round or client."""

    slug: ClassVar[str] = "not-found"


class ServiceUnavailableError(BlindsumError):
    """The service could not be reached or stayed unavailable after retries."""

    slug: ClassVar[str] = "service-unavailable"


def _all_classes(root: type[BlindsumError]) -> list[type[BlindsumError]]:
    found = [root]
    for sub in root.__subclasses__():
        found += _all_classes(sub)
    return found


def error_class_for(slug: str) -> type[BlindsumError]:
    """The class whose ``slug`` this is; :class:`BlindsumError` for one this version lacks."""
    for cls in _all_classes(BlindsumError):
        if cls.__dict__.get("slug") == slug:
            return cls
    return BlindsumError
