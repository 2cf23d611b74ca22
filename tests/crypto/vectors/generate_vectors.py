"""Write the known-answer vectors in ``tests/crypto/vectors/<primitive>/*.json`` from blindsum
itself.

Every "random" input is SHA-256 of a label, so re-running gives byte-identical
files. ``verify_vectors.py`` (an independent implementation: pycryptodome and
pure Python, no blindsum) checks every vector once, before the files are
committed; the ``tests/crypto/test_*_vectors.py`` files check that blindsum reproduces
each vector and that the files are still what this script writes.

Run: ``python tests/crypto/vectors/generate_vectors.py`` (``--check`` only reports stale files),
then ``python tests/crypto/vectors/verify_vectors.py``.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from blindsum.crypto.hazmat import feldman, kex, shamir
from blindsum.crypto.hazmat.csprng import Csprng
from blindsum.crypto.hazmat.fixedpoint import FixedPointCodec, clip_to_norm
from blindsum.crypto.hazmat.prg import PrgAlgorithm, mask_from_seed

HERE = Path(__file__).resolve().parent

Vector = dict[str, Any]

# The labels blindsum's SecAgg actually uses (crypto/secagg/stages.py, graph.py), plus b"".
PRG_DOMAINS = (b"secagg/pair-mask", b"secagg/self-mask", b"secagg-graph-shuffle", b"")
PRG_LENGTHS = (0, 1, 7, 64, 1000)
PRG_FULL_OUTPUT_MAX = 64
"""Masks up to this many words are stored whole; longer ones as SHA-256 + first 8 words."""

# RFC 7748 section 6.1: an external anchor for the X25519 part of the HKDF vectors.
RFC7748_ALICE = bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
RFC7748_BOB = bytes.fromhex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")


def _h(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


def _le_bytes(words: np.ndarray) -> bytes:
    return words.astype(words.dtype.newbyteorder("<")).tobytes()


def prg_vectors() -> list[Vector]:
    """Both algorithms and word sizes: every length in the pair-mask domain, and
    the other domains at length 7 (the domain must change the stream)."""
    out = []
    for alg in PrgAlgorithm:
        for dtype in ("uint32", "uint64"):
            cases = [(PRG_DOMAINS[0], n) for n in PRG_LENGTHS]
            cases += [(domain, 7) for domain in PRG_DOMAINS[1:]]
            for domain, length in cases:
                seed = _h(f"prg|{alg.value}|{dtype}|{domain!r}|{length}")
                mask = mask_from_seed(seed, length, domain=domain, dtype=dtype, algorithm=alg)
                data = _le_bytes(mask)
                vec: Vector = {
                    "name": f"{alg.value}-{dtype}-{domain.decode() or 'empty'}-{length}",
                    "algorithm": alg.value, "dtype": dtype, "domain": domain.hex(),
                    "seed": seed.hex(), "length": length,
                }
                if length <= PRG_FULL_OUTPUT_MAX:
                    vec["mask_le"] = data.hex()
                else:
                    vec["mask_sha256"] = hashlib.sha256(data).hexdigest()
                    vec["first_words"] = [int(w) for w in mask[:8]]
                out.append(vec)
    return out


def hkdf_vectors() -> list[Vector]:
    """X25519 between fixed private keys, then HKDF-SHA256 under ``hkdf_info``."""
    cases: list[tuple[str, bytes, bytes, bytes, bytes, int, int]] = []
    for i, (purpose, first, second) in enumerate(
        [(b"secagg-pair-mask", 1, 2), (b"secagg-share-envelope", 7, 3),
         (b"secagg-pair-mask", 4_000_000_000, 4_294_967_295)]
    ):
        cases.append((f"seeded-{i}", _h(f"x25519|a|{i}"), _h(f"x25519|b|{i}"),
                      purpose, _h(f"context|{i}"), first, second))
    cases.append(("rfc7748-6.1-empty-context", RFC7748_ALICE, RFC7748_BOB,
                  b"secagg-share-envelope", b"", 0, 1))
    out = []
    for name, priv_a, priv_b, purpose, context, first, second in cases:
        a, b = kex.load_private_key(priv_a), kex.load_private_key(priv_b)
        key = kex.derive_pair_key(a, kex.public_bytes(b), purpose=purpose, context=context,
                                  first=first, second=second)
        out.append({
            "name": name,
            "private_a": kex.private_bytes(a).hex(), "public_a": kex.public_bytes(a).hex(),
            "private_b": kex.private_bytes(b).hex(), "public_b": kex.public_bytes(b).hex(),
            "shared_secret": a.exchange(b.public_key()).hex(),
            "purpose": purpose.hex(), "context": context.hex(), "first": first, "second": second,
            "info": kex.hkdf_info(purpose, context, first, second).hex(), "key": key.hex(),
        })
    return out


def _envelope_inputs(i: int, size: int) -> tuple[bytes, bytes, bytes, bytes]:
    key, nonce = _h(f"gcm|key|{i}"), _h(f"gcm|nonce|{i}")[:12]
    plaintext, aad = (_h(f"gcm|pt|{i}") * 10)[:size], _h(f"gcm|aad|{i}")[: i * 5]
    return key, nonce, plaintext, aad


def envelope_vectors() -> list[Vector]:
    """AES-256-GCM envelopes ``nonce || ciphertext || tag`` (empty, 1-byte, partial-block
    and multi-block plaintexts; empty and non-empty AAD)."""
    out = []
    for i, size in enumerate((0, 1, 75, 300)):
        key, nonce, plaintext, aad = _envelope_inputs(i, size)
        sealed = kex.seal_envelope_with_nonce(key, nonce, plaintext, aad)
        out.append({"name": f"pt{size}-aad{len(aad)}", "key": key.hex(), "nonce": nonce.hex(),
                    "plaintext": plaintext.hex(), "aad": aad.hex(), "sealed": sealed.hex()})
    return out


def envelope_invalid_vectors() -> list[Vector]:
    """Envelopes that must not open: each is a valid one with one thing changed."""
    key, nonce, plaintext, aad = _envelope_inputs(2, 75)
    sealed = kex.seal_envelope_with_nonce(key, nonce, plaintext, aad)

    def flip(data: bytes, index: int) -> bytes:
        changed = bytearray(data)
        changed[index] ^= 0x01
        return bytes(changed)

    cases = [
        ("tag-bit-flipped", key, flip(sealed, len(sealed) - 1), aad),
        ("ciphertext-bit-flipped", key, flip(sealed, 12), aad),
        ("nonce-bit-flipped", key, flip(sealed, 0), aad),
        ("aad-changed", key, sealed, aad + b"\x00"),
        ("aad-dropped", key, sealed, b""),
        ("wrong-key", flip(key, 31), sealed, aad),
        ("tag-truncated", key, sealed[:-1], aad),
        ("shorter-than-nonce-and-tag", key, sealed[:27], aad),
        ("empty", key, b"", aad),
    ]
    return [{"name": name, "key": k.hex(), "sealed": s.hex(), "aad": a.hex()}
            for name, k, s, a in cases]


def _scalar(label: str) -> bytes:
    """A field element from a label (SHA-256, reduced below the group order)."""
    return (int.from_bytes(_h(label), "big") % shamir.PRIME).to_bytes(32, "big")


def shamir_vectors() -> list[Vector]:
    """Shares ``f(x)`` over GF(l), l the Ed25519 group order, with given coefficients, and
    their 32-byte encodings.

    The last cases are chosen by hand: the largest secret (l - 1), a share equal to 0
    (f(1) = l - 1 + 1), and the extreme points x = 2^252 and l - 1.
    """
    p = shamir.PRIME
    top = (p - 1).to_bytes(32, "big")
    cases: list[tuple[str, int, list[int], bytes, list[int] | None]] = [
        ("t1-zero-secret", 1, [1], bytes(32), None),
        ("t2-largest-secret", 2, [1, 2, 3], top, None),
        ("t3-sparse-points", 3, [5, 9, 11, 40, 41], _scalar("shamir|2"), None),
        ("t8-of-14", 8, list(range(1, 15)), _scalar("shamir|3"), None),
        ("t2-large-point", 2, [2**32 - 1, 17], _scalar("shamir|4"), None),
        ("t2-a-share-of-zero", 2, [1, 2, 298, 299], top, [1]),
        ("t3-extreme-points", 3, [1, 2**252, p - 1], _scalar("shamir|6"), [p - 1, 2**251]),
    ]
    out = []
    for i, (name, t, xs, secret, fixed) in enumerate(cases):
        coefficients = fixed if fixed is not None else [
            int.from_bytes(_h(f"shamir|c|{i}|{j}"), "big") % p for j in range(t - 1)]
        shares = shamir.split_with_coefficients(secret, coefficients, xs)
        out.append({
            "name": name, "secret": secret.hex(), "threshold": t,
            "coefficients": [hex(c) for c in coefficients], "xs": xs,
            "shares": {str(x): hex(y) for x, y in shares.items()},
            "encoded_shares": {str(x): shamir.encode_share(y).hex() for x, y in shares.items()},
        })
    return out


def feldman_vectors() -> list[Vector]:
    """Feldman commitments ``a_j * B`` on Ed25519 to fixed polynomials, and the shares they
    accept; the coefficient 1 gives the base point itself (RFC 8032's encoding of B)."""
    p = shamir.PRIME
    cases = [("t1-one", [1], [1]), ("t2", [7, 11], [1, 2, 3]),
             ("t4-from-labels", [int.from_bytes(_h(f"feldman|{j}"), "big") % p or 1
                                 for j in range(4)], [3, 5, 8, 13, 2**32 - 1]),
             ("t3-largest-coefficients", [p - 1, p - 2, 2**251], [1, 2, p - 1])]
    out = []
    for name, coefficients, xs in cases:
        secret = coefficients[0].to_bytes(32, "big")
        shares = shamir.split_with_coefficients(secret, coefficients[1:], xs)
        out.append({"name": name, "coefficients": [hex(c) for c in coefficients],
                    "commitments": [c.hex() for c in feldman.commit(coefficients)],
                    "shares": {str(x): hex(y) for x, y in shares.items()}})
    return out


FIXEDPOINT_UPDATES = (
    ("mixed", [0.0, 0.25, -0.25, 1e-9]),
    ("clipped-3-4", [3.0, 4.0]),
    ("alternating-signs", [-0.1, 0.2, -0.3, 0.4, -0.5]),
    ("exact-one", [1.0]),
    ("exact-halves-and-signed-zeros", [-0.5, 0.5, 0.0, -0.0]),
)
# (bits, clip_norm, max_clients): the last one hits the 2^52 cap on levels.
FIXEDPOINT_CODECS = ((32, 1.0, 1000), (32, 0.5, 7), (64, 2.0, 10**6), (64, 1.0, 3))


def fixedpoint_vectors() -> list[Vector]:
    """Clip, stochastic rounding with ``Csprng(rng_key)`` and decoding, for several codecs.

    ``rng_words`` are the uint32 words behind ``Csprng.uniform`` (uniform = word / 2^32);
    ``clipped`` is the update after ``clip_to_norm``; floats are stored with ``float.hex``.
    """
    out = []
    for i, (label, update) in enumerate(FIXEDPOINT_UPDATES):
        for bits, clip, max_clients in FIXEDPOINT_CODECS:
            codec = FixedPointCodec.create(bits=bits, clip_norm=clip, max_clients=max_clients)
            key = _h(f"fixedpoint|rng|{i}|{bits}")
            rng_words = np.frombuffer(Csprng(key).random_bytes(4 * len(update)), dtype="<u4")
            clipped = clip_to_norm(np.array(update), clip)
            words = codec.quantize(np.array(update), Csprng(key))
            decoded = codec.dequantize_sum(words, 1)
            out.append({
                "name": f"{label}-{bits}bit-clip{clip}-n{max_clients}",
                "bits": bits, "clip_norm": clip, "max_clients": max_clients,
                "scale": codec.scale.hex(), "rng_key": key.hex(), "update": update,
                "rng_words": [int(w) for w in rng_words],
                "clipped": [float(v).hex() for v in clipped],
                "words": [int(w) for w in words],
                "decoded": [float(v).hex() for v in decoded],
            })
    return out


GENERATORS: dict[str, Callable[[], list[Vector]]] = {
    "prg/masks.json": prg_vectors,
    "kex/hkdf.json": hkdf_vectors,
    "kex/envelope.json": envelope_vectors,
    "kex/envelope_invalid.json": envelope_invalid_vectors,
    "shamir/split.json": shamir_vectors,
    "shamir/feldman.json": feldman_vectors,
    "fixedpoint/quantize.json": fixedpoint_vectors,
}
"""Vector file (relative to ``tests/crypto/vectors``) -> the function that computes its vectors."""


def build_all() -> dict[str, list[Vector]]:
    """Relative file name -> vectors."""
    return {name: generate() for name, generate in GENERATORS.items()}


def render(vectors: list[Vector]) -> str:
    """The exact text of a vector file: a JSON list, one vector per line (diffs stay local)."""
    lines = [json.dumps(v, sort_keys=True, separators=(", ", ": ")) for v in vectors]
    return "[\n" + ",\n".join(lines) + "\n]\n"


def stale_files(names: list[str] | None = None) -> list[str]:
    """The vector files (all, or ``names``) whose text differs from what this script writes."""
    stale = []
    for name in GENERATORS if names is None else names:
        path = HERE / name
        if not path.is_file() or path.read_text() != render(GENERATORS[name]()):
            stale.append(name)
    return stale


def main(argv: list[str]) -> int:
    if "--check" in argv:
        stale = stale_files()
        for name in stale:
            print(f"stale: {name}")
        return 1 if stale else 0
    for name, vectors in build_all().items():
        path = HERE / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(vectors))
        print(f"wrote {len(vectors)} vectors to {path.relative_to(HERE)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
