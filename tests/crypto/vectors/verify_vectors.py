"""Check every known-answer vector with an implementation that shares no code with blindsum.

Run once whenever ``generate_vectors.py`` changes the files, before committing them:
``python tests/crypto/vectors/verify_vectors.py``. Nothing here imports blindsum:

* AES-256-CTR, ChaCha20 (RFC 7539 layout: 32-bit counter from 0, 96-bit nonce),
  HKDF-SHA256 and AES-256-GCM come from pycryptodome;
* X25519 is computed twice, by pycryptodome and by the RFC 7748 ladder in pure
  Python (itself checked against the RFC's own test vectors first);
* Shamir and fixed point are plain integer and float arithmetic; the field
  prime (the Ed25519 group order) is checked with sympy (Miller-Rabin if sympy is
  missing);
* Feldman commitments are recomputed with textbook Edwards-curve arithmetic
  (RFC 8032 sec. 5.1, extended coordinates) in pure Python, itself checked
  against the RFC's encoding of the base point first.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import struct
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from Crypto.Cipher import AES, ChaCha20
from Crypto.Hash import SHA256
from Crypto.Protocol.DH import import_x25519_private_key, import_x25519_public_key, key_agreement
from Crypto.Protocol.KDF import HKDF

HERE = Path(__file__).resolve().parent
P25519 = 2**255 - 19
SHAMIR_PRIME = 2**252 + 27742317777372353535851937790883648493
PRG_IV_LABEL = b"blindsum/v1|prg|"
HKDF_PROTOCOL = b"blindsum/v1"
GCM_NONCE, GCM_TAG = 12, 16
SHARE_BYTES = 32
# RFC 8032 sec. 5.1: edwards25519, its base point B and B's encoding.
ED_D = -121665 * pow(121666, P25519 - 2, P25519) % P25519
ED_BASE_ENCODED = "5866666666666666666666666666666666666666666666666666666666666666"

# RFC 7748 section 5.2 (scalar, u, output) and section 6.1 (a, A, b, B, K).
RFC7748_5_2 = (
    ("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
     "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
     "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"),
    ("4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
     "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
     "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957"),
)
RFC7748_6_1 = (
    "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
    "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
    "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
    "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f",
    "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742",
)
X25519_BASE = (9).to_bytes(32, "little")


# --- X25519 ------------------------------------------------------------------------------


def x25519_ladder(scalar: bytes, u_bytes: bytes) -> bytes:
    """RFC 7748 section 5, straight from the text."""
    k = bytearray(scalar)
    k[0] &= 248
    k[31] &= 127
    k[31] |= 64
    kn = int.from_bytes(k, "little")
    u = int.from_bytes(u_bytes, "little") & ((1 << 255) - 1)
    x1, x2, z2, x3, z3, swap = u, 1, 0, u, 1, 0
    for t in reversed(range(255)):
        bit = (kn >> t) & 1
        swap ^= bit
        if swap:
            x2, x3, z2, z3 = x3, x2, z3, z2
        swap = bit
        a, b = (x2 + z2) % P25519, (x2 - z2) % P25519
        aa, bb = a * a % P25519, b * b % P25519
        e = (aa - bb) % P25519
        c, d = (x3 + z3) % P25519, (x3 - z3) % P25519
        da, cb = d * a % P25519, c * b % P25519
        x3, z3 = (da + cb) ** 2 % P25519, x1 * (da - cb) ** 2 % P25519
        x2, z2 = aa * bb % P25519, e * (aa + 121665 * e) % P25519
    if swap:
        x2, z2 = x3, z3
    return (x2 * pow(z2, P25519 - 2, P25519) % P25519).to_bytes(32, "little")


def x25519_pycryptodome(private: bytes, peer_public: bytes) -> bytes:
    shared = key_agreement(static_priv=import_x25519_private_key(private),
                           static_pub=import_x25519_public_key(peer_public), kdf=bytes)
    return bytes(shared)


def x25519_public_pycryptodome(private: bytes) -> bytes:
    public: bytes = import_x25519_private_key(private).public_key().export_key(format="raw")
    return public


def x25519(private: bytes, peer_public: bytes) -> bytes:
    """The ladder and pycryptodome, which must agree."""
    ours = x25519_ladder(private, peer_public)
    assert ours == x25519_pycryptodome(private, peer_public), "X25519 implementations disagree"
    return ours


def self_test_x25519() -> None:
    for scalar, u, out in RFC7748_5_2:
        assert x25519_ladder(bytes.fromhex(scalar), bytes.fromhex(u)).hex() == out
    a, pub_a, b, pub_b, shared = (bytes.fromhex(h) for h in RFC7748_6_1)
    for private, public in ((a, pub_a), (b, pub_b)):
        assert x25519_ladder(private, X25519_BASE) == public
        assert x25519_public_pycryptodome(private) == public
    assert x25519(a, pub_b) == x25519(b, pub_a) == shared


# --- primality of the Shamir field --------------------------------------------------------


def _miller_rabin(n: int) -> bool:
    """Miller-Rabin with the first 64 primes as bases (error below 4^-64 for composites)."""
    bases = [q for q in range(2, 320) if all(q % d for d in range(2, math.isqrt(q) + 1))][:64]
    if n < 2 or any(n % q == 0 for q in bases):
        return n in bases
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for a in bases:
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def _ed_add(a: tuple[int, int, int, int], b: tuple[int, int, int, int]
            ) -> tuple[int, int, int, int]:
    p = P25519
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    aa, bb = (y1 - x1) * (y2 - x2) % p, (y1 + x1) * (y2 + x2) % p
    cc, dd = t1 * 2 * ED_D * t2 % p, z1 * 2 * z2 % p
    e, f, g, h = bb - aa, dd - cc, dd + cc, bb + aa
    return e * f % p, g * h % p, f * g % p, e * h % p


def _ed_mult(k: int, point: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    acc = (0, 1, 1, 0)
    while k:
        if k & 1:
            acc = _ed_add(acc, point)
        point, k = _ed_add(point, point), k >> 1
    return acc


def _ed_encode(point: tuple[int, int, int, int]) -> str:
    x, y, z, _ = point
    zi = pow(z, P25519 - 2, P25519)
    x, y = x * zi % P25519, y * zi % P25519
    return (y | (x & 1) << 255).to_bytes(32, "little").hex()


def _ed_base() -> tuple[int, int, int, int]:
    p = P25519
    y = 4 * pow(5, p - 2, p) % p
    xx = (y * y - 1) * pow(ED_D * y * y + 1, p - 2, p) % p
    x = pow(xx, (p + 3) // 8, p)
    if (x * x - xx) % p:
        x = x * pow(2, (p - 1) // 4, p) % p
    if x & 1:
        x = p - x
    return x, y, 1, x * y % p


def self_test_ed25519() -> None:
    base = _ed_base()
    assert _ed_encode(base) == ED_BASE_ENCODED
    assert _ed_encode(_ed_mult(SHAMIR_PRIME, base)) == _ed_encode((0, 1, 1, 0))


def check_feldman(v: dict[str, Any]) -> None:
    p, base = SHAMIR_PRIME, _ed_base()
    coefficients = [int(c, 16) for c in v["coefficients"]]
    assert [_ed_encode(_ed_mult(c, base)) for c in coefficients] == v["commitments"]
    for x, y in ((int(x), int(y, 16)) for x, y in v["shares"].items()):
        assert y == sum(c * pow(x, j, p) for j, c in enumerate(coefficients)) % p
        # the check a holder makes: y * B == sum_j x^j * C_j
        acc = (0, 1, 1, 0)
        for j, c in enumerate(coefficients):
            acc = _ed_add(acc, _ed_mult(pow(x, j, p), _ed_mult(c, base)))
        assert _ed_encode(acc) == _ed_encode(_ed_mult(y, base))


def self_test_shamir_prime() -> str:
    """l = 2^252 + 27742317777372353535851937790883648493 (RFC 8032) is prime."""
    try:
        import sympy
    except ImportError:
        is_prime: Callable[[int], bool] = _miller_rabin
        how = "Miller-Rabin, 64 bases"
    else:
        is_prime = sympy.isprime
        how = "sympy.isprime"
    assert _miller_rabin(SHAMIR_PRIME)
    assert is_prime(SHAMIR_PRIME)
    return how


# --- per-file checks ---------------------------------------------------------------------


def _keystream(algorithm: str, key: bytes, domain: bytes, nbytes: int) -> bytes:
    tag = hashlib.sha256(PRG_IV_LABEL + domain).digest()
    cipher: Any
    if algorithm == "aes-256-ctr":
        # 64-bit domain tag || 64-bit big-endian block counter starting at 0.
        cipher = AES.new(key, AES.MODE_CTR, nonce=tag[:8], initial_value=0)
    elif algorithm == "chacha20":
        # 12-byte nonce: pycryptodome uses the RFC 7539 block (counter 0, then the nonce).
        cipher = ChaCha20.new(key=key, nonce=tag[:12])
    else:
        raise AssertionError(f"unknown PRG algorithm {algorithm}")
    stream: bytes = cipher.encrypt(bytes(nbytes))
    return stream


def check_prg(v: dict[str, Any]) -> None:
    width = {"uint32": 4, "uint64": 8}[v["dtype"]]
    stream = _keystream(v["algorithm"], bytes.fromhex(v["seed"]), bytes.fromhex(v["domain"]),
                        width * v["length"])
    if "mask_le" in v:
        assert stream.hex() == v["mask_le"]
    else:
        assert hashlib.sha256(stream).hexdigest() == v["mask_sha256"]
        words = [int.from_bytes(stream[i * width:(i + 1) * width], "little") for i in range(8)]
        assert words == v["first_words"]


def check_hkdf(v: dict[str, Any]) -> None:
    a, b = bytes.fromhex(v["private_a"]), bytes.fromhex(v["private_b"])
    pub_a, pub_b = x25519(a, X25519_BASE), x25519(b, X25519_BASE)
    assert pub_a.hex() == v["public_a"] and pub_b.hex() == v["public_b"]
    assert x25519_public_pycryptodome(a) == pub_a and x25519_public_pycryptodome(b) == pub_b
    shared = x25519(a, pub_b)
    assert shared == x25519(b, pub_a)
    assert shared.hex() == v["shared_secret"]
    info = b"|".join([HKDF_PROTOCOL, bytes.fromhex(v["purpose"]),
                      bytes.fromhex(v["context"]).hex().encode(),
                      str(v["first"]).encode(), str(v["second"]).encode()])
    assert info.hex() == v["info"]
    # salt=None in RFC 5869 means HashLen zero bytes.
    key = HKDF(shared, 32, bytes(32), SHA256, context=info)
    assert key.hex() == v["key"]


def check_envelope(v: dict[str, Any]) -> None:
    key, nonce, aad = bytes.fromhex(v["key"]), bytes.fromhex(v["nonce"]), bytes.fromhex(v["aad"])
    cipher = AES.new(key, AES.MODE_GCM, nonce=nonce, mac_len=GCM_TAG)
    cipher.update(aad)
    ct, tag = cipher.encrypt_and_digest(bytes.fromhex(v["plaintext"]))
    assert (nonce + ct + tag).hex() == v["sealed"]
    assert _gcm_open(key, bytes.fromhex(v["sealed"]), aad) == bytes.fromhex(v["plaintext"])


def _gcm_open(key: bytes, sealed: bytes, aad: bytes) -> bytes | None:
    if len(sealed) < GCM_NONCE + GCM_TAG:
        return None
    cipher = AES.new(key, AES.MODE_GCM, nonce=sealed[:GCM_NONCE], mac_len=GCM_TAG)
    cipher.update(aad)
    try:
        plaintext: bytes = cipher.decrypt_and_verify(sealed[GCM_NONCE:-GCM_TAG],
                                                     sealed[-GCM_TAG:])
    except ValueError:
        return None
    return plaintext


def check_envelope_invalid(v: dict[str, Any]) -> None:
    assert _gcm_open(bytes.fromhex(v["key"]), bytes.fromhex(v["sealed"]),
                     bytes.fromhex(v["aad"])) is None


def _interpolate_at_zero(points: list[tuple[int, int]]) -> int:
    p, total = SHAMIR_PRIME, 0
    for j, (xj, yj) in enumerate(points):
        num = den = 1
        for m, (xm, _) in enumerate(points):
            if m != j:
                num, den = num * (-xm) % p, den * (xj - xm) % p
        total += yj * num * pow(den, p - 2, p)
    return total % p


def check_shamir(v: dict[str, Any]) -> None:
    p, t = SHAMIR_PRIME, v["threshold"]
    secret = int.from_bytes(bytes.fromhex(v["secret"]), "big")
    poly = [secret] + [int(c, 16) for c in v["coefficients"]]
    assert len(poly) == t and all(0 <= c < p for c in poly)
    assert len(set(v["xs"])) == len(v["xs"]) and all(0 < x < p for x in v["xs"])
    assert set(v["shares"]) == {str(x) for x in v["xs"]} == set(v["encoded_shares"])
    shares = {int(x): int(y, 16) for x, y in v["shares"].items()}
    for x, y in shares.items():
        assert sum(c * pow(x, i, p) for i, c in enumerate(poly)) % p == y
        assert v["encoded_shares"][str(x)] == y.to_bytes(SHARE_BYTES, "big").hex()
    subsets = list(itertools.islice(itertools.combinations(sorted(shares.items()), t), 50))
    subsets.append(sorted(shares.items())[-t:])
    for subset in subsets:
        assert _interpolate_at_zero(list(subset)) == secret
    if len(shares) > t:  # t - 1 shares say nothing: t of them with one moved miss the secret
        moved = [*sorted(shares.items())[: t - 1], (v["xs"][-1], (shares[v["xs"][-1]] + 1) % p)]
        assert _interpolate_at_zero(moved) != secret


def _chacha20_zero_nonce_words(key: bytes, n: int) -> list[int]:
    stream = ChaCha20.new(key=key, nonce=bytes(12)).encrypt(bytes(4 * n))
    return list(struct.unpack(f"<{n}I", stream))


def check_fixedpoint(v: dict[str, Any]) -> None:
    bits, clip, max_clients = v["bits"], float(v["clip_norm"]), v["max_clients"]
    per_client = (2 ** (bits - 1) - 1) // max_clients
    levels = min(per_client - 1, 2**52)
    scale = levels / clip  # int / float: the int is exact in float64 (at most 2^52)
    assert scale.hex() == v["scale"]

    x = [float(u) for u in v["update"]]
    norm = math.sqrt(math.fsum(u * u for u in x))
    if norm > clip:
        factor = clip / norm
        x = [u * factor for u in x]
    assert [u.hex() for u in x] == v["clipped"]

    rng_words = _chacha20_zero_nonce_words(bytes.fromhex(v["rng_key"]), len(x))
    assert rng_words == v["rng_words"]
    words = []
    for u, word in zip(x, rng_words, strict=True):
        scaled = u * scale
        low = math.floor(scaled)
        q = low + (1 if word / 2**32 < scaled - low else 0)
        assert abs(q) <= per_client  # so max_clients of them cannot overflow the signed range
        words.append(q % 2**bits)
    assert words == v["words"]

    signed = [w - 2**bits if w >= 2 ** (bits - 1) else w for w in words]
    decoded = [float(s) / scale for s in signed]
    assert [d.hex() for d in decoded] == v["decoded"]


CHECKS: dict[str, Callable[[dict[str, Any]], None]] = {
    "prg/masks.json": check_prg,
    "kex/hkdf.json": check_hkdf,
    "kex/envelope.json": check_envelope,
    "kex/envelope_invalid.json": check_envelope_invalid,
    "shamir/split.json": check_shamir,
    "shamir/feldman.json": check_feldman,
    "fixedpoint/quantize.json": check_fixedpoint,
}


def verify_file(name: str) -> int:
    """Check one vector file; return how many vectors it holds."""
    vectors = json.loads((HERE / name).read_text())
    assert isinstance(vectors, list) and vectors, f"{name}: no vectors"
    for i, vector in enumerate(vectors):
        try:
            CHECKS[name](vector)
        except AssertionError as exc:
            raise AssertionError(f"{name}#{i} ({vector.get('name')}) fails: {exc}") from exc
    return len(vectors)


def verify_all() -> int:
    """Self-test the references, then check every vector file; return how many vectors."""
    self_test_x25519()
    self_test_shamir_prime()
    self_test_ed25519()
    on_disk = {str(p.relative_to(HERE)) for p in HERE.glob("*/*.json")}
    assert on_disk == set(CHECKS), f"vector files without a check: {on_disk ^ set(CHECKS)}"
    return sum(verify_file(name) for name in CHECKS)


def main() -> int:
    self_test_x25519()
    print("X25519: RFC 7748 5.2 and 6.1 reproduced; ladder and pycryptodome agree")
    print(f"Shamir prime (the Ed25519 group order): prime ({self_test_shamir_prime()})")
    self_test_ed25519()
    print("Ed25519: RFC 8032 base point encoding reproduced; l * B is the identity")
    for name in CHECKS:
        print(f"{name}: {verify_file(name)} vectors agree")
    print(f"all {verify_all()} vectors agree with the independent implementation")
    return 0


if __name__ == "__main__":
    sys.exit(main())
