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
    └── NotFoundError               no such federation, round or client

Crypto failures are deliberately opaque (like Fernet's bare ``InvalidToken``):
messages never carry a secret, a share, a key or a vector.
"""

from __future__ import annotations

__all__ = [
    "AuthError",
    "BlindsumError",
    "BudgetExhaustedError",
    "ConfigError",
    "CryptoError",
    "DecryptionError",
    "InvalidShareError",
    "InvalidSignatureError",
    "MalformedMessageError",
    "MaskMismatchError",
    "NotFoundError",
    "PayloadTooLargeError",
    "ProtocolError",
    "RoundStateError",
    "StaleRoundError",
    "ThresholdNotMetError",
    "WrongSizeError",
]


class BlindsumError(Exception):
    """Base class of every error blindsum raises on purpose."""


class ConfigError(BlindsumError):
    """A configuration that is unsafe (could overflow, leak) or cannot work."""


class ProtocolError(BlindsumError):
    """A participant or the server sent something the protocol forbids."""


class RoundStateError(ProtocolError):
    """A message or call arrived in a stage where it is not allowed."""


class StaleRoundError(ProtocolError):
    """A message belongs to another round or federation."""


class MalformedMessageError(ProtocolError):
    """Bytes that do not decode to a well-formed message."""


class WrongSizeError(MalformedMessageError):
    """An upload whose declared size is not the one the round's spec fixes."""


class PayloadTooLargeError(MalformedMessageError):
    """A request body larger than anything the round could accept."""


class ThresholdNotMetError(ProtocolError):
    """Too few participants remain to finish the round without losing privacy."""


class CryptoError(BlindsumError):
    """A cryptographic check failed; deliberately says nothing more."""


class InvalidSignatureError(CryptoError):
    """A signature did not verify."""


class InvalidShareError(CryptoError):
    """Secret shares are inconsistent or out of range."""


class MaskMismatchError(CryptoError):
    """Masks did not cancel as the protocol requires."""


class DecryptionError(CryptoError):
    """An envelope or ciphertext failed to authenticate or decrypt."""


class BudgetExhaustedError(BlindsumError):
    """Training would push a client past its privacy budget."""


class AuthError(BlindsumError):
    """Unknown, expired or reused credentials (all look the same on purpose)."""


class NotFoundError(BlindsumError):
    """No such federation, round or client."""
