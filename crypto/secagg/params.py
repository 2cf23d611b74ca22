"""Choosing the SecAgg+ parameters of a cohort, and checking announced ones.

Each client secret-shares its self-mask seed ``b_u`` and its mask key ``s_u`` with
its k neighbours in a public k-regular ring graph (a Harary graph); any t of them
reconstruct. The server is malicious: it may claim any client dropped, show
different survivor sets to different clients, withhold messages, choose the graph,
and collude with up to ``c`` clients. The conditions that keep every honest input
hidden in the sum, for *every* graph (so nothing rests on the graph being random):

* **one certificate:** a client reveals unmask shares only for a survivor set
  signed by a quorum ``q`` of the round's n participants with ``2q > n + c``.
  Honest clients sign one set each, so two different certified sets would need
  ``2q - n > c`` common signers, all corrupted: impossible (the quorum
  intersection argument of Bonawitz et al. 2017, sec. 6, with the threshold t
  there replaced by a separate quorum);
* **2t > k + c:** an honest client ``u`` reveals exactly one of a neighbour's two
  secrets, the certified set deciding which (``b`` if it survived, ``s`` if it
  dropped). For the server to unmask ``y_u`` alone it needs ``b_u`` (t shares)
  and every pair mask in ``y_u``: so the neighbours whose envelopes ``u`` holds
  (at least t, ``u`` refuses fewer) must all be dropped or colluding, and only the
  other ``k - t`` honest neighbours and the ``c`` colluders can give shares of
  ``b_u``: ``k - t + c < t`` makes that impossible, whatever ``u`` was shown (the
  condition of Bell et al. 2020, Lemma 4.6, here made deterministic);
* **honest survivors stay connected:** every signer checks that the survivor set,
  and every revealer that the certificate's signers, stay connected however any
  ``c`` of them are removed (:func:`~blindsum.crypto.secagg.graph.survives_removal`);
  then the unknown pair masks join all honest signers into one component, so the
  only sum that can ever be unmasked contains every honest signer (at least
  ``q - c`` honest inputs), and no input alone.

The graph itself is drawn jointly (:mod:`blindsum.crypto.secagg.graph_seed`): every
participant commits to 32 random bytes before anyone reveals, and the seed hashes the
commitments with the reveals. The server's only remaining choice is which of up to
``max_unrevealed`` committed participants to leave out after seeing the reveals, at most
``sum_{j <= max_unrevealed} C(n, j)`` graphs (:meth:`SecAggParams.graph_choice_bits`). The
conditions above do not need even that; the joint seed is what keeps Bell et al.'s
random-graph bound for more colluders than ``c``.

Liveness is a target, not a requirement: ``k = 2 * ceil(log2 n)`` (even, at
least 4) grows in steps of 2 until the union bound on aborts under independent
dropouts at ``dropout_rate`` is at most ``max_abort_probability``, or the graph
is complete. ``t = floor((k + c)/2) + 1`` (at least ``ceil(2k/3)`` hardened). Bell et
al. (CCS 2020) bound leaks with high probability over a *random* graph; these
conditions hold for every graph (a server that grinds the graph seed gains nothing),
at the price of ``k >= c + 2`` when colluders are tolerated (c = 0 by default).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from fractions import Fraction

from blindsum.crypto.hazmat.prg import PrgAlgorithm
from blindsum.crypto.limits import MIN_COHORT
from blindsum.errors import ConfigError

__all__ = ["MIN_COHORT", "SecAggParams", "corrupted_bound", "minimum_quorum"]


def _binomial_tail(k: int, p: float, at_least: int) -> float:
    """``P[Bin(k, p) >= at_least]``, summed in log space from the requested end towards the
    mode and stopped once the terms no longer matter, so it costs a few dozen terms even
    for k in the hundreds of thousands."""
    if at_least <= 0:
        return 1.0
    if p <= 0 or at_least > k:
        return 0.0
    if p >= 1:
        return 1.0
    if at_least > k * p:  # upper tail: its terms only shrink from at_least up
        return min(1.0, _binomial_terms(k, p, range(at_least, k + 1)))
    return max(0.0, 1.0 - _binomial_terms(k, p, range(at_least - 1, -1, -1)))


def _binomial_terms(k: int, p: float, indices: range) -> float:
    """Sum of ``P[Bin(k, p) = i]`` along ``indices``, which run away from the mode."""
    log_p, log_q, log_k = math.log(p), math.log1p(-p), math.lgamma(k + 1)
    total = 0.0
    for i in indices:
        term = math.exp(log_k - math.lgamma(i + 1) - math.lgamma(k - i + 1)
                        + i * log_p + (k - i) * log_q)
        total += term
        if term <= total * 1e-17:
            break
    return total


def _tail_bound(k: int, p: float, probability: float) -> int:
    """The least d with ``P[Bin(k, p) > d] <= probability`` (bisection: the tail shrinks in d)."""
    low, high = -1, k  # P[Bin > k] = 0, so high always qualifies; low never does
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (low, mid) if _binomial_tail(k, p, mid + 1) <= probability else (mid, high)
    return high


def _threshold_for(k: int, max_corrupted: int, hardened: bool) -> int:
    """The least t with ``2t > k + c`` (at least ``ceil(2k/3)`` when hardened)."""
    t = (k + max_corrupted) // 2 + 1
    return max(t, math.ceil(2 * k / 3)) if hardened else t


def corrupted_bound(num_clients: int, corruption_rate: float) -> int:
    """c: how many of ``num_clients`` may collude with the server (rounded up, exactly)."""
    return math.ceil(Fraction(corruption_rate).limit_denominator(10**9) * num_clients)


def minimum_quorum(num_clients: int, max_corrupted: int) -> int:
    """The smallest q with ``2q > n + c``: two different sets can never both be certified."""
    return (num_clients + max_corrupted) // 2 + 1


@dataclass(frozen=True)
class SecAggParams:
    """The public parameters of one SecAgg+ round.

    Attributes:
        num_clients: cohort size n (clients invited to the round).
        neighbours: k, the degree of the neighbour graph (``n - 1``: complete graph).
        threshold: t, shares needed to reconstruct a secret (``2t > k + c``).
        min_survivors: fewest inputs a published sum may contain (at least t + 1 and q).
        bits: word size of the ring, 32 or 64.
        prg: the keystream used to expand masks.
        max_corrupted: c, clients that may collude with the server.
        quorum: q, signatures a survivor set needs before anyone unmasks (``2q > n + c``;
            the smallest such q when not given).
        max_unrevealed: most participants that may commit to a graph-seed share and then
            not reveal it (more and clients refuse the graph); ``n - min_survivors`` (any
            that the round could lose anyway) when not given.
    """

    num_clients: int
    neighbours: int
    threshold: int
    min_survivors: int
    bits: int = 32
    prg: PrgAlgorithm = PrgAlgorithm.AES256_CTR
    max_corrupted: int = 0
    quorum: int = field(default=0)
    max_unrevealed: int = field(default=-1)

    def __post_init__(self) -> None:
        if self.quorum == 0 and isinstance(self.max_corrupted, int):
            object.__setattr__(self, "quorum",
                               minimum_quorum(self.num_clients, self.max_corrupted))
        if self.max_unrevealed == -1 and isinstance(self.min_survivors, int):
            object.__setattr__(self, "max_unrevealed",
                               max(0, self.num_clients - self.min_survivors))
        problems = self._problems()
        if problems:
            raise ConfigError("unsafe SecAgg parameters: " + "; ".join(problems))

    def _problems(self) -> list[str]:
        n, k, t, c, q = (self.num_clients, self.neighbours, self.threshold,
                         self.max_corrupted, self.quorum)
        problems = []
        if n < MIN_COHORT:
            problems.append(f"a cohort needs at least {MIN_COHORT} clients, got {n}")
        if not (2 <= k <= n - 1):
            problems.append(f"neighbours must be in 2..{n - 1}, got {k}")
        elif k != n - 1 and k % 2:
            problems.append("a k-regular ring graph needs even k (or k = n - 1)")
        if not (k // 2 < t <= k):
            problems.append(f"threshold must satisfy k/2 < t <= k (k={k}), got {t}")
        if not (c >= 0 and 2 * t > k + c):
            problems.append(f"threshold and colluders must satisfy 2t > k + c (k={k}, t={t}), "
                            f"got c={c}")
        if not (2 * q > n + c and q <= n):
            problems.append(f"quorum must satisfy (n + c)/2 < q <= n (n={n}, c={c}), got {q}")
        if not (max(t, MIN_COHORT) <= self.min_survivors <= n):
            problems.append("min_survivors must be at least the threshold and at most n")
        if not 0 <= self.max_unrevealed <= n - self.min_survivors:
            problems.append("max_unrevealed must be in 0..n - min_survivors")
        if self.bits not in (32, 64):
            problems.append("bits must be 32 or 64")
        return problems

    @classmethod
    def derive(
        cls,
        num_clients: int,
        *,
        dropout_rate: float = 0.1,
        corruption_rate: float = 0.0,
        hardened: bool = False,
        max_abort_probability: float = 0.01,
        min_survivors: int = 0,
        bits: int = 32,
        prg: PrgAlgorithm = PrgAlgorithm.AES256_CTR,
    ) -> SecAggParams:
        """The smallest safe parameters for ``num_clients`` (see the module docstring).

        ``min_survivors`` raises the derived floor (a federation's ``min_clients``). The
        service announces what this returns and every client derives it again to compare.
        """
        n = num_clients
        if n < MIN_COHORT:
            raise ConfigError(f"a cohort needs at least {MIN_COHORT} clients, got {n}")
        if not (0 <= dropout_rate < 1 and 0 <= corruption_rate < 1):
            raise ConfigError("dropout_rate and corruption_rate must be in [0, 1)")
        c = corrupted_bound(n, corruption_rate)
        q = minimum_quorum(n, c)
        # a twentieth of the abort budget for participants that commit and then fail to reveal
        unrevealed = _tail_bound(n, dropout_rate, max_abort_probability / 20)
        if q > n or c + 1 > n - 1:
            raise ConfigError(
                f"no SecAgg parameters tolerate {c} colluding clients among n={n}: "
                "lower the corruption rate or enlarge the cohort")
        def at(k: int) -> SecAggParams | None:  # the parameters with k neighbours, if private
            k = min(k, n - 1)
            t = _threshold_for(k, c, hardened)
            if t > k:
                return None
            floor = min(n, max(t + 1, MIN_COHORT, q, min_survivors))
            # the quorum is at least min_survivors: every sum that can be unmasked then
            # holds min_survivors - c honest signers, what distributed DP is sized for
            return cls(num_clients=n, neighbours=k, threshold=t, min_survivors=floor,
                       bits=bits, prg=prg, max_corrupted=c, quorum=floor,
                       max_unrevealed=min(unrevealed, n - floor))

        def live(k: int) -> bool:
            p = at(k)
            return p is not None and p.abort_probability(dropout_rate) <= max_abort_probability

        # the smallest even k (or the complete graph) that is private and live: both only
        # improve as k grows, so double to a live k, then bisect
        low = high = min(max(4, 2 * math.ceil(math.log2(n))), n - 1)
        while high < n - 1 and not live(high):
            low, high = high, min(2 * high, n - 1)
        while True:  # low is not live; high is, or is the complete graph
            mid = max((low + high) // 2 & ~1, low + 2)
            if mid >= high:
                break
            low, high = (low, mid) if live(mid) else (mid, high)
        params = at(high)
        if params is None:
            raise ConfigError(
                f"no neighbourhood keeps inputs private for n={n} with "
                f"corruption_rate={corruption_rate} (2t > k + c with c = {c}): "
                "lower the corruption rate or enlarge the cohort")
        return params  # liveness is a target: at k = n - 1 the complete graph is returned

    def abort_probability(self, dropout_rate: float) -> float:
        """Union bound on the chance that independent dropouts at ``dropout_rate`` abort a
        round: a client left with fewer than t live neighbours, fewer than ``min_survivors``
        survivors in all, more than ``max_unrevealed`` unrevealed graph-seed shares, or (with
        colluders tolerated) survivors that c removals could split."""
        n, k, t, c = self.num_clients, self.neighbours, self.threshold, self.max_corrupted
        lonely = n * _binomial_tail(k, dropout_rate, k - t + 1)
        unrevealed = _binomial_tail(n, dropout_rate, self.max_unrevealed + 1)
        few = _binomial_tail(n, dropout_rate, n - self.min_survivors + 1)
        split = 0.0
        if k < n - 1:  # two disjoint windows of k/2 ring positions with at most c survivors
            split = n * n / 2 * (1 - _binomial_tail(k, 1 - dropout_rate, c + 1))
        return min(1.0, lonely + few + unrevealed + split)

    def weaker_than(self, required: SecAggParams) -> list[str]:
        """What in these (announced) parameters is weaker than ``required`` (empty: none).

        A client derives ``required`` itself from the federation's declared rates and refuses
        a round whose announced parameters give any of these up.
        """
        problems = []
        if self.num_clients != required.num_clients:
            problems.append("the cohort size differs")
        for name in ("neighbours", "threshold", "min_survivors", "max_corrupted", "quorum"):
            if getattr(self, name) < getattr(required, name):
                problems.append(f"{name} {getattr(self, name)} < {getattr(required, name)}")
        if self.max_unrevealed > required.max_unrevealed:
            problems.append(f"max_unrevealed {self.max_unrevealed} > {required.max_unrevealed}")
        if self.bits != required.bits or self.prg is not required.prg:
            problems.append("the ring or the mask PRG differs")
        return problems

    def graph_choice_bits(self) -> float:
        """log2 of the most graphs a server can choose among: which of at most
        ``max_unrevealed`` committed participants' reveals to leave out."""
        n = self.num_clients
        return math.log2(sum(math.comb(n, j) for j in range(self.max_unrevealed + 1)))

    def to_json(self) -> dict[str, int | str]:
        """The fields as JSON values (the round's protocol parameters carry them)."""
        return {f.name: (getattr(self, f.name).value if f.name == "prg" else getattr(self, f.name))
                for f in fields(self)}
