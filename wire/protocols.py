"""A round's public protocol parameters on the wire: what every client re-derives and
checks before it takes part (one definition; the service stores exactly this JSON)."""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from pydantic import Field

from blindsum.crypto.hazmat.prg import PrgAlgorithm
from blindsum.wire.base import WireModel, received

__all__ = ["CkksProtocol", "DistributedDP", "Protocol", "SecAggProtocol", "announced"]

M = TypeVar("M", bound=WireModel)


class DistributedDP(WireModel):
    """The round's distributed discrete Gaussian encoding (``DDGParams``)."""

    dimension: int
    padded: int
    clip: float
    gamma: float
    sigma_client: float = Field(description="each client's noise std per coordinate, integer "
                                            "units")
    noise_multiplier: float
    min_survivors: int
    bits: int
    beta: float
    colluders: int = 0


class SecAggProtocol(WireModel):
    """SecAgg+ parameters (``SecAggParams`` less the cohort size, which is the participants'),
    the fixed-point encoding's, and the distributed-DP encoding if the federation has one."""

    mode: Literal["secagg"]
    neighbours: int
    threshold: int
    min_survivors: int
    bits: Literal[32, 64]
    prg: PrgAlgorithm
    max_corrupted: int
    quorum: int
    max_unrevealed: int
    clip_norm: float
    max_clients: int
    dimension: int
    ddg: DistributedDP | None = None


class CkksProtocol(WireModel):
    """The CKKS parameters every client derives from max_clients and the clip norm."""

    mode: Literal["ckks"]
    poly_modulus_degree: int
    coeff_mod_bit_sizes: list[int]
    scale_bits: int
    max_clients: int
    max_abs: float
    upload_bytes: int
    custody: Literal["local", "threshold"] = "local"
    custodians: int | None = Field(default=None, description="threshold custody: m")
    threshold: int | None = Field(default=None, description="threshold custody: t")
    statistical_bits: int | None = Field(default=None, description=(
        "threshold custody: the flooding hides the key to statistical distance 2^-this"))
    max_ciphertexts: int | None = Field(default=None, description=(
        "threshold custody: ciphertexts one key share may partially decrypt"))


Protocol = Annotated[SecAggProtocol | CkksProtocol, Field(discriminator="mode")]


def announced(model: type[M], protocol: Any) -> M:
    """A round's protocol as a client reads it: the announced JSON, checked against the
    model before anything is derived from it."""
    if isinstance(protocol, model):
        return protocol
    return received(model, protocol.model_dump() if isinstance(protocol, WireModel) else protocol,
                    f"{model.__name__} parameters")
