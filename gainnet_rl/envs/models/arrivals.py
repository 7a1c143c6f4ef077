"""Request arrival models (SYSTEM_MODEL sections 7, 12.4 and 13.1).

An arrival model draws, per slot, how many requests each device issues. A
model with ``per_service = False`` (Poisson, the v1 default) fills ``counts``
(n, U, 1) per device, and the service of each request is drawn from the
services' shares; one with ``per_service = True`` (the v2 default,
:class:`GaiTrafficArrivals`) fills (n, U, S) per device and service. The
mean is not a model argument: the Params builder derives it from the
scenario's offered load (``load`` x ``offered_load_at_load1`` of the edges'
capacity), so ``load`` means the same at every network size and for every
model: each model's long-run mean per device and slot is exactly the mean
it is given (``tests/test_demand.py``).
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass

import numpy as np
from numba import njit
from scipy import stats

from gainnet_rl.envs import rng
from gainnet_rl.envs.models._validate import checker

_require = checker("arrivals")

#: arrival classes of SYSTEM_MODEL sec. 13.1, named by ``services.<s>.arrival``
ARRIVAL_CLASSES = ("human", "machine")


@dataclass(frozen=True)
class ArrivalContext:
    """What an arrival model may know of its scenario (given once, by
    :meth:`ArrivalModel.bind`). Units: seconds."""

    slot_s: float
    num_edges: int
    num_devices: int
    service_names: tuple[str, ...]
    service_share: np.ndarray  # (S,) share of the requests, sums to 1
    service_class: tuple[str | None, ...]  # (S,) "human" | "machine" | None (not given)


class ArrivalModel(abc.ABC):
    """Base class of arrival models."""

    #: counts per device and service (True) or per device, services drawn by share (False)
    per_service: bool = False

    def bind(self, ctx: ArrivalContext) -> None:  # noqa: B027 - optional hook
        """Learn the scenario (called once when the Params are built); may
        raise ``ConfigError`` naming a field. Nothing by default."""

    def init_state(self, key: np.ndarray, num_devices: int) -> dict[str, np.ndarray]:
        """Initial arrival-process state of ``key.shape[0]`` sub-envs (none by default)."""
        return {}

    @abc.abstractmethod
    def sample_rows(
        self,
        state: dict[str, np.ndarray],
        key: np.ndarray,
        slot: np.ndarray,
        rows: np.ndarray,
        mean_per_slot: float,
        counts: np.ndarray,
        assoc: np.ndarray,
    ) -> None:
        """Draw the requests arriving in each row's slot, in place.

        ``state`` holds whole-batch arrays; ``slot`` (n,) and ``counts`` (n,
        U, 1) or (n, U, S) int64 are aligned with ``rows``: ``counts[i, u,
        s]`` receives the number of requests device u of sub-env ``rows[i]``
        issues (of service s, when ``per_service``), ``mean_per_slot`` per
        device on average over all services. ``assoc`` (B, U) is each
        device's serving edge. Implementations call a compiled kernel
        (docs/extending.md).
        """

    def slot_quantile(self, mean_per_slot: float, tail: float) -> int:
        """Smallest R with P(requests of one slot, all devices > R) <= ``tail``
        at a mean of ``mean_per_slot`` requests per slot (all devices): the
        request queue's length. Poisson by default."""
        return _poisson_quantile(mean_per_slot, tail)


def _poisson_quantile(mean: float, tail: float) -> int:
    """Smallest R with P(Poisson(mean) > R) <= tail (at least 1)."""
    if mean <= 0:
        return 1
    return max(1, int(stats.poisson.isf(tail, mean)))


class PoissonArrivals(ArrivalModel):
    """Independent Poisson arrivals per device and slot (v1's demand)."""

    def sample_rows(self, state, key, slot, rows, mean_per_slot, counts, assoc):  # type: ignore[no-untyped-def]
        _poisson_rows(key, slot, rows, rng.poisson_cdf(mean_per_slot), counts)


class BurstyArrivals(ArrivalModel):
    """Two-state Markov-modulated Poisson process per device (SYSTEM_MODEL sec. 7).

    In the ``burst`` state the rate is ``burst_factor`` times the calm rate;
    the state flips with per-slot probabilities ``p_enter_burst`` and
    ``p_leave_burst``. The calm rate is set so the long-run mean is the mean
    the env asks for. Each device bursts alone, so many of them sum to
    nearly Poisson traffic (sec. 13.1): :class:`GaiTrafficArrivals` is the
    model of measured traffic.
    """

    def __init__(self, *, burst_factor: float, p_enter_burst: float, p_leave_burst: float) -> None:
        _require(1 <= burst_factor <= 1e3, "burst_factor", burst_factor, "in [1, 1000]")
        _require(0 < p_enter_burst <= 1, "p_enter_burst", p_enter_burst, "in (0, 1]")
        _require(0 < p_leave_burst <= 1, "p_leave_burst", p_leave_burst, "in (0, 1]")
        self.burst_factor = float(burst_factor)
        self.p_enter = float(p_enter_burst)
        self.p_leave = float(p_leave_burst)
        pi_burst = self.p_enter / (self.p_enter + self.p_leave)
        self.calm_fraction = 1.0 / (1 - pi_burst + pi_burst * self.burst_factor)

    def init_state(self, key: np.ndarray, num_devices: int) -> dict[str, np.ndarray]:
        return {"burst": np.zeros((key.shape[0], num_devices), dtype=bool)}

    def sample_rows(self, state, key, slot, rows, mean_per_slot, counts, assoc):  # type: ignore[no-untyped-def]
        calm = mean_per_slot * self.calm_fraction
        _bursty_rows(
            state["burst"], key, slot, rows, self.p_enter, self.p_leave, calm,
            self.burst_factor, counts,
        )  # fmt: skip


class GaiTrafficArrivals(ArrivalModel):
    """Demand shaped like measured generative-AI traffic (SYSTEM_MODEL sec. 13.1).

    Each service names its class (``services.<s>.arrival``):

    - ``human`` (chat, summarisation; Azure LLM inference trace 2023,
      conversation): Poisson per device within the episode, at a rate
      multiplied per episode and service by a lognormal factor of mean 1
      and coefficient of variation ``human_rate_cv`` (the trace's 20 s
      window rate has CV 0.24), shared by every device (the hour of day is
      the network's, not a device's).
    - ``machine`` (photo question answering, image generation, vision, API
      calls; Azure code trace, ModServe): a client, the devices served by
      one edge for one service, is ON or OFF (a 2-state Markov chain per
      slot with mean sojourns ``machine_on_mean_s`` and
      ``machine_off_mean_s``, started from its stationary law). Devices
      issue groups of requests (a batch arrival: group size truncated
      geometric on 1..``machine_group_max`` with mean
      ``machine_group_mean``) at a Poisson rate that is
      ``machine_off_rate_fraction`` of the mean when OFF and, when ON, what
      makes the long-run mean exact (3.86x with the defaults) times the
      burst's own level, drawn when the client turns ON (lognormal, mean 1,
      CV ``machine_on_rate_cv``: bursts differ in height, as ModServe's image
      bursts of 200-450 requests per minute do).

    The long-run mean per device and service is ``share_s`` times the mean
    the env asks for, so ``load`` keeps its meaning. Hidden states (ON/OFF,
    the episode's factors) are in the arrival state, never in the
    observation; the observation shows recent arrivals per edge and service
    (``demand_horizons_s``).
    """

    per_service = True

    def __init__(
        self,
        *,
        human_rate_cv: float,
        machine_on_mean_s: float,
        machine_off_mean_s: float,
        machine_off_rate_fraction: float,
        machine_group_mean: float,
        machine_group_max: int,
        machine_on_rate_cv: float,
    ) -> None:
        _require(0 <= human_rate_cv <= 3, "human_rate_cv", human_rate_cv, "in [0, 3]")
        for name, v in (("machine_on_mean_s", machine_on_mean_s),
                        ("machine_off_mean_s", machine_off_mean_s)):  # fmt: skip
            _require(0 < v <= 86_400, name, v, "in (0, 86400] s")
        _require(
            0 <= machine_off_rate_fraction < 1,
            "machine_off_rate_fraction",
            machine_off_rate_fraction,
            "in [0, 1) (OFF rate / mean rate)",
        )
        _require(
            isinstance(machine_group_max, (int, np.integer))
            and not isinstance(machine_group_max, bool)
            and 1 <= machine_group_max <= 64,
            "machine_group_max",
            machine_group_max,
            "an integer in [1, 64]",
        )
        _require(
            1 <= machine_group_mean <= (1 + machine_group_max) / 2,
            "machine_group_mean",
            machine_group_mean,
            f"in [1, {(1 + machine_group_max) / 2:g}] (machine_group_max = {machine_group_max}: "
            "a truncated geometric law's mean is at most the uniform's)",
        )
        _require(
            0 <= machine_on_rate_cv <= 3, "machine_on_rate_cv", machine_on_rate_cv, "in [0, 3]"
        )
        self.human_rate_cv = float(human_rate_cv)
        self.on_rate_cv = float(machine_on_rate_cv)
        on2 = math.log1p(self.on_rate_cv**2)
        self.on_log_sigma, self.on_log_mu = math.sqrt(on2), -on2 / 2
        self.on_mean_s = float(machine_on_mean_s)
        self.off_mean_s = float(machine_off_mean_s)
        self.off_fraction = float(machine_off_rate_fraction)
        self.group_mean = float(machine_group_mean)
        self.group_max = int(machine_group_max)
        self.group_pmf = truncated_geometric(self.group_mean, self.group_max)
        self.pi_on = self.on_mean_s / (self.on_mean_s + self.off_mean_s)
        self.on_factor = (1.0 - (1.0 - self.pi_on) * self.off_fraction) / self.pi_on
        sigma2 = math.log1p(self.human_rate_cv**2)
        self.log_sigma, self.log_mu = math.sqrt(sigma2), -sigma2 / 2

    def bind(self, ctx: ArrivalContext) -> None:
        for name, cls in zip(ctx.service_names, ctx.service_class, strict=True):
            if cls not in ARRIVAL_CLASSES:
                from gainnet_rl.envs.config import ConfigError

                raise ConfigError(
                    f"services.{name}.arrival={cls!r} is invalid: must be one of "
                    f"{list(ARRIVAL_CLASSES)} (GaiTrafficArrivals needs each service's class)"
                )
        for name, v in (("machine_on_mean_s", self.on_mean_s),
                        ("machine_off_mean_s", self.off_mean_s)):  # fmt: skip
            _require(v >= ctx.slot_s, name, v, f">= slot_s = {ctx.slot_s:g} s")
        self.slot_s = ctx.slot_s
        self.num_edges = ctx.num_edges
        self.share = np.asarray(ctx.service_share, dtype=np.float64)
        self.is_machine = np.array([c == "machine" for c in ctx.service_class], dtype=np.bool_)
        self.p_leave = ctx.slot_s / self.on_mean_s  # geometric sojourns: mean on_mean_s exactly
        self.p_enter = ctx.slot_s / self.off_mean_s
        self.group_cdf = np.cumsum(self.group_pmf)

    def init_state(self, key: np.ndarray, num_devices: int) -> dict[str, np.ndarray]:
        B, E, S = key.shape[0], self.num_edges, self.share.shape[0]
        zero = np.zeros(B, dtype=np.int64)
        z = rng.normal(key, zero, rng.Stream.ARRIVAL_INIT, (S,))
        factor = np.exp(self.log_mu + self.log_sigma * z)
        factor[:, self.is_machine] = 1.0
        u = rng.uniform(key, zero + 1, rng.Stream.ARRIVAL_INIT, (E, S))
        on = (u < self.pi_on) & self.is_machine
        z = rng.normal(key, zero + 2, rng.Stream.ARRIVAL_INIT, (E, S))
        level = np.exp(self.on_log_mu + self.on_log_sigma * z)
        return {"factor": factor, "on": on, "level": level}

    def sample_rows(self, state, key, slot, rows, mean_per_slot, counts, assoc):  # type: ignore[no-untyped-def]
        _gai_rows(
            state["on"], state["level"], state["factor"], key, slot, rows, assoc, self.share,
            self.is_machine, self.p_enter, self.p_leave, self.on_factor, self.on_log_mu,
            self.on_log_sigma, self.off_fraction, self.group_cdf, self.group_mean,
            mean_per_slot, counts,
        )  # fmt: skip

    def slot_quantile(self, mean_per_slot: float, tail: float) -> int:
        # every machine client ON and every human factor at its (1 - tail) quantile
        human = float(np.dot(self.share, ~self.is_machine)) * mean_per_slot
        if human > 0 and self.human_rate_cv > 0:
            human *= math.exp(self.log_mu + self.log_sigma * stats.norm.isf(tail))
        groups = float(np.dot(self.share, self.is_machine)) * mean_per_slot
        groups *= self.on_factor / self.group_mean
        if groups > 0 and self.on_rate_cv > 0:
            groups *= math.exp(self.on_log_mu + self.on_log_sigma * stats.norm.isf(tail))
        return compound_poisson_quantile(human, groups, self.group_pmf, tail)


def truncated_geometric(mean: float, kmax: int) -> np.ndarray:
    """pmf over sizes 1..``kmax`` of P(k) proportional to q (1 - q)^(k - 1), q solved
    so that the mean is ``mean`` (a point mass on 1 when ``mean`` is 1)."""
    k = np.arange(1, kmax + 1, dtype=np.float64)
    if mean <= 1.0 or kmax == 1:
        pmf = np.zeros(kmax)
        pmf[0] = 1.0
        return pmf

    def law(x: float) -> np.ndarray:  # x = 1 - q in (0, 1]; x = 1 is uniform
        w = x ** (k - 1)
        return w / w.sum()

    lo, hi = 0.0, 1.0  # the mean rises with x from 1 (x = 0) to (1 + kmax) / 2 (x = 1)
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if float(np.dot(law(mid), k)) < mean else (lo, mid)
    return law((lo + hi) / 2)


def compound_poisson_quantile(
    singles: float, groups: float, group_pmf: np.ndarray, tail: float
) -> int:
    """Smallest R with P(N > R) <= ``tail`` for N = Poisson(``singles``) single
    requests plus Poisson(``groups``) groups of sizes ``group_pmf`` (1..K),
    by Panjer's recursion (at least 1)."""
    lam = singles + groups
    if lam <= 0:
        return 1
    K = group_pmf.shape[0]
    f = np.zeros(K + 1)  # size law of one arrival event
    f[1:] = groups * group_pmf / lam
    f[1] += singles / lam
    g = [math.exp(-lam)]
    cdf = g[0]
    n = 0
    while 1.0 - cdf > tail and n < 1_000_000:
        n += 1
        j = np.arange(1, min(n, K) + 1)
        g.append(lam / n * float(np.sum(j * f[j] * np.array([g[n - i] for i in j]))))
        cdf += g[-1]
    return max(1, n)


# ---------------------------------------------------------------- compiled kernels


@njit(cache=True)
def _poisson_rows(key, slot, rows, cdf, counts):  # pragma: no cover - compiled
    """Poisson counts by inversion of uniform u of stream ARRIVAL_COUNT (table ``cdf``)."""
    U = counts.shape[1]
    for i in range(rows.size):
        head = rng.head1(key[rows[i]], slot[i], rng.Stream.ARRIVAL_COUNT)
        for u in range(U):
            counts[i, u, 0] = rng.poisson_table1(rng.uniform1(head, u), cdf)


@njit(cache=True)
def _bursty_rows(
    burst, key, slot, rows, p_enter, p_leave, calm_rate, factor, counts
):  # pragma: no cover
    """MMPP slot: flip the state with uniform u, then a Poisson count with uniform U + u
    (stream ARRIVAL_STATE)."""
    U = counts.shape[1]
    for i in range(rows.size):
        b = rows[i]
        head = rng.head1(key[b], slot[i], rng.Stream.ARRIVAL_STATE)
        for u in range(U):
            x = rng.uniform1(head, u)
            flip = x < p_leave if burst[b, u] else x < p_enter
            burst[b, u] = burst[b, u] ^ flip
            rate = calm_rate * (factor if burst[b, u] else 1.0)
            counts[i, u, 0] = rng.poisson1(rng.uniform1(head, U + u), rate)


@njit(cache=True)
def _gai_rows(
    on, level, factor, key, slot, rows, assoc, share, is_machine, p_enter, p_leave, on_factor,
    on_log_mu, on_log_sigma, off_fraction, group_cdf, group_mean, mean_per_slot, counts,
):  # pragma: no cover - compiled  # fmt: skip
    """One slot of :class:`GaiTrafficArrivals`: flip each machine client's
    (edge e, service s) state with uniform e S + s of stream ARRIVAL_STATE (a
    client turning ON draws its burst's rate multiplier ``level``, lognormal
    of mean 1, from the normal pair e S + s of stream ARRIVAL_LEVEL);
    then per device u and service s a Poisson count with uniform u S + s of
    stream ARRIVAL_COUNT (human: requests; machine: groups, whose sizes take
    the next uniforms of stream ARRIVAL_GROUP in device-service order)."""
    E, S = on.shape[1], on.shape[2]
    U = counts.shape[1]
    for i in range(rows.size):
        b = rows[i]
        t = slot[i]
        hs = rng.head1(key[b], t, rng.Stream.ARRIVAL_STATE)
        hl = rng.head1(key[b], t, rng.Stream.ARRIVAL_LEVEL)
        for e in range(E):
            for s in range(S):
                if is_machine[s]:
                    x = rng.uniform1(hs, e * S + s)
                    if on[b, e, s]:
                        on[b, e, s] = x >= p_leave
                    elif x < p_enter:
                        on[b, e, s] = True
                        z = rng.normal_pair1(hl, e * S + s)[0]
                        level[b, e, s] = math.exp(on_log_mu + on_log_sigma * z)
        hc = rng.head1(key[b], t, rng.Stream.ARRIVAL_COUNT)
        hg = rng.head1(key[b], t, rng.Stream.ARRIVAL_GROUP)
        g = 0
        for u in range(U):
            e = assoc[b, u]
            for s in range(S):
                m = mean_per_slot * share[s]
                x = rng.uniform1(hc, u * S + s)
                if not is_machine[s]:
                    counts[i, u, s] = rng.poisson1(x, m * factor[b, s])
                    continue
                mult = on_factor * level[b, e, s] if on[b, e, s] else off_fraction
                n_groups = rng.poisson1(x, m * mult / group_mean)
                n = 0
                for _ in range(n_groups):
                    v = rng.uniform1(hg, g)
                    g += 1
                    k = 0
                    while k < group_cdf.shape[0] - 1 and group_cdf[k] < v:
                        k += 1
                    n += k + 1
                counts[i, u, s] = n
