"""Seeded generator of small, varied, always-feasible planning instances for cross-checking the backends.

`write_instance(folder, seed)` draws every input from `numpy.random.default_rng(seed)`, so a seed names an instance
for good: 1–3 owned sites (power caps, PUE, prices, carbon intensity, racks), an optional cloud site, 1–3 SKUs
(some rentable; lead 0–1 quarter; available before or inside the horizon; life, maintenance, idle_frac), 2–4
quarters, 1–3 inference services with demand and measured throughput, an optional training run of a few
node-quarters, an optional existing fleet, an optional purchase budget, depreciation or cash, a discount rate of
0–10 %, a carbon price and a headroom of 0–0.2.

Every instance is feasible by construction: unmet inference demand is always allowed (priced at
finance.unmet_usd_per_unit), a training run may be left unfinished (finance.unfinished_training_usd is always
set), and SKU `a` (available before the start, lead 0, measured on every workload) fits at site `A` (power
cap ≥ 40 kW, ≥ 1 rack of ≥ 2 nodes), which hosts every workload: replicas and runs need at most 2 nodes of
≤ 12 kW at PUE ≤ 1.5. The fleet (≤ 2 nodes at A) fits that site's power and racks too, so validation passes for
every seed. Demand and measured rates are whole multiples of 10 and 50 tokens/s (test_cross_check relies on it for
CP-SAT's grid).

`write_tiny_instance(folder, seed)` draws from a narrower family that a brute force can enumerate: one owned
site, one SKU, two quarters, one inference service (1-node replicas), and optionally a cloud site.

Instances are kept small (≤ 4 quarters, ≤ a dozen nodes per pool) so each backend solves one in well under a
second.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from scenario_files import write_scenario

START = "2027Q1"
START_YEAR = 2027
TRAINING_TOKENS_PER_S_PER_NODE_REFERENCE = 1000.0  # SKU a's measured training rate on every run
HOURS_PER_QUARTER = 2190.0
SECONDS_PER_HOUR = 3600.0
TOKENS_PER_BILLION = 1e9


def quarter_label(relative: int) -> str:
    """Label of a quarter relative to START (2027Q1), negative before it."""
    year, index = divmod(relative, 4)
    return f"{START_YEAR + year}Q{index + 1}"


def _pick(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


def _sku_row(rng: np.random.Generator, name: str, quarters: int, first: bool) -> dict:
    """A SKU with varied economics; the first one is always obtainable at the start with lead 0."""
    rentable = rng.random() < 0.6
    lead = 0 if first else int(rng.integers(0, 2))
    # Relative quarter from which it can be ordered or rented: before the horizon, or inside it.
    available = int(rng.integers(-4, 1)) if first else int(rng.integers(-4, quarters))
    return dict(sku=name, accelerator=f"{name}-class", gpus_per_node=8, bf16_tflops=1000, fp8_tflops=2000,
                hbm_gb=_pick(rng, (80, 141)), hbm_tbps=3.35, node_kw=_pick(rng, (6, 8, 10, 12)),
                idle_frac=_pick(rng, (0.3, 0.5, 0.7, 1.0)), price_usd=int(rng.integers(20, 81)) * 1000,
                rent_usd_per_gpu_hour=round(float(rng.uniform(0.5, 2.5)), 2) if rentable else "",
                lead_quarters=lead, available_from=quarter_label(available),
                life_years=_pick(rng, (0.5, 1.0, 2.0, 3.0, 5.0)), maint_frac_per_year=_pick(rng, (0.0, 0.02, 0.05)),
                nodes_per_rack=_pick(rng, (2, 4)), source="generated")


def _owned_site(rng: np.random.Generator, name: str, first: bool) -> dict:
    power_kw = _pick(rng, (40, 60, 100, 150)) if first else _pick(rng, (15, 40, 60, 100))
    return dict(site=name, kind="owned", power_mw=power_kw / 1000.0, pue=_pick(rng, (1.1, 1.2, 1.3, 1.5)),
                usd_per_kwh=_pick(rng, (0.0, 0.05, 0.08, 0.12, 0.2)), gco2_per_kwh=int(rng.integers(0, 501)),
                racks=_pick(rng, (1, 2, 3)))


def _cloud_site(rng: np.random.Generator) -> dict:
    return dict(site="cloud", kind="cloud", power_mw="", pue=_pick(rng, (1.1, 1.2, 1.3)), usd_per_kwh="",
                gco2_per_kwh=int(rng.integers(0, 401)), racks="")


def _finance(rng: np.random.Generator, skus: list[dict], training: bool) -> dict:
    finance = {"discount_rate": round(float(rng.uniform(0.0, 0.10)), 3),
               "capex_mode": _pick(rng, ("depreciation", "cash")),
               "carbon_usd_per_t": int(rng.integers(0, 201)),
               "unmet_usd_per_unit": round(float(rng.uniform(5.0, 60.0)), 2)}
    if rng.random() < 0.3:
        prices = [s["price_usd"] for s in skus]
        finance["budget_usd_per_quarter"] = int(rng.integers(min(prices) // 2, 3 * max(prices)))
    if training:
        finance["unfinished_training_usd"] = int(rng.integers(10, 301)) * 1000
    return finance


def write_instance(folder: Path, seed: int) -> Path:
    """Write the instance named by `seed` into `folder`; return its scenario.yaml."""
    rng = np.random.default_rng(seed)
    quarters = int(rng.integers(2, 5))
    skus = [_sku_row(rng, name, quarters, first=(i == 0))
            for i, name in enumerate("abc"[:int(rng.integers(1, 4))])]
    sites = [_owned_site(rng, name, first=(i == 0)) for i, name in enumerate("ABC"[:int(rng.integers(1, 4))])]
    if rng.random() < 0.5:
        sites.append(_cloud_site(rng))
    site_names = [s["site"] for s in sites]

    workloads, demand, throughput = [], [], []
    for i in range(int(rng.integers(1, 4))):
        name = f"svc{i}"
        # 8B/70B fit one node; 405B bf16 needs a 2-node replica on 80 GB cards (1 node on 141 GB).
        params_b = _pick(rng, (8, 70, 70, 405))
        allowed = ""
        if len(site_names) > 1 and rng.random() < 0.3:
            others = [s for s in site_names[1:] if rng.random() < 0.5]
            allowed = ";".join(["A", *others])
        workloads.append(dict(workload=name, kind="inference", params_b=params_b, precision="bf16",
                              context_tokens=1000, sites=allowed))
        rates = {}
        for j, sku in enumerate(skus):
            measured = j == 0 or rng.random() < 0.8  # otherwise 0: the pair cannot run
            rates[sku["sku"]] = int(rng.integers(10, 41)) * 50 if measured else 0
            throughput.append((name, sku["sku"], rates[sku["sku"]]))
        scale = rates["a"]
        for q in range(quarters):
            if rng.random() < 0.85:
                demand.append((name, quarter_label(q), round(float(rng.uniform(0.0, 3.0)) * scale, -1)))

    training = rng.random() < 0.5
    if training:
        start = int(rng.integers(0, quarters))
        deadline = int(rng.integers(start, quarters))
        node_quarters = int(rng.integers(1, 5))  # on SKU a; other SKUs run it faster or slower
        tokens_b = (node_quarters * HOURS_PER_QUARTER * SECONDS_PER_HOUR
                    * TRAINING_TOKENS_PER_S_PER_NODE_REFERENCE / TOKENS_PER_BILLION)
        # 7B needs one node of memory for its training state; 70B needs two 80 GB nodes (16 B per parameter).
        workloads.append(dict(workload="train", kind="training", params_b=_pick(rng, (7, 70)), precision="bf16",
                              tokens_b=round(tokens_b, 6), start=quarter_label(start),
                              deadline=quarter_label(deadline)))
        throughput.append(("train", "a", TRAINING_TOKENS_PER_S_PER_NODE_REFERENCE))
        for sku in skus[1:]:
            throughput.append(("train", sku["sku"], int(rng.integers(0, 5)) * 500))

    fleet = []
    if rng.random() < 0.4:
        sku = _pick(rng, skus)
        fleet.append(("A", sku["sku"], int(rng.integers(1, 3)), quarter_label(int(rng.integers(-8, 1)))))

    return write_scenario(folder, catalog=skus, sites=sites, workloads=workloads, demand=demand,
                          throughput=throughput, fleet=fleet, start=START, quarters=quarters,
                          finance=_finance(rng, skus, training),
                          planning={"headroom": _pick(rng, (0.0, 0.05, 0.1, 0.2))})


def write_tiny_instance(folder: Path, seed: int) -> Path:
    """One owned site A, one SKU a, two quarters, one inference service `chat` (1-node replicas), optionally a
    cloud site; demand is at most 3 nodes' worth per quarter, so a brute force over 0–4 nodes covers it."""
    rng = np.random.default_rng(10_000 + seed)
    lead = int(rng.integers(0, 2))
    # With lead 1 the SKU must be orderable in 2027Q1 to enter service in 2027Q2.
    available = int(rng.integers(-2, 1)) if lead else int(rng.integers(-2, 2))
    sku = _sku_row(rng, "a", 2, first=True)
    # Short lives (one quarter) and cheap nodes make buying for a single quarter worth it, so retirement matters.
    sku.update(lead_quarters=lead, available_from=quarter_label(available), hbm_gb=80,
               life_years=_pick(rng, (0.25, 0.25, 0.5, 5.0)), price_usd=int(rng.integers(10, 41)) * 1000)
    site = _owned_site(rng, "A", first=True)
    site["power_mw"] = _pick(rng, (20, 30, 40, 60)) / 1000.0  # 1–5 nodes at full load
    site["racks"] = _pick(rng, (1, 2))
    sites = [site]
    if rng.random() < 0.6:
        sites.append(_cloud_site(rng))
        sku["rent_usd_per_gpu_hour"] = round(float(rng.uniform(0.3, 2.5)), 2)
    rate = int(rng.integers(10, 41)) * 50
    demand = [("chat", quarter_label(q), round(float(rng.uniform(0.0, 3.0)) * rate, -1)) for q in range(2)]
    finance = _finance(rng, [sku], training=False)
    return write_scenario(folder, catalog=[sku], sites=sites,
                          workloads=[dict(workload="chat", kind="inference", params_b=8, precision="bf16",
                                          context_tokens=1000)],
                          demand=demand, throughput=[("chat", "a", rate)], start=START, quarters=2,
                          finance=finance, planning={"headroom": _pick(rng, (0.0, 0.05, 0.1, 0.2))})
