"""After real rounds, look at everything the server kept (database, blob store, logs):
no client's update appears in any form, stored masked vectors look uniform, and in CKKS
mode nothing but the closed sum was ever decrypted."""

from __future__ import annotations

import base64
import logging
import math
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import MetaData, select

from .conftest import FEDERATION
from .secagg_site import round_sites

DIM = 4096


def _everything_stored(api, data_dir: Path) -> bytes:
    """Every cell of every table, and every file under the data directory."""
    engine = api.app.state.engine
    meta = MetaData()
    meta.reflect(bind=engine)
    parts = []
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            for row in conn.execute(select(table)):
                for value in row:
                    parts.append(value if isinstance(value, bytes) else str(value).encode())
    parts += [p.read_bytes() for p in data_dir.rglob("*") if p.is_file()]
    return b"\x00".join(parts)


def _quantized_prefixes(codec, x: np.ndarray) -> list[bytes]:
    """The possible encodings of the first two coordinates (stochastic rounding goes either
    way), as they would appear unmasked."""
    scaled = x[:2] * codec.scale
    options = []
    for a in (math.floor(scaled[0]), math.ceil(scaled[0])):
        for b in (math.floor(scaled[1]), math.ceil(scaled[1])):
            options.append(np.array([a, b], dtype=np.int64).astype("<u4").tobytes())
    return options


def _chi_square_uniform_p(words: np.ndarray, buckets: int = 64) -> float:
    from scipy.stats import chisquare

    counts = np.bincount((words >> np.uint32(32 - 6)).astype(np.int64), minlength=buckets)
    return float(chisquare(counts).pvalue)


def test_secagg_server_keeps_no_update_in_any_form(api, admin, enroll, settings, caplog
                                                   ) -> None:
    caplog.set_level(logging.DEBUG)
    spec = dict(FEDERATION, parameters=[{"name": "b", "shape": [DIM]}])
    fid = api.post("/v1/federations", json=spec, headers=admin).json()["id"]
    members = [enroll(fid) for _ in range(4)]
    rng = np.random.default_rng(11)
    updates = []
    for _ in range(2):  # two rounds
        round_json = api.post(f"/v1/federations/{fid}/rounds", headers=admin).json()
        sites = round_sites(api, fid, members, round_json)
        for step in ("commit", "advertise", "share", "check"):
            for s in sites:
                getattr(s, step)()
        for s in sites:
            x = rng.uniform(-1, 1, DIM) * (0.5 / math.sqrt(DIM))
            updates.append((s.machine.context.codec, x))
            s.mask(x)
        for step in ("sign", "unmask"):
            for s in sites:
                getattr(s, step)()
    stored = _everything_stored(api, settings.data_dir)
    stored += "\n".join(r.getMessage() for r in caplog.records).encode()
    from blindsum.crypto.hazmat.csprng import Csprng

    codec, x = updates[0]  # the search would find an unmasked upload
    assert codec.quantize(x, Csprng()).astype("<u4").tobytes()[:8] in _quantized_prefixes(codec, x)
    for codec, x in updates:
        assert x.astype("<f8").tobytes()[:16] not in stored
        assert x.astype("<f4").tobytes()[:8] not in stored
        for prefix in _quantized_prefixes(codec, x):
            assert prefix not in stored
    blobs = [p for p in (settings.data_dir / "blobs").rglob("*")
             if p.is_file() and p.stat().st_size == 4 * DIM]
    assert len(blobs) >= 8  # the masked inputs of both rounds (and the sums, as float64: 8x)
    for path in blobs:
        words = np.frombuffer(path.read_bytes(), dtype="<u4")
        assert _chi_square_uniform_p(words) > 1e-6, path.name


def test_the_uniformity_check_can_tell(api) -> None:
    """The check above is not vacuous: an unmasked quantized update fails it."""
    x = np.random.default_rng(0).normal(0, 1e-3, DIM)
    quantized = np.round(x * 2**20).astype(np.int64).astype(np.uint32)
    assert _chi_square_uniform_p(quantized) < 1e-6
    assert _chi_square_uniform_p(np.random.default_rng(1).integers(0, 2**32, DIM,
                                                                   dtype=np.uint32)) > 1e-6


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_ckks_custody_decrypts_only_closed_sums(api, admin, enroll, monkeypatch) -> None:
    from blindsum.crypto.ckks import custody
    from blindsum.crypto.ckks.encryptor import CkksEncryptor, sign_upload
    from blindsum.crypto.ckks.params import CkksParams

    calls = []
    original = custody.LocalKeyCustody.decrypt_sum

    def watched(self, accumulator, *args, **kwargs):
        calls.append((accumulator.closed, len(accumulator.contributions)))
        return original(self, accumulator, *args, **kwargs)

    monkeypatch.setattr(custody.LocalKeyCustody, "decrypt_sum", watched)
    spec = dict(FEDERATION, mode="ckks", parameters=[{"name": "b", "shape": [64]}],
                max_clients=5, custody="local")
    fid = api.post("/v1/federations", json=spec, headers=admin).json()["id"]
    members = [enroll(fid) for _ in range(3)]
    round_json = api.post(f"/v1/federations/{fid}/rounds", headers=admin).json()
    context = api.get(f"/v1/federations/{fid}/ckks/public-context",
                      headers={"Authorization": f"Bearer {members[0][1]}"}).content
    encryptor = CkksEncryptor(CkksParams.for_clients(5), context)
    for client_id, token, key in members:
        data = encryptor.encrypt(np.full(64, 0.1))
        signature = sign_upload(key, round_json["id"].encode(), client_id, data)
        response = api.put(f"/v1/federations/{fid}/rounds/{round_json['id']}/ckks-upload",
                           content=data, headers={
                               "Authorization": f"Bearer {token}",
                               "X-Blindsum-Signature": base64.urlsafe_b64encode(signature)
                               .rstrip(b"=").decode()})
        assert response.status_code == 202
    final = api.get(f"/v1/federations/{fid}/rounds/{round_json['id']}", headers=admin).json()
    assert final["stage"] == "closed"
    assert len(calls) == 1  # one decryption, of the closed round's sum of all three uploads
    assert calls[0] == (True, 3)
