"""The two secrets each client shares, and the keys they stand for.

Both are scalars of the Ed25519 group, so their shares can carry Feldman
commitments (:mod:`blindsum.crypto.hazmat.feldman`).

* The self-mask secret keys the self-mask PRG through SHA-256 (``self_mask_seed``).
* The mask secret ``s`` *is* the X25519 key of the pair masks: the private key is
  the clamped scalar ``8 * (s / 8 mod l)``, which equals ``s`` modulo the group
  order l, so the advertised public key is the Montgomery form of ``s * B``, the
  dealer's first Feldman commitment ``C_0``. A holder can therefore check, when it
  opens its envelope, that the shares it got rebuild the advertised key
  (:func:`mask_key_matches`): a dealer sharing another key is caught before anyone
  masks, not at unmask. The dealer draws ``s`` so that the clamped form exists
  (half of all scalars; 251 bits of key, as for any X25519 key). The check cannot
  tell ``s`` from ``l - s`` (a point and its negation share their Montgomery
  coordinate), nor need it: the server rebuilding a dropped client's ``s`` computes
  its pair secrets without clamping (:func:`pair_secret`), which gives the same
  X25519 secret for ``s``, ``l - s`` and any other scalar behind the advertised key.

The client and the server derive everything the same way.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from nacl import bindings as sodium
from nacl.exceptions import RuntimeError as SodiumRuntimeError

from blindsum.crypto.hazmat import kex, shamir
from blindsum.crypto.hazmat.feldman import GROUP_ORDER, derive_key

__all__ = ["mask_key_matches", "mask_private_key", "pair_secret", "random_mask_secret",
           "self_mask_seed"]

_SELF_SEED_PURPOSE = b"secagg-self-mask-seed"
_INVERSE_OF_8 = pow(8, -1, GROUP_ORDER)


def self_mask_seed(secret: bytes) -> bytes:
    """The 256-bit PRG seed of the self mask, from its shared secret (32 bytes)."""
    return derive_key(int.from_bytes(secret, "big"), purpose=_SELF_SEED_PURPOSE)


def _clamped(scalar: int) -> int | None:
    """The X25519 private scalar equal to ``scalar`` mod l, if one exists: a multiple of 8
    in [2^254, 2^255), i.e. 8 * (scalar / 8 mod l) with the quotient in [2^251, 2^252)."""
    quotient = scalar * _INVERSE_OF_8 % GROUP_ORDER
    return 8 * quotient if 2**251 <= quotient < 2**252 else None


def random_mask_secret() -> bytes:
    """A fresh mask secret whose scalar is usable as an X25519 private key as it is."""
    while True:
        secret = shamir.random_secret()
        if _clamped(int.from_bytes(secret, "big")) is not None:
            return secret


def mask_private_key(secret: bytes) -> X25519PrivateKey:
    """The X25519 key of the pair masks: the secret's scalar itself, in clamped form.

    Raises ValueError for a secret :func:`random_mask_secret` would not draw (the server
    never needs this form: it uses :func:`pair_secret`)."""
    clamped = _clamped(int.from_bytes(secret, "big"))
    if clamped is None:
        raise ValueError("this mask secret has no X25519 form")
    return kex.load_private_key(clamped.to_bytes(32, "little"))


def mask_key_matches(first_commitment: bytes, mask_public_key: bytes) -> bool:
    """Whether the secret committed to by ``C_0`` is the key ``mask_public_key`` advertises
    (the Montgomery form of the Edwards point ``C_0``)."""
    try:
        montgomery = sodium.crypto_sign_ed25519_pk_to_curve25519(first_commitment)
    except SodiumRuntimeError:
        return False
    return bytes(montgomery) == mask_public_key


def pair_secret(secret: bytes, peer_first_commitment: bytes) -> bytes:
    """The X25519 shared secret between the owner of mask ``secret`` and the peer whose
    mask key is the Montgomery form of ``peer_first_commitment`` (its ``s_w * B``): the
    Montgomery coordinate of ``s * s_w * B``, computed without clamping ``s``, so it is
    what the peer's own X25519 gives for any scalar behind the owner's advertised key."""
    try:
        point = sodium.crypto_scalarmult_ed25519_noclamp(
            (int.from_bytes(secret, "big") % GROUP_ORDER).to_bytes(32, "little"),
            peer_first_commitment)
        return bytes(sodium.crypto_sign_ed25519_pk_to_curve25519(point))
    except SodiumRuntimeError as exc:
        raise ValueError("no pair secret for this scalar and commitment") from exc
