"""Flower's own SecAgg+ as the peer of the side-by-side benchmark.

What is Flower's code and what is a replica:

* Client side: Flower's code itself. Every node runs the stage dispatch of
  ``flwr.client.mod.secure_aggregation.secaggplus_mod.secaggplus_mod`` minus the
  ``Message``/``Context`` plumbing: its state is rebuilt as
  ``SecAggPlusState(**ConfigRecord)``, the incoming ``ConfigRecord`` goes through
  ``check_stage`` and ``check_configs``, the stage key is popped, the real stage
  function (``_setup``, ``_share_keys``, ``_collect_masked_vectors``, ``_unmask``)
  runs, and the state is saved back as ``ConfigRecord(state.to_dict())``. The model
  update is one ndarray of shape ``(dim,)`` handed over as ``flwr.common.Parameters``
  built with ``ndarrays_to_parameters``, exactly what ``secaggplus_mod`` passes on
  from the ``FitRes``. Only the stage functions themselves are timed.
* Server side: a line-for-line replica of the loops of ``SecAggPlusWorkflow``
  (the workflow needs a running Flower ``Grid``): the shuffled neighbour ring of
  ``setup_stage`` (``num_shares`` counts the node itself, so ``num_shares = k + 1``),
  the ciphertext forwarding of ``share_keys_stage``, the summation of
  ``collect_masked_vectors_stage`` and the reconstruction of ``unmask_stage``, all
  built from Flower's own primitives (``bytes_to_ndarray``, ``combine_shares``,
  ``generate_shared_key``, ``pseudo_rand_gen``, ``parameters_addition`` /
  ``parameters_subtraction`` / ``parameters_mod``, ``factor_extract``,
  ``dequantize``). ``_check_threshold`` is replicated too, as are the init checks of
  the workflow that would otherwise make Flower fail or return garbage. Node IDs are
  ``0..n-1`` instead of random 64-bit IDs; they only order the pairwise-mask signs.

Weighting: a client sends ``[q_ratio, quantize(update * q_ratio / T)]`` with
``q_ratio = round(num_examples / max_weight * T)``, and the server divides by the
summed factor, so the workflow returns a *weighted average*. Here
``num_examples = 1`` and ``max_weight = 1.0``: every factor is exactly ``T`` (the
update is multiplied by exactly ``1.0``), the server's result is the plain mean of
the survivors, and it is multiplied back by the number of survivors so that
``FlowerRunResult.result`` is the plain sum, comparable to ``expected``.

Security note, the reason blindsum exists: Flower expands every mask with
``np.random.RandomState`` seeded by a 32-bit XOR-fold of the seed
(``pseudo_rand_gen``). For pairwise masks the seed is the *base64 text* of the HKDF
output (``generate_shared_key`` returns ``urlsafe_b64encode(key)``), so the fold of
ASCII characters has only about 28 bits of entropy, and a 32-bit Mersenne-Twister
seed can be brute-forced from a masked vector in any case. blindsum expands its
masks with a cryptographic PRG keyed by the full shared secret instead.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

__all__ = ["FlowerRunResult", "flower_available", "run_flower_secaggplus"]

_NDArrays = list[np.ndarray]
_Inbox = dict[int, tuple[list[bytes], list[int]]]  # dst -> (ciphertexts, srcs)


@dataclass(frozen=True)
class FlowerRunResult:
    """Timings (seconds), upload size (bytes) and the result of one Flower SecAgg+ round."""

    n_clients: int
    dim: int
    dropped: tuple[int, ...]
    client_times_s: tuple[float, ...]
    client_total_times_s: tuple[float, ...]
    server_unmask_s: float
    server_sum_s: float
    upload_bytes_per_client: int
    result: np.ndarray
    expected: np.ndarray
    max_abs_error: float


def flower_available() -> bool:
    """Whether the Flower SecAgg+ modules this peer drives can be imported."""
    import importlib

    try:
        for name in ("flwr.client.mod.secure_aggregation.secaggplus_mod",
                     "flwr.server.workflow.secure_aggregation.secaggplus_workflow"):
            importlib.import_module(name)
    except ImportError:
        return False
    return True


@dataclass(frozen=True)
class _Params:
    """The workflow's protocol parameters (``WorkflowState`` fields) for one round."""

    n: int
    share_num: int  # what the clients receive as Key.SHARE_NUMBER
    ring_shares: int  # what setup_stage builds the ring with (bumped to odd)
    threshold: int
    clip: float
    qrange: int
    mod: int


def _make_params(n: int, k: int, t: int, clip: float, qrange: int, mod: int) -> _Params:
    """Flower's ``_check_init_params`` and ``setup_stage`` parameter logic, with ints."""
    share_num = k + 1
    if n < 2 or share_num <= 2:
        raise ValueError("Flower needs at least 2 clients and num_shares = k + 1 > 2")
    if not 2 <= t < share_num:
        raise ValueError("Flower needs 2 <= reconstruction_threshold < num_shares = k + 1")
    if share_num > mod / qrange:
        raise ValueError("Flower rejects num_shares > modulus_range / quantization_range")
    if mod & (mod - 1) or qrange & (qrange - 1):
        raise ValueError("Flower needs power-of-2 modulus_range and quantization_range")
    ring_shares = share_num
    if n != ring_shares and ring_shares & 1 == 0:
        ring_shares += 1  # setup_stage bumps it *after* the clients' configs were built
    if min(n, ring_shares) > share_num:
        raise ValueError(
            f"k={k} is odd: Flower's ring would give clients more neighbours than the "
            f"num_shares={share_num} they create shares for (IndexError in _share_keys)"
        )
    return _Params(n, share_num, ring_shares, t, float(clip), qrange, mod)


def _ring(nids: list[int], ring_shares: int, seed: int) -> dict[int, set[int]]:
    """``setup_stage``: shuffle node IDs, then neighbours are a window around each."""
    sampled_node_ids = list(nids)
    random.Random(seed).shuffle(sampled_node_ids)  # Flower: random.shuffle(...)
    num_samples = len(sampled_node_ids)
    half_share = ring_shares >> 1
    return {
        nid: {
            sampled_node_ids[(idx + offset) % num_samples]
            for offset in range(-half_share, half_share + 1)
        }
        for idx, nid in enumerate(sampled_node_ids)
    }


def _check_threshold(neighbours: dict[int, set[int]], active: set[int], t: int) -> None:
    """``SecAggPlusWorkflow._check_threshold``: abort if a node lacks active neighbours."""
    for nid, nbrs in neighbours.items():
        if len(nbrs & active) < t:
            raise RuntimeError(f"Flower aborts: node {nid} has < {t} active neighbours")


class _FlowerClient:
    """One node: ``secaggplus_mod``'s dispatch around Flower's real stage functions."""

    def __init__(self, nid: int) -> None:
        from flwr.app import ConfigRecord

        self.nid = nid
        self.saved_state = ConfigRecord({})  # ctxt.state.config_records[RECORD_KEY_STATE]
        self.stage_seconds: dict[str, float] = {}

    def handle(self, configs: dict[str, Any], fit: tuple[Any, ...] = ()) -> dict[str, Any]:
        """Process one incoming ``ConfigRecord`` (with ``Key.STAGE``) as the mod does."""
        from flwr.app import ConfigRecord
        from flwr.client.mod.secure_aggregation.secaggplus_mod import (
            SecAggPlusState,
            _collect_masked_vectors,
            _setup,
            _share_keys,
            _unmask,
            check_configs,
            check_stage,
        )
        from flwr.common.secure_aggregation.secaggplus_constants import Key, Stage

        stage_fns: dict[str, Callable[..., dict[str, Any]]] = {
            Stage.SETUP: _setup,
            Stage.SHARE_KEYS: _share_keys,
            Stage.COLLECT_MASKED_VECTORS: _collect_masked_vectors,
            Stage.UNMASK: _unmask,
        }
        cfg = ConfigRecord(configs)
        state = SecAggPlusState(**self.saved_state)
        check_stage(state.current_stage, cfg)
        state.current_stage = cast(str, cfg.pop(Key.STAGE))
        check_configs(state.current_stage, cfg)
        if state.current_stage == Stage.SETUP:
            state.nid = self.nid  # msg.metadata.dst_node_id
        start = time.perf_counter()
        res = stage_fns[state.current_stage](state, cfg, *fit)
        self.stage_seconds[state.current_stage] = time.perf_counter() - start
        self.saved_state = ConfigRecord(state.to_dict())
        return res

    @property
    def total_seconds(self) -> float:
        """Sum of the wall times of all stage functions this node ran."""
        return sum(self.stage_seconds.values())


def _setup_stage(clients: dict[int, _FlowerClient], p: _Params) -> dict[int, list[bytes]]:
    """``setup_stage``: broadcast the configs, collect ``nid_to_publickeys``."""
    from flwr.common.secure_aggregation.secaggplus_constants import Key, Stage

    sa_params_dict: dict[str, Any] = {
        Key.STAGE: Stage.SETUP, Key.SAMPLE_NUMBER: p.n, Key.SHARE_NUMBER: p.share_num,
        Key.THRESHOLD: p.threshold, Key.CLIPPING_RANGE: p.clip, Key.TARGET_RANGE: p.qrange,
        Key.MOD_RANGE: p.mod, Key.MAX_WEIGHT: 1.0,  # with num_examples=1: weight exactly 1
    }
    public_keys: dict[int, list[bytes]] = {}
    for nid, client in clients.items():
        key_dict = client.handle(dict(sa_params_dict))
        public_keys[nid] = [key_dict[Key.PUBLIC_KEY_1], key_dict[Key.PUBLIC_KEY_2]]
    return public_keys


def _share_keys_stage(clients: dict[int, _FlowerClient], neighbours: dict[int, set[int]],
                      public_keys: dict[int, list[bytes]], active: set[int]) -> _Inbox:
    """``share_keys_stage``: send neighbours' public keys, forward the encrypted shares."""
    from flwr.common.secure_aggregation.secaggplus_constants import Key, Stage

    srcs: list[int] = []
    dsts: list[int] = []
    ciphertexts: list[bytes] = []
    for nid in active:
        cfg: dict[str, Any] = {str(v): public_keys[v] for v in neighbours[nid] & active}
        cfg[Key.STAGE] = Stage.SHARE_KEYS
        res_dict = clients[nid].handle(cfg)
        dst_lst = cast(list[int], res_dict[Key.DESTINATION_LIST])
        srcs += [nid] * len(dst_lst)
        dsts += dst_lst
        ciphertexts += cast(list[bytes], res_dict[Key.CIPHERTEXT_LIST])
    forward: _Inbox = {nid: ([], []) for nid in active}
    for src, dst, ciphertext in zip(srcs, dsts, ciphertexts, strict=True):
        if dst in forward:
            forward[dst][0].append(ciphertext)
            forward[dst][1].append(src)
    return forward


def _collect_stage(clients: dict[int, _FlowerClient], forward: _Inbox, inputs: np.ndarray,
                   active: list[int]) -> dict[int, list[bytes]]:
    """Clients' side of ``collect_masked_vectors_stage``: masked vectors as bytes lists."""
    from flwr.common import ndarrays_to_parameters
    from flwr.common.secure_aggregation.secaggplus_constants import Key, Stage

    uploads: dict[int, list[bytes]] = {}
    for nid in active:
        cfg: dict[str, Any] = {
            Key.STAGE: Stage.COLLECT_MASKED_VECTORS,
            Key.CIPHERTEXT_LIST: forward[nid][0],
            Key.SOURCE_LIST: forward[nid][1],
        }
        fit = (1, ndarrays_to_parameters([inputs[nid]]))  # FitRes.num_examples, .parameters
        res_dict = clients[nid].handle(cfg, fit)
        uploads[nid] = cast(list[bytes], res_dict[Key.MASKED_PARAMETERS])
    return uploads


def _sum_masked(uploads: dict[int, list[bytes]], mod_range: int) -> _NDArrays:
    """Server side of ``collect_masked_vectors_stage``: deserialize, add, reduce mod."""
    from flwr.common import bytes_to_ndarray
    from flwr.common.secure_aggregation.ndarrays_arithmetic import (
        parameters_addition,
        parameters_mod,
    )

    masked_vector: _NDArrays | None = None
    for bytes_list in uploads.values():
        client_masked_vec = [bytes_to_ndarray(b) for b in bytes_list]
        if masked_vector is None:
            masked_vector = client_masked_vec
        else:
            masked_vector = parameters_addition(masked_vector, client_masked_vec)
    if masked_vector is None:
        raise RuntimeError("no masked vectors arrived")
    return parameters_mod(masked_vector, mod_range)


def _unmask_requests(clients: dict[int, _FlowerClient], neighbours: dict[int, set[int]],
                     active: set[int], dead: set[int]) -> dict[int, list[bytes]]:
    """First half of ``unmask_stage``: ask survivors for shares, build the shares dict."""
    from flwr.common.secure_aggregation.secaggplus_constants import Key, Stage

    collected_shares_dict: dict[int, list[bytes]] = {nid: [] for nid in neighbours}
    for nid in active:
        nbrs = neighbours[nid]
        cfg: dict[str, Any] = {
            Key.STAGE: Stage.UNMASK,
            Key.ACTIVE_NODE_ID_LIST: list(nbrs & active),
            Key.DEAD_NODE_ID_LIST: list(nbrs & dead),
        }
        res_dict = clients[nid].handle(cfg)
        nids = cast(list[int], res_dict[Key.NODE_ID_LIST])
        shares = cast(list[bytes], res_dict[Key.SHARE_LIST])
        for owner_nid, share in zip(nids, shares, strict=True):
            collected_shares_dict[owner_nid].append(share)
    return collected_shares_dict


def _remove_masks(masked_vector: _NDArrays, collected: dict[int, list[bytes]],
                  active: set[int], neighbours: dict[int, set[int]],
                  public_keys: dict[int, list[bytes]], p: _Params) -> _NDArrays:
    """``unmask_stage``'s loop: rebuild every private mask and the dead nodes' pair masks."""
    from flwr.common.secure_aggregation.crypto.shamir import combine_shares
    from flwr.common.secure_aggregation.crypto.symmetric_encryption import generate_shared_key
    from flwr.common.secure_aggregation.ndarrays_arithmetic import (
        get_parameters_shape,
        parameters_addition,
        parameters_subtraction,
    )
    from flwr.common.secure_aggregation.secaggplus_utils import pseudo_rand_gen
    from flwr.supercore.primitives.asymmetric import bytes_to_private_key, bytes_to_public_key

    for nid, share_list in collected.items():
        if len(share_list) < p.threshold:
            raise RuntimeError("Not enough shares to recover secret in unmask vectors stage")
        secret = combine_shares(share_list)
        shape = get_parameters_shape(masked_vector)
        if nid in active:
            private_mask = pseudo_rand_gen(secret, p.mod, shape)
            masked_vector = parameters_subtraction(masked_vector, private_mask)
            continue
        for neighbor_nid in neighbours[nid] - {nid}:  # Flower: neighbours.remove(nid)
            shared_key = generate_shared_key(
                bytes_to_private_key(secret), bytes_to_public_key(public_keys[neighbor_nid][0])
            )
            pairwise_mask = pseudo_rand_gen(shared_key, p.mod, shape)
            if nid > neighbor_nid:
                masked_vector = parameters_addition(masked_vector, pairwise_mask)
            else:
                masked_vector = parameters_subtraction(masked_vector, pairwise_mask)
    return masked_vector


def _dequantize_aggregate(masked_vector: _NDArrays, n_active: int, p: _Params) -> _NDArrays:
    """End of ``unmask_stage``: mod, extract the summed weight factor, dequantize."""
    from flwr.common.secure_aggregation.ndarrays_arithmetic import (
        factor_extract,
        parameters_mod,
    )
    from flwr.common.secure_aggregation.quantization import dequantize

    recon_parameters = parameters_mod(masked_vector, p.mod)
    q_total_ratio, recon_parameters = factor_extract(recon_parameters)
    inv_dq_total_ratio = p.qrange / q_total_ratio
    aggregated_vector = dequantize(recon_parameters, p.clip, p.qrange)
    offset = -(n_active - 1) * p.clip
    for vec in aggregated_vector:  # Flower: vec += offset; vec *= inv_dq_total_ratio
        np.add(vec, offset, out=vec)
        np.multiply(vec, inv_dq_total_ratio, out=vec)
    return cast(_NDArrays, aggregated_vector)


def _make_inputs(inputs: np.ndarray | None, n: int, dim: int, clip: float,
                 seed: int) -> np.ndarray:
    if inputs is None:
        rng = np.random.default_rng(seed)
        return (rng.uniform(-0.5, 0.5, (n, dim)) * clip).astype(np.float32)
    if inputs.shape != (n, dim):
        raise ValueError(f"inputs must have shape {(n, dim)}, got {inputs.shape}")
    return inputs


def _survivors(n: int, dropped: Sequence[int], p: _Params) -> tuple[list[int], set[int]]:
    dead = set(dropped)
    if len(dead) != len(dropped) or not dead <= set(range(n)):
        raise ValueError("dropped must be distinct client indices in 0..n_clients-1")
    active = [nid for nid in range(n) if nid not in dead]
    if not active or len(active) * p.qrange >= p.mod:
        # The summed factors (len(active) * T) must not wrap mod M, or Flower's output is junk.
        raise ValueError("need 1 <= survivors < modulus_range / quantization_range")
    return active, dead


def run_flower_secaggplus(
    *, n_clients: int, dim: int, dropped: Sequence[int], num_neighbours: int, threshold: int,
    clipping_range: float = 1.0, quantization_range: int = 2**22, modulus_range: int = 2**32,
    inputs: np.ndarray | None = None, seed: int = 0,
) -> FlowerRunResult:
    """Run one Flower SecAgg+ round in-process; ``dropped`` vanish after sharing keys.

    ``num_neighbours`` is k (Flower's ``num_shares`` is k + 1, the node included) and
    ``threshold`` is Flower's ``reconstruction_threshold``. ``seed`` drives the inputs
    (when not given) and the ring shuffle; Flower's stochastic rounding and key
    generation use their own randomness. ``result`` is Flower's weighted average
    (all weights 1) times the number of survivors, i.e. the sum of their inputs.
    """
    p = _make_params(n_clients, num_neighbours, threshold, clipping_range,
                     quantization_range, modulus_range)
    active, dead = _survivors(n_clients, dropped, p)
    inputs = _make_inputs(inputs, n_clients, dim, clipping_range, seed)
    clients = {nid: _FlowerClient(nid) for nid in range(n_clients)}
    neighbours = _ring(list(clients), p.ring_shares, seed)
    public_keys = _setup_stage(clients, p)
    forward = _share_keys_stage(clients, neighbours, public_keys, set(clients))
    _check_threshold(neighbours, set(active), p.threshold)
    uploads = _collect_stage(clients, forward, inputs, active)
    upload_bytes = sum(len(b) for b in uploads[active[0]])
    start = time.perf_counter()
    masked_vector = _sum_masked(uploads, p.mod)
    sum_s = time.perf_counter() - start
    del uploads
    collected = _unmask_requests(clients, neighbours, set(active), dead)
    start = time.perf_counter()
    masked_vector = _remove_masks(masked_vector, collected, set(active), neighbours,
                                  public_keys, p)
    aggregated = _dequantize_aggregate(masked_vector, len(active), p)
    unmask_s = time.perf_counter() - start
    result = np.asarray(aggregated[0], dtype=np.float64).ravel() * len(active)  # mean -> sum
    expected = inputs[active].astype(np.float64).sum(axis=0)
    return FlowerRunResult(
        n_clients=n_clients, dim=dim, dropped=tuple(sorted(dead)),
        client_times_s=tuple(
            clients[nid].stage_seconds["collect_masked_vectors"] for nid in active
        ),
        client_total_times_s=tuple(clients[nid].total_seconds for nid in active),
        server_unmask_s=unmask_s, server_sum_s=sum_s, upload_bytes_per_client=upload_bytes,
        result=result, expected=expected, max_abs_error=float(np.max(np.abs(result - expected))),
    )


def _main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Run one Flower SecAgg+ round in-process.")
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--dim", type=int, default=1000)
    parser.add_argument("--dropout", type=float, default=0.1, help="fraction that drops")
    parser.add_argument("--neighbours", type=int, default=4, help="k; num_shares = k + 1")
    parser.add_argument("--threshold", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    n_drop = round(args.dropout * args.clients)
    dropped = sorted(random.Random(args.seed).sample(range(args.clients), n_drop))
    run = run_flower_secaggplus(n_clients=args.clients, dim=args.dim, dropped=dropped,
                                num_neighbours=args.neighbours, threshold=args.threshold,
                                seed=args.seed)
    step = 2.0 / 2**22  # quantization step for the default clip 1.0 and T = 2**22
    print(f"Flower SecAgg+: n={run.n_clients} dim={run.dim} k={args.neighbours} "
          f"t={args.threshold} dropped={list(run.dropped)}")
    print(f"  client masked input (median) {statistics.median(run.client_times_s):.4f} s, "
          f"all stages (median) {statistics.median(run.client_total_times_s):.4f} s")
    print(f"  server sum {run.server_sum_s:.4f} s, server unmask {run.server_unmask_s:.4f} s")
    print(f"  upload {run.upload_bytes_per_client} B per client "
          f"({run.upload_bytes_per_client / (4 * run.dim):.2f}x float32)")
    print(f"  max abs error {run.max_abs_error:.3e} "
          f"({run.max_abs_error / step:.2f} quantization steps)")


if __name__ == "__main__":
    _main()
