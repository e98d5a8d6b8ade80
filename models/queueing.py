"""Queueing: how many serving slots a time-to-first-token quantile SLO needs beyond the mean roofline.

Pure numpy/scipy, no I/O, vectorised over any array shape (services × quarters × SKUs at once).

The model, numbered as in docs/performance-model.md ("Sizing for a TTFT quantile"):

1. A replica decodes ``b`` sequences at once (the performance model's batch), so a service is a pool of
   ``c = replicas × b`` *slots*, each holding one request for its whole decode. Requests arrive as a Poisson
   stream of rate ``λ = demand_tokens_per_s / output_tokens``; a slot holds a request for
   ``S = output_tokens × b / replica_tokens_per_s`` on average (so the mean-roofline pool has exactly
   ``a = λ S`` busy slots, ``a / b`` replicas). One FCFS queue feeds every slot of the service (a router in
   front of its replicas): the M/G/c queue.
2. Erlang C (M/M/c): the probability that a request waits,
   ``C(c, a) = c B / (c − a (1 − B))`` with Erlang B ``B(c, a) = (a^c e^{−a} / c!) / Σ_{k ≤ c} a^k e^{−a} / k!``,
   the Poisson pmf over the Poisson cdf. Both come from log-gamma and the regularised incomplete gamma function
   (``Σ_{k ≤ c} a^k e^{−a}/k! = Q(c + 1, a)``), stable for c in the millions and defined for real c (the
   continuous Erlang B of Jagerman 1974, "Some properties of the Erlang loss function", Bell Syst. Tech. J. 53(3)).
3. Waiting beyond t, M/M/c: ``P(W > t) = C(c, a) · exp(−(c − a) t / S)`` (Kleinrock 1975, Queueing Systems
   vol. 1, §3.5; Gross & Harris, Fundamentals of Queueing Theory, §2.3).
4. M/G/c with service-time coefficient of variation ``cv``: the Allen–Cunneen / Lee–Longton approximation scales
   the mean wait by ``(1 + cv²) / 2`` (Poisson arrivals: ``c_a² = 1``) and keeps ``P(W > 0) = C(c, a)``
   (Lee & Longton 1959, "Queueing processes associated with airline passenger check-in", Oper. Res. Q. 10;
   Allen 1990, Probability, Statistics and Queueing Theory, 2nd ed., §6.4; Whitt 1993, "Approximations for the
   GI/G/m queue", Prod. Oper. Manag. 2(2)). The wait of a request that waits is taken exponential with that
   mean, so ``P(W > t) ≈ C(c, a) · exp(−2 (c − a) t / (S (1 + cv²)))``; exact for cv = 1.
5. Sizing: the fewest whole slots c with ``P(W > slo_s − prefill_s) ≤ 1 − quantile``; the SLO-sized replicas are
   ``⌈c / b⌉`` and the utilisation the SLO allows is ``a / c`` (the linear MILP serves ``a / c`` of the roofline
   per busy node-equivalent, so it needs exactly c slots at that demand).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import gammaincc, gammaln

from models.scenario import Scenario

# Service-time coefficient of variation when a service gives no `output_tokens_cv`: 1, the exponential (M/M/c)
# case. An assumption, not a measurement: a slot's service time is proportional to the request's output length,
# and published chat output-length distributions are roughly exponential-tailed; give the column where measured.
DEFAULT_SERVICE_CV = 1.0
SIZING_COLUMNS = ["demand_tokens_per_s", "requests_per_s", "service_s", "wait_budget_s", "offered_slots", "slots",
                  "batch", "throughput_replicas", "slo_replicas", "utilisation_cap", "binding"]

# Bisection steps for the fewest slots: the bracket starts below 2^62 slots wide, so 64 steps always close it.
MAX_BISECTION_STEPS = 64
# The upper bracket grows as a + (k + 1) * sqrt(a) + 2^k; 64 doublings exceed any representable pool.
MAX_BRACKET_DOUBLINGS = 64


def erlang_b(servers, offered_load) -> np.ndarray:
    """Blocking probability of M/M/c/c with `servers` (real ≥ 0) and `offered_load` a = λ / μ (Erlangs):
    the Poisson pmf at c over the Poisson cdf at c, through log-gamma and Q(c + 1, a) (no factorials)."""
    c = np.asarray(servers, dtype=float)
    a = np.asarray(offered_load, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        log_pmf = np.where(a > 0, c * np.log(np.where(a > 0, a, 1.0)) - a - gammaln(c + 1.0),
                           np.where(c == 0, 0.0, -np.inf))
        cdf = gammaincc(c + 1.0, a)
        blocking = np.exp(log_pmf) / cdf
    return np.clip(np.where(cdf > 0, blocking, 1.0), 0.0, 1.0)


def erlang_c(servers, offered_load) -> np.ndarray:
    """Probability that an arrival waits in M/M/c: c B / (c − a (1 − B)) for a < c, else 1 (unstable)."""
    c = np.asarray(servers, dtype=float)
    a = np.asarray(offered_load, dtype=float)
    blocking = erlang_b(c, a)
    with np.errstate(divide="ignore", invalid="ignore"):
        waiting = c * blocking / (c - a * (1.0 - blocking))
    return np.where(a < c, np.clip(waiting, 0.0, 1.0), 1.0)


def mean_wait_s(servers, offered_load, service_s, service_cv=1.0) -> np.ndarray:
    """Mean wait in queue: C(c, a) S / (c − a), times (1 + cv²) / 2 for M/G/c (Allen–Cunneen); inf if a ≥ c."""
    c, a = np.asarray(servers, dtype=float), np.asarray(offered_load, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        wait = erlang_c(c, a) * np.asarray(service_s, dtype=float) / (c - a) * _variability(service_cv)
    return np.where(a < c, wait, np.inf)


def wait_tail_probability(servers, offered_load, service_s, wait_s, service_cv=1.0) -> np.ndarray:
    """P(W > wait_s) ≈ C(c, a) · exp(−(c − a) wait_s / (S (1 + cv²) / 2)); 1 where a ≥ c; 1 for wait_s < 0."""
    c, a = np.asarray(servers, dtype=float), np.asarray(offered_load, dtype=float)
    t = np.asarray(wait_s, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        decay = (c - a) / (np.asarray(service_s, dtype=float) * _variability(service_cv))
        tail = erlang_c(c, a) * np.exp(-decay * np.maximum(t, 0.0))
    return np.where((a < c) & (t >= 0), tail, 1.0)


def wait_quantile_s(servers, offered_load, service_s, quantile, service_cv=1.0) -> np.ndarray:
    """The `quantile` of the wait: 0 when C(c, a) ≤ 1 − q, else ln(C / (1 − q)) · S (1 + cv²) / (2 (c − a))."""
    c, a = np.asarray(servers, dtype=float), np.asarray(offered_load, dtype=float)
    tail = 1.0 - np.asarray(quantile, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        conditional_mean_s = np.asarray(service_s, dtype=float) * _variability(service_cv) / (c - a)
        wait = np.maximum(np.log(erlang_c(c, a) / tail), 0.0) * conditional_mean_s
    return np.where(a < c, wait, np.inf)


def slo_servers(offered_load, service_s, wait_budget_s, quantile, service_cv=1.0) -> np.ndarray:
    """The fewest whole servers c with P(W > wait_budget_s) ≤ 1 − quantile (0 where there is no load).

    Vectorised integer bisection: floor(a) never meets the SLO (a ≥ c waits forever), and the upper end grows
    until it does, so P(W > t) — decreasing in c — brackets the answer from the first step.
    """
    a, service, budget, q, cv = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in
                                                      (offered_load, service_s, wait_budget_s, quantile,
                                                       service_cv)))
    tail = 1.0 - q

    def meets(c: np.ndarray) -> np.ndarray:
        return wait_tail_probability(c, a, service, budget, cv) <= tail

    low = np.floor(a)  # fails: c ≤ a
    high = low + 1.0
    for step in range(MAX_BRACKET_DOUBLINGS):
        short = ~meets(high)
        if not short.any():
            break
        high = np.where(short, a + (step + 1.0) * np.sqrt(a) + 2.0 ** step, high)
        high = np.ceil(high)
    for _ in range(MAX_BISECTION_STEPS):
        open_ = high - low > 1.0
        if not open_.any():
            break
        middle = np.floor((low + high) / 2.0)
        ok = meets(middle)
        high = np.where(open_ & ok, middle, high)
        low = np.where(open_ & ~ok, middle, low)
    return np.where(a > 0, high, 0.0)


def slo_services(scenario: Scenario) -> pd.Index:
    """Inference services with a TTFT quantile SLO (`ttft_quantile` given; validation ensures `max_ttft_s`)."""
    workloads = scenario.workloads
    if "ttft_quantile" not in workloads:
        return pd.Index([], name="workload")
    quantile = pd.to_numeric(workloads["ttft_quantile"], errors="coerce")
    return workloads.index[(workloads["kind"] == "inference") & quantile.notna()]


def size_for_slo(scenario: Scenario, performance: pd.DataFrame) -> pd.DataFrame:
    """Per (quarter, workload, sku) of every eligible pair of an SLO service: the slots and replicas the TTFT
    quantile needs at the quarter's whole demand, against the mean roofline's (module docstring, steps 1 and 5).

    utilisation_cap = a / c is what the formulation multiplies the pair's tokens/s per node by, so a busy
    node-equivalent serves only the load the SLO lets it; 1 where the quarter has no demand. `binding` says the
    SLO needs more whole replicas than the throughput does. Empty (no rows) without SLO services.
    """
    services = slo_services(scenario)
    index_names = ["quarter", "workload", "sku"]
    if services.empty:
        return pd.DataFrame(columns=SIZING_COLUMNS, index=pd.MultiIndex.from_arrays([[], [], []], names=index_names))
    workloads = scenario.workloads.loc[services]
    pairs = performance[performance["eligible"]].reset_index()
    pairs = pairs[pairs["workload"].isin(services)]
    demand = scenario.demand.groupby(["quarter", "workload"])["tokens_per_s"].sum()
    quarters = pd.DataFrame({"quarter": np.arange(scenario.horizon.quarters)})
    grid = pairs.merge(quarters, how="cross")
    keys = pd.MultiIndex.from_frame(grid[["quarter", "workload"]])
    w = workloads.reindex(grid["workload"])

    def column(name: str, default: float = np.nan) -> np.ndarray:
        if name not in w:
            return np.full(len(grid), default)
        return pd.to_numeric(w[name], errors="coerce").fillna(default).to_numpy(dtype=float)

    demand_tokens_per_s = demand.reindex(keys).fillna(0.0).to_numpy(dtype=float)
    output_tokens = column("output_tokens")
    batch = grid["batch"].to_numpy(dtype=float)
    replica_tokens_per_s = grid["tokens_per_s_per_node"].to_numpy(dtype=float) / grid["replicas_per_node"] \
        .to_numpy(dtype=float)
    requests_per_s = demand_tokens_per_s / output_tokens
    service_s = output_tokens * batch / replica_tokens_per_s
    offered = requests_per_s * service_s
    wait_budget_s = column("max_ttft_s") - grid["ttft_s"].to_numpy(dtype=float)
    slots = slo_servers(offered, service_s, wait_budget_s, column("ttft_quantile"),
                        column("output_tokens_cv", DEFAULT_SERVICE_CV))
    with np.errstate(divide="ignore", invalid="ignore"):
        cap = np.where(offered > 0, offered / slots, 1.0)
    throughput_replicas = offered / batch
    slo_replicas = np.ceil(slots / batch)
    frame = pd.DataFrame({
        "demand_tokens_per_s": demand_tokens_per_s, "requests_per_s": requests_per_s, "service_s": service_s,
        "wait_budget_s": wait_budget_s, "offered_slots": offered, "slots": slots, "batch": batch,
        "throughput_replicas": throughput_replicas, "slo_replicas": slo_replicas, "utilisation_cap": cap,
        "binding": slo_replicas > np.ceil(throughput_replicas),
    }, index=pd.MultiIndex.from_frame(grid[index_names]))
    return frame.sort_index()


def capped_placements(placements: pd.DataFrame, sizing: pd.DataFrame) -> pd.DataFrame:
    """The placements with each SLO pair's tokens/s per node times its quarter's utilisation cap; unchanged
    (the same frame) without SLO services, so such a scenario builds exactly the program it always did."""
    if sizing.empty or placements.empty:
        return placements
    cap = sizing["utilisation_cap"].reindex(pd.MultiIndex.from_frame(placements[["quarter", "workload", "sku"]]))
    factor = np.nan_to_num(cap.to_numpy(dtype=float), nan=1.0)
    return placements.assign(tokens_per_s_per_node=placements["tokens_per_s_per_node"].to_numpy() * factor)


def _variability(service_cv) -> np.ndarray:
    """The Allen–Cunneen factor (c_a² + c_s²) / 2 with Poisson arrivals (c_a² = 1)."""
    return (1.0 + np.square(np.asarray(service_cv, dtype=float))) / 2.0
