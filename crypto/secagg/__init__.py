"""SecAgg (Bonawitz et al., CCS 2017) with SecAgg+ neighbour graphs (Bell et al., CCS 2020).

Sans-I/O state machines: :class:`SecAggClient` and :class:`SecAggServer` take and
return message objects; the REST server, the SDK and the in-process simulator all
drive the same code.
"""

from blindsum.crypto.secagg.client import SecAggClient
from blindsum.crypto.secagg.context import RoundContext
from blindsum.crypto.secagg.params import SecAggParams
from blindsum.crypto.secagg.server import AggregateResult, SecAggServer

__all__ = ["AggregateResult", "RoundContext", "SecAggClient", "SecAggParams", "SecAggServer"]
