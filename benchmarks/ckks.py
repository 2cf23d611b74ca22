"""CKKS benchmark: blindsum's format against TenSEAL's tutorial and NVFlare's parameters.

All three encrypt the same vectors in the same run. The peers use TenSEAL the
way those projects do (serialize a ``CKKSVector`` per ciphertext; the server
deserializes with the public context and adds); blindsum uploads raw RNS
coefficients that the server checks and adds with numpy. Reported per scheme:

* encrypt time per client and bytes per float (upload bytes / d);
* server add time per client (parse + check + add into the running sum); for
  blindsum also the SHA-256 of the upload, which the service computes once per
  upload for its content-addressed store and key custody's signature check;
* decrypt time of the sum and its relative error ``max|dec - sum| / max|sum|``;
* the same error for a sum of ``precision_clients`` clients (one ciphertext each).
"""

from __future__ import annotations

import hashlib
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from blindsum.crypto.ckks.accumulator import EncryptedSumAccumulator
from blindsum.crypto.ckks.custody import LocalKeyCustody
from blindsum.crypto.ckks.encryptor import CkksEncryptor, sign_upload
from blindsum.crypto.ckks.params import CkksParams
from blindsum.crypto.identity import generate_identity_key, identity_public_bytes

__all__ = ["PEERS", "CkksBenchConfig", "run_ckks_bench"]

PEERS = {
    "tenseal-tutorial": (8192, (60, 40, 40, 60), 40),
    "nvflare": (8192, (60, 40, 40), 40),
}


@dataclass(frozen=True)
class CkksBenchConfig:
    clients: int = 10
    dim: int = 1_000_000
    precision_clients: int = 1000
    peers: bool = True
    seed: int = 0


class _Blindsum:
    """blindsum's path: raw-coefficient uploads, numpy accumulator, custody decrypt."""

    name = "blindsum"

    def __init__(self, max_clients: int) -> None:
        self.params = CkksParams.for_clients(max_clients)
        self.custody = LocalKeyCustody.generate(self.params)
        self.encryptor = CkksEncryptor(self.params, self.custody.public_context())
        self.hash_seconds: list[float] = []

    def start(self, dim: int) -> None:
        self.acc = EncryptedSumAccumulator(self.params, dim, round_id=b"bench")
        self.roster: dict[int, bytes] = {}
        self.hash_seconds = []

    def encrypt(self, x: np.ndarray) -> Any:
        """Encrypt and sign, as a client does."""
        key = generate_identity_key()
        client_id = len(self.roster) + 1
        self.roster[client_id] = identity_public_bytes(key)
        upload = self.encryptor.encrypt(x)
        return client_id, upload, sign_upload(key, b"bench", client_id, upload)

    def size(self, upload: Any) -> int:
        return len(upload[1])

    def add(self, upload: Any) -> None:
        client_id, data, signature = upload
        self.acc.add(data, client_id=client_id, signature=signature, digest=self.digest)

    def hash_upload(self, upload: Any) -> None:
        """The SHA-256 the service computes while receiving the upload (timed apart)."""
        start = time.perf_counter()
        self.digest = hashlib.sha256(upload[1]).digest()
        self.hash_seconds.append(time.perf_counter() - start)

    def decrypt(self) -> np.ndarray:
        self.acc.close()
        return self.custody.decrypt_sum(self.acc, min_clients=len(self.roster),
                                        roster=self.roster)


class _Threshold(_Blindsum):
    """Threshold custody: three custodians, any two decrypt; the aggregator fuses."""

    name = "threshold"

    def __init__(self, max_clients: int, custodians: int = 3, threshold: int = 2) -> None:
        from blindsum.crypto.ckks.threshold.params import ThresholdParams
        from blindsum.crypto.ckks.threshold.simulate import simulate_custody

        self.threshold_params = ThresholdParams.derive(
            max_clients=max_clients, max_abs=1.0, custodians=custodians, threshold=threshold)
        self.params = self.threshold_params.ckks
        self.custodians = simulate_custody(self.threshold_params)
        self.keygen_seconds = self.custodians.keygen_seconds
        self.active = list(range(1, threshold + 1))
        self.encryptor = CkksEncryptor(self.params, self.custodians.public_context())
        self.hash_seconds = []
        self.partial_seconds: list[float] = []
        self.fuse_seconds = 0.0

    def decrypt(self) -> np.ndarray:
        from blindsum.crypto.ckks.threshold.decryption import decode, fuse

        self.acc.close()
        total = self.acc.ciphertext_sum().reshape(-1, self.params.words_per_chunk)
        partials, self.partial_seconds = {}, []
        for i in self.active:
            start = time.perf_counter()
            partials[i] = self.custodians.partial(i, total, self.active)
            self.partial_seconds.append(time.perf_counter() - start)
        start = time.perf_counter()
        values = decode(self.params, fuse(self.params, total, partials), self.acc.dimension)
        self.fuse_seconds = time.perf_counter() - start
        return values


class _TensealNative:
    """A peer: one serialized CKKSVector per ciphertext, TenSEAL on the server."""

    def __init__(self, name: str, degree: int, bits: tuple[int, ...], scale_bits: int) -> None:
        import tenseal as ts

        self.name, self.slots = name, degree // 2
        self.secret = ts.context(ts.SCHEME_TYPE.CKKS, poly_modulus_degree=degree,
                                 coeff_mod_bit_sizes=list(bits))
        self.secret.global_scale = 2.0**scale_bits
        public = self.secret.copy()
        public.make_context_public()
        self.public = ts.context_from(public.serialize(save_galois_keys=False,
                                                       save_relin_keys=False))

    def start(self, dim: int) -> None:
        self.running: list[Any] | None = None
        self.dim = dim

    def encrypt(self, x: np.ndarray) -> Any:
        import tenseal as ts

        return [ts.ckks_vector(self.public, x[i:i + self.slots].tolist()).serialize()
                for i in range(0, x.size, self.slots)]

    def size(self, upload: Any) -> int:
        return sum(len(b) for b in upload)

    def add(self, upload: Any) -> None:
        import tenseal as ts

        vectors = [ts.ckks_vector_from(self.public, b) for b in upload]
        if self.running is None:
            self.running = vectors
        else:
            for i, v in enumerate(vectors):
                self.running[i] += v

    def decrypt(self) -> np.ndarray:
        assert self.running is not None
        out = []
        for v in self.running:
            v.link_context(self.secret)
            out.extend(v.decrypt())
        return np.array(out[: self.dim])


def _measure(scheme: Any, vectors: Callable[[int], np.ndarray], clients: int,
             dim: int) -> dict[str, float]:
    scheme.start(dim)
    exact = np.zeros(dim)
    enc_s, add_s, sizes = [], [], []
    for u in range(clients):
        x = vectors(u)
        exact += x
        start = time.perf_counter()
        upload = scheme.encrypt(x)
        enc_s.append(time.perf_counter() - start)
        sizes.append(scheme.size(upload))
        if hasattr(scheme, "hash_upload"):
            scheme.hash_upload(upload)
        start = time.perf_counter()
        scheme.add(upload)
        add_s.append(time.perf_counter() - start)
    start = time.perf_counter()
    total = scheme.decrypt()
    dec_s = time.perf_counter() - start
    return {
        "encrypt_seconds": statistics.median(enc_s),
        "bytes_per_float": statistics.median(sizes) / dim,
        "server_add_seconds": statistics.median(add_s),
        "decrypt_seconds": dec_s,
        "relative_error": float(np.max(np.abs(total - exact)) / np.max(np.abs(exact))),
    }


def run_ckks_bench(cfg: CkksBenchConfig,
                   progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run every scheme on the same vectors; return a JSON-ready report with ratios."""
    say = progress or (lambda _msg: None)
    schemes: list[Any] = [_Blindsum(max(cfg.clients, cfg.precision_clients)),
                          _Threshold(max(cfg.clients, cfg.precision_clients))]
    if cfg.peers:
        schemes += [_TensealNative(name, *spec) for name, spec in PEERS.items()]
    big = np.random.default_rng(cfg.seed)
    base = big.uniform(-1, 1, cfg.dim)

    def throughput_vector(u: int) -> np.ndarray:
        return np.roll(base, 7919 * u)  # distinct vectors without holding n of them

    def precision_vector(u: int) -> np.ndarray:
        return np.random.default_rng(cfg.seed + u).uniform(0, 1, 2048)

    report: dict[str, Any] = {"config": asdict(cfg)}
    for scheme in schemes:
        say(f"{scheme.name}: {cfg.clients} clients x {cfg.dim}")
        row = _measure(scheme, throughput_vector, cfg.clients, cfg.dim)
        if getattr(scheme, "hash_seconds", None):
            row["upload_sha256_seconds"] = statistics.median(scheme.hash_seconds)
        if isinstance(scheme, _Threshold):
            row["partial_decrypt_seconds"] = statistics.median(scheme.partial_seconds)
            row["fuse_seconds"] = scheme.fuse_seconds
            row["keygen_seconds_per_custodian"] = scheme.keygen_seconds
            row["flooding_log2_sigma"] = float(np.log2(scheme.threshold_params.flooding.sigma))
            row["statistical_bits"] = scheme.threshold_params.flooding.statistical_bits
        say(f"{scheme.name}: precision with {cfg.precision_clients} clients")
        row["relative_error_many"] = _measure(
            scheme, precision_vector, cfg.precision_clients, 2048)["relative_error"]
        report[scheme.name] = row
    keys = ("encrypt_seconds", "bytes_per_float", "server_add_seconds", "decrypt_seconds")
    if cfg.peers:
        ours = report["blindsum"]
        report["ratios"] = {peer: {key: ours[key] / report[peer][key] for key in keys}
                            for peer in PEERS}
        report["threshold_ratios"] = {
            other: {key: report["threshold"][key] / report[other][key] for key in keys}
            for other in ("blindsum", *PEERS)}
    return report
