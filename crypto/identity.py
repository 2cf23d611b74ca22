"""A client's identity key: the recipe for code outside :mod:`blindsum.crypto`.

Routes, the ledger, the SDK and benchmarks make and export keys here; every signature
is made or checked by the protocol module that owns the statement signed (the
enrollment proof in :mod:`~blindsum.crypto.enrollment`, a DP event in
:mod:`~blindsum.crypto.dp_events`, a CKKS upload in :mod:`~blindsum.crypto.ckks`,
SecAgg messages in :mod:`~blindsum.crypto.secagg`), each over its own
domain-separated canonical payload. Nothing outside ``crypto`` signs raw bytes.
A custodian also holds an X25519 exchange key, on which it receives key re-shares.
"""

from __future__ import annotations

from blindsum.crypto.hazmat.kex import generate_private_key as generate_exchange_key
from blindsum.crypto.hazmat.kex import public_bytes as exchange_public_bytes
from blindsum.crypto.hazmat.signing import generate_identity_key, identity_public_bytes

__all__ = ["exchange_public_bytes", "generate_exchange_key", "generate_identity_key",
           "identity_public_bytes"]
