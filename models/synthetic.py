"""A realistic synthetic planning scenario, drawn from one seed: the input of `planner generate` and of the
scale benchmark.

Pure synthesis (a numpy Generator in, pandas frames out, no I/O). What it draws, and why it is valid by
construction:

1. **Catalog.** The shipped catalog (passed in), extended with vendor/contract variants of its SKUs, round-robin,
   up to K rows: same chip (so the same performance), price ×U(0.85, 1.15), lead time ±1 quarter (≥ 0), node_kw
   ×U(0.92, 1.08), rent ×U(0.90, 1.10) where rentable; named `<base>-v2`, `-v3`… Below K = the base catalog's
   size (11 shipped) the catalog is cut to K base SKUs, the *anchor* first, then the newest.
2. **Anchor SKU.** The base SKU with lead 0, a rental price and the highest BF16 peak (H100 in the shipped
   catalog): every workload can run on it, at any site, from the first quarter. It sizes everything: training
   token counts, demand, power caps, and the per-user SLOs are capped to what it reaches.
3. **Workloads.** About 10 % training runs (8B–405B, windows of 1–4 quarters, tokens so that the run needs
   16–256 anchor nodes over its window), 90 % inference services (8B–405B, bf16/fp8/int8/int4, contexts
   2k–32k tokens, 40 % with a per-user decode SLO, 15 % pinned to one or two sites, 20 % launched after the
   first quarter, demand of 1–40 anchor nodes at launch growing 0–10 % a quarter).
4. **Sites.** S owned sites whose power cap is 1.3–2× the facility power the forecast needs on the anchor at
   their share (pinned work at its sites, services split by Dirichlet shares, each unpinned training run whole at
   one home site drawn by share, since a run uses one pool), plus the fleet's own full-load power, and never below
   what the largest run or replica needs; racks so that the power cap binds first.
   C cloud sites (no cap).
5. **Fleet.** 20–50 % of the first quarter's anchor-node need, of base SKUs available before the start,
   installed 1–12 quarters before it (so part of it retires inside a long horizon); it fits its site by (4).
6. **Finance.** 8 % discount rate, depreciation, $50/t carbon, the default unmet-demand price, unfinished
   training priced at $1e9 (so every scenario has a plan), headroom 0.1.

**Structures** (`structures=`, `planner generate --structure`, docs/scale.md): the draws above are the default
structure; each named one changes a few of its ranges, so a benchmark family covers fleets that do not look like
the default (issue 23). They compose (each touches its own ranges), and the default draws are untouched by them:

- `power-tight`: owned power caps 1.0–1.1× the forecast's facility power on the anchor (not 1.3–2×), so the power
  rows bind and the choice of dense, efficient SKUs and of cloud rentals matters;
- `budget-tight`: a purchase budget per quarter of BUDGET_SHARE × the anchor capex the forecast's growth needs
  per quarter on average, so rentals and later orders take over;
- `rack-scale`: long lead times and rack-scale SKUs: every SKU but the anchor waits 1–2 quarters more, the
  variants are drawn from rack-scale SKUs only (≥ RACK_SCALE_GPUS GPUs a node, e.g. GB200 NVL72) at volume
  prices, so the plan's integers are 72-GPU racks;
- `old-fleet`: an existing fleet of 80–120 % of the first quarter's need, of SKUs that shipped 8 quarters or more
  before the start, installed 8–19 quarters before it, so most of it retires inside a horizon of a few years (a
  5-year life is 20 quarters).

A seed fixes every draw; the same arguments give identical frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from models.performance import TOKENS_PER_B, estimate_performance
from models.money import facility_kw
from models.quarters import HOURS_PER_QUARTER, format_quarter, parse_quarter
from models.units import KW_PER_MW, SECONDS_PER_HOUR

# --- workload mix -------------------------------------------------------------------------------------------
TRAINING_SHARE = 0.10  # the "about 10 % training runs"
PARAMS_B = np.array([8, 13, 34, 70, 180, 405])
INFERENCE_PARAMS_WEIGHTS = np.array([0.30, 0.15, 0.15, 0.25, 0.05, 0.10])  # small models are served most
TRAINING_PARAMS_WEIGHTS = np.array([0.25, 0.10, 0.15, 0.25, 0.10, 0.15])
PRECISIONS = np.array(["bf16", "fp8", "int8", "int4"])
INFERENCE_PRECISION_WEIGHTS = np.array([0.25, 0.35, 0.25, 0.15])
TRAINING_FP8_SHARE = 0.3  # FP8 training (Transformer Engine) on a minority of runs
CONTEXT_TOKENS = np.array([2000, 4000, 8000, 16000, 32000])
SLO_SHARE = 0.4  # services with a per-user decode rate target
SLO_TOKENS_PER_S = np.array([10, 20, 30, 40, 50])  # per-user decode targets (interactive chat ~20-50 tokens/s)
SLO_MARGIN = 0.8  # an SLO is at most this fraction of the best per-user rate the anchor SKU reaches
SLO_HALVINGS = 6  # SLOs the anchor misses are halved this often, then dropped
PINNED_INFERENCE_SHARE = 0.15  # data-residency / latency pins (`sites` column)
PINNED_TRAINING_SHARE = 0.05
LATE_LAUNCH_SHARE = 0.2  # services with no demand before a launch quarter
TRAINING_WINDOW_QUARTERS = (1, 4)
TRAINING_NODES = (16.0, 256.0)  # anchor nodes a run needs over its window: "tens to hundreds of nodes"
# Token counts are then kept within published practice: from fine-tunes (Llama 3.1 405B's 0.3 T-token
# continued runs) to frontier pre-training (Llama 3: 15 T; Llama 4: ~30 T), so a small model's run needs fewer nodes.
TRAINING_TOKENS_B = (300.0, 30_000.0)
LAUNCH_NODES = (1.0, 40.0)  # anchor nodes a service needs at launch (log-uniform)
GROWTH_PER_QUARTER = (0.02, 0.15)  # trend of a service's demand (the shipped example: 8-25 % a quarter)
GROWTH_NOISE = 0.03  # quarter-to-quarter noise on the trend (demand never shrinks)

INFERENCE_FAMILIES = np.array(["chat", "code", "rag", "search", "agent", "summarize", "translate", "assistant",
                               "batch", "embed-rerank", "moderation", "copilot"])

# --- sites ----------------------------------------------------------------------------------------------------
OWNED_SITE_NAMES = ("virginia", "texas", "oregon", "ohio", "arizona", "georgia", "iowa", "nevada", "quebec",
                    "ireland", "norway", "finland", "netherlands", "japan", "singapore", "chile")
CLOUD_SITE_NAMES = ("cloud-east", "cloud-west", "cloud-eu", "cloud-asia")
PUE_OWNED = (1.08, 1.45)  # hyperscale (~1.1) to older colocation (~1.5)
PUE_CLOUD = (1.08, 1.20)
USD_PER_KWH = (0.045, 0.13)  # US industrial tariffs to European prices
GCO2_PER_KWH = (20.0, 500.0)  # hydro/nuclear grids to coal-heavy grids
POWER_CAP_FACTOR = (1.3, 2.0)  # cap / power the forecast needs at the site: the "room to choose"
MIN_CAP_FACTOR = 1.2  # a site always hosts the largest single run or replica with this margin
RACK_SLACK = (1.0, 1.4)  # racks / racks needed at the cap with the least dense SKU: power binds first

# --- fleet and variants ---------------------------------------------------------------------------------------
FLEET_SHARE = (0.15, 0.4)  # existing fleet, in anchor-node equivalents (BF16 peak), / first quarter's need
FLEET_AGE_QUARTERS = (1, 12)
VARIANT_PRICE = (0.85, 1.15)
VARIANT_NODE_KW = (0.92, 1.08)
VARIANT_RENT = (0.90, 1.10)
VARIANT_VENDORS = ("OEM", "ODM", "reseller", "multi-year contract", "spot contract", "leasing")

FINANCE = {"discount_rate": 0.08, "capex_mode": "depreciation", "carbon_usd_per_t": 50,
           "unmet_usd_per_unit": 1000, "unfinished_training_usd": 1_000_000_000}
HEADROOM = 0.1
SOLVER = {"time_limit_s": 120, "gap": 0.01}  # the benchmark settings; the backend is the tool's default

# --- structures (issue 23: a benchmark family, not one generator setting) --------------------------------------
DEFAULT, POWER_TIGHT, BUDGET_TIGHT, RACK_SCALE, OLD_FLEET = "default", "power-tight", "budget-tight", "rack-scale", \
    "old-fleet"
STRUCTURES = (POWER_TIGHT, BUDGET_TIGHT, RACK_SCALE, OLD_FLEET)  # the family's four; `default` is none of them
TIGHT_POWER_CAP_FACTOR = (1.0, 1.1)  # cap / forecast power: what the plan needs on the anchor, and little more
# Budget: a share of the anchor capex the forecast's growth needs per quarter (nodes needed at the end beyond the
# fleet, × the anchor's price, / quarters): below 1, buying what the anchor would need is not affordable.
BUDGET_SHARE = 0.6
LONG_LEAD_EXTRA_QUARTERS = (1, 2)  # more lead time on every SKU but the anchor (supply-constrained parts)
RACK_SCALE_GPUS = 72  # GPUs per node of a rack-scale SKU (NVL72: one node is the whole rack)
RACK_SCALE_PRICE = (0.75, 0.95)  # volume-contract price factor of rack-scale variants (vs VARIANT_PRICE's)
OLD_FLEET_SHARE = (0.8, 1.2)  # existing fleet, in anchor-node equivalents, / first quarter's need
OLD_FLEET_AGE_QUARTERS = (8, 19)  # installed this long before the start: retires within 1–12 quarters (20-q life)


@dataclass(frozen=True)
class Structure:
    """The ranges a structure changes; the defaults are the default structure's."""

    power_cap_factor: tuple[float, float] = POWER_CAP_FACTOR
    budget_share: float | None = None  # None: no purchase budget
    extra_lead_quarters: tuple[int, int] | None = None  # None: leads as in the catalog
    rack_scale_variants: bool = False
    fleet_share: tuple[float, float] = FLEET_SHARE
    fleet_age_quarters: tuple[int, int] = FLEET_AGE_QUARTERS


_CHANGES = {POWER_TIGHT: {"power_cap_factor": TIGHT_POWER_CAP_FACTOR}, BUDGET_TIGHT: {"budget_share": BUDGET_SHARE},
            RACK_SCALE: {"extra_lead_quarters": LONG_LEAD_EXTRA_QUARTERS, "rack_scale_variants": True},
            OLD_FLEET: {"fleet_share": OLD_FLEET_SHARE, "fleet_age_quarters": OLD_FLEET_AGE_QUARTERS}}


def structure_of(names) -> Structure:
    """The structure of the named ones together (none, or only `default`: the default structure)."""
    changes = {}
    for name in names:
        if name != DEFAULT and name not in _CHANGES:
            raise ValueError(f"unknown structure {name!r}; choose from {', '.join((DEFAULT, *STRUCTURES))}")
        changes.update(_CHANGES.get(name, {}))
    return Structure(**changes)


CATALOG_COLUMNS = ["sku", "accelerator", "gpus_per_node", "bf16_tflops", "fp8_tflops", "hbm_gb", "hbm_tbps",
                   "node_kw", "idle_frac", "price_usd", "rent_usd_per_gpu_hour", "lead_quarters", "available_from",
                   "life_years", "maint_frac_per_year", "nodes_per_rack", "source"]
WORKLOAD_COLUMNS = ["workload", "kind", "params_b", "precision", "tokens_b", "start", "deadline", "context_tokens",
                    "min_tokens_per_s_per_user", "sites", "mfu"]


@dataclass(frozen=True)
class SyntheticScenario:
    """CSV-ready tables (quarters as labels, lists `;`-joined) and the scenario's YAML keys."""

    name: str
    config: dict  # scenario.yaml: table keys name the files `<table>.csv`
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)  # catalog, sites, fleet, workloads, demand


def earliest_start(base_catalog: pd.DataFrame) -> str:
    """The first start quarter at which every base SKU can be ordered (so the anchor logic holds)."""
    return format_quarter(max(parse_quarter(label) for label in base_catalog["available_from"]))


def synthesize_scenario(base_catalog: pd.DataFrame, workloads: int, quarters: int, owned_sites: int, skus: int,
                        seed: int, cloud_sites: int = 2, start: str = "2027Q1",
                        structures: tuple[str, ...] = ()) -> SyntheticScenario:
    """Draw a scenario; `base_catalog` is the shipped catalog as read from its CSV (one row per SKU); `structures`
    names of STRUCTURES (module docstring), none for the default."""
    structures = tuple(dict.fromkeys(name for name in structures if name != DEFAULT))
    structure = structure_of(structures)
    if min(workloads, quarters, owned_sites, skus) < 1 or cloud_sites < 0 or seed < 0:
        raise ValueError("workloads, quarters, owned_sites and skus must be >= 1; cloud_sites and seed >= 0")
    if parse_quarter(start) < parse_quarter(earliest_start(base_catalog)):
        raise ValueError(f"start {start} is before {earliest_start(base_catalog)}, when the last base SKU appears")
    rng = np.random.default_rng(seed)
    start_ordinal = parse_quarter(start)
    labels = [format_quarter(start_ordinal + q) for q in range(quarters)]

    catalog, anchor = _catalog(rng, base_catalog, skus, structure)
    typed_catalog = _typed_catalog(catalog, start_ordinal)
    site_frame = _site_names(owned_sites, cloud_sites)
    work = _workloads(rng, workloads, quarters, site_frame, typed_catalog, anchor)
    demand_nodes = _demand_nodes(rng, work, quarters)
    anchor_rate = work["anchor_tokens_per_s_per_node"].to_numpy()
    demand = demand_nodes * anchor_rate[:, None]
    need_nodes = _anchor_nodes_per_quarter(work, demand_nodes, quarters)
    anchor_node_tflops = float(typed_catalog.at[anchor, "bf16_tflops"] * typed_catalog.at[anchor, "gpus_per_node"])
    fleet = _fleet(rng, need_nodes[:, 0].sum(), site_frame, typed_catalog, anchor_node_tflops, structure)
    sites = _sites(rng, site_frame, work, need_nodes, typed_catalog, anchor, fleet, structure)
    finance = dict(FINANCE)
    if structure.budget_share is not None:
        finance["budget_usd_per_quarter"] = _budget_usd_per_quarter(structure.budget_share, need_nodes, fleet,
                                                                    typed_catalog, anchor, anchor_node_tflops)

    name = f"synthetic-w{workloads}-q{quarters}-s{owned_sites}-k{skus}-seed{seed}" + "".join(
        f"-{structure_name}" for structure_name in structures)
    tables = {
        "catalog": catalog[CATALOG_COLUMNS],
        "sites": sites,
        "fleet": _fleet_table(fleet, start_ordinal),
        "workloads": _workload_table(work, labels),
        "demand": _demand_table(work, demand, labels),
    }
    config = {"name": name, "start": start, "quarters": quarters,
              **{role: f"{role}.csv" for role in tables},
              "finance": finance, "planning": {"headroom": HEADROOM}, "solver": dict(SOLVER)}
    return SyntheticScenario(name=name, config=config, tables=tables)


# --- catalog ----------------------------------------------------------------------------------------------------

def _anchor_sku(base: pd.DataFrame) -> str:
    """Lead 0, rentable, fastest BF16: obtainable everywhere from the first quarter."""
    candidates = base[(base["lead_quarters"] == 0) & base["rent_usd_per_gpu_hour"].notna()]
    if candidates.empty:
        raise ValueError("the base catalog needs a SKU with lead_quarters 0 and a rental price")
    return str(candidates.sort_values("bf16_tflops", ascending=False, kind="stable")["sku"].iloc[0])


def _catalog(rng: np.random.Generator, base_catalog: pd.DataFrame, skus: int,
             structure: Structure = Structure()) -> tuple[pd.DataFrame, str]:
    catalog, anchor = _drawn_catalog(rng, base_catalog, skus, structure)
    if structure.extra_lead_quarters is not None:
        later = catalog["sku"] != anchor
        extra = rng.integers(structure.extra_lead_quarters[0], structure.extra_lead_quarters[1] + 1, len(catalog))
        catalog.loc[later, "lead_quarters"] = catalog.loc[later, "lead_quarters"] + extra[later.to_numpy()]
    return catalog, anchor


def _drawn_catalog(rng: np.random.Generator, base_catalog: pd.DataFrame, skus: int,
                   structure: Structure) -> tuple[pd.DataFrame, str]:
    base = base_catalog.reset_index(drop=True).copy()
    anchor = _anchor_sku(base)
    if skus < len(base):  # the anchor first, then the newest SKUs
        order = base.assign(_anchor=base["sku"] != anchor,
                            _age=-base["available_from"].map(parse_quarter))
        base = order.sort_values(["_anchor", "_age"], kind="stable").head(skus)[base.columns]
        base = base.sort_index()
    variants = skus - len(base)
    if variants <= 0:
        return base.reset_index(drop=True).astype({"price_usd": int}), anchor
    source = base
    if structure.rack_scale_variants and (base["gpus_per_node"] >= RACK_SCALE_GPUS).any():
        source = base[base["gpus_per_node"] >= RACK_SCALE_GPUS]
    of = source.iloc[np.arange(variants) % len(source)].reset_index(drop=True)
    number = np.arange(variants) // len(source) + 2
    price_factor = rng.uniform(*(RACK_SCALE_PRICE if source is not base else VARIANT_PRICE), variants)
    lead_shift = rng.integers(-1, 2, variants)
    kw_factor = rng.uniform(*VARIANT_NODE_KW, variants)
    rent_factor = rng.uniform(*VARIANT_RENT, variants)
    vendor = rng.choice(np.array(VARIANT_VENDORS), variants)
    new = of.copy()
    new["sku"] = of["sku"] + "-v" + pd.Series(number).astype(str)
    new["accelerator"] = of["accelerator"] + " (" + pd.Series(vendor) + ")"
    new["price_usd"] = (np.round(of["price_usd"].to_numpy(dtype=float) * price_factor, -3)).astype(int)
    new["lead_quarters"] = np.maximum(of["lead_quarters"].to_numpy() + lead_shift, 0)
    new["node_kw"] = np.round(of["node_kw"].to_numpy(dtype=float) * kw_factor, 1)
    new["rent_usd_per_gpu_hour"] = np.round(of["rent_usd_per_gpu_hour"].to_numpy(dtype=float) * rent_factor, 2)
    new["source"] = ("synthetic " + pd.Series(vendor) + " variant of " + of["sku"] + ": price x"
                     + pd.Series(np.char.mod("%.3f", price_factor)) + ", lead "
                     + pd.Series(np.char.mod("%+d", new["lead_quarters"].to_numpy() - of["lead_quarters"].to_numpy()))
                     + ", node_kw x" + pd.Series(np.char.mod("%.3f", kw_factor)))
    catalog = pd.concat([base, new], ignore_index=True)
    return catalog.astype({"gpus_per_node": int, "price_usd": int, "lead_quarters": int, "nodes_per_rack": int}), anchor


def _typed_catalog(catalog: pd.DataFrame, start_ordinal: int) -> pd.DataFrame:
    """Indexed by SKU with `available_from` relative to the start, as the performance model and sets expect."""
    typed = catalog.set_index("sku").copy()
    typed["available_from"] = typed["available_from"].map(parse_quarter) - start_ordinal
    return typed


# --- sites ------------------------------------------------------------------------------------------------------

def _names(pool: tuple[str, ...], count: int) -> list[str]:
    return [pool[i % len(pool)] + ("" if i < len(pool) else f"-{i // len(pool) + 1}") for i in range(count)]


def _site_names(owned: int, cloud: int) -> pd.DataFrame:
    return pd.DataFrame({"site": _names(OWNED_SITE_NAMES, owned) + _names(CLOUD_SITE_NAMES, cloud),
                         "kind": ["owned"] * owned + ["cloud"] * cloud})


def _sites(rng, site_frame: pd.DataFrame, work: pd.DataFrame, need_nodes: np.ndarray, catalog: pd.DataFrame,
           anchor: str, fleet: pd.DataFrame, structure: Structure = Structure()) -> pd.DataFrame:
    owned = site_frame[site_frame["kind"] == "owned"]["site"].tolist()
    n_owned, n_all = len(owned), len(site_frame)
    # PUE is rounded as written, before it sizes anything, so the caps hold for the values in sites.csv.
    pue = np.round(np.where(site_frame["kind"] == "owned", rng.uniform(*PUE_OWNED, n_all),
                            rng.uniform(*PUE_CLOUD, n_all)), 2)
    usd_per_kwh = rng.uniform(*USD_PER_KWH, n_all)
    gco2 = rng.uniform(*GCO2_PER_KWH, n_all)
    cap_factor = rng.uniform(*structure.power_cap_factor, n_all)
    rack_slack = rng.uniform(*RACK_SLACK, n_all)
    shares = rng.dirichlet(np.full(n_owned, 2.0))

    # Anchor nodes per (owned site, quarter): pinned work at its owned sites (split evenly), the rest by share.
    pins = work["sites"]
    owned_pins = pins.map(lambda listed: [s for s in listed if s in owned])  # a pin always names an owned site
    weights = np.zeros((len(work), n_owned))
    pinned = owned_pins.map(len).to_numpy() > 0
    pin_rows = np.repeat(np.arange(len(work)), owned_pins.map(len).to_numpy())
    pin_cols = np.array([owned.index(s) for listed in owned_pins for s in listed], dtype=int)
    np.add.at(weights, (pin_rows, pin_cols), 1.0 / owned_pins.map(len).to_numpy()[pin_rows])
    # An unpinned inference service may spread over every site, by share; a training run uses one pool (one site),
    # so its whole need goes to one home site drawn by share, which must then hold it.
    training = (work["kind"] == "training").to_numpy()
    home = rng.choice(n_owned, len(work), p=shares)
    weights[~pinned & ~training] = shares
    weights[np.flatnonzero(~pinned & training), home[~pinned & training]] = 1.0
    at_site = weights.T @ need_nodes
    kw_per_node = float(catalog.at[anchor, "node_kw"])
    busiest_kw = facility_kw(kw_per_node, pue[:n_owned], nodes=at_site.max(axis=1))
    largest_kw = facility_kw(kw_per_node, pue[:n_owned], nodes=work["anchor_min_nodes"].max()) * MIN_CAP_FACTOR
    fleet_kw = facility_kw(fleet.assign(kw=fleet["nodes"] * catalog.reindex(fleet["sku"])["node_kw"].to_numpy())
                           .groupby("site")["kw"].sum().reindex(owned).fillna(0.0).to_numpy(), pue[:n_owned])
    cap_kw = np.maximum(busiest_kw * cap_factor[:n_owned], largest_kw) + fleet_kw
    least_kw_per_rack = float((catalog["node_kw"] * catalog["nodes_per_rack"]).min())
    racks = np.ceil(cap_kw / pue[:n_owned] / least_kw_per_rack * rack_slack[:n_owned])

    is_owned = (site_frame["kind"] == "owned").to_numpy()
    frame = site_frame.copy()
    frame["power_mw"] = np.nan
    frame.loc[is_owned, "power_mw"] = np.round(np.ceil(cap_kw) / KW_PER_MW, 3)
    frame["pue"] = pue
    frame["usd_per_kwh"] = np.where(is_owned, np.round(usd_per_kwh, 4), np.nan)
    frame["gco2_per_kwh"] = np.round(gco2, 1)
    frame["racks"] = pd.array(np.concatenate([racks, np.full(n_all - n_owned, np.nan)]), dtype="Int64")
    return frame


# --- workloads --------------------------------------------------------------------------------------------------

def _workloads(rng, count: int, quarters: int, site_frame: pd.DataFrame, catalog: pd.DataFrame,
               anchor: str) -> pd.DataFrame:
    n_train = int(round(count * TRAINING_SHARE)) if count > 1 else 0
    n_train = max(n_train, 1) if count > 1 else 0
    n_infer = count - n_train
    owned = site_frame[site_frame["kind"] == "owned"]["site"].to_numpy()
    all_sites = site_frame["site"].to_numpy()

    # Training runs.
    t_params = rng.choice(PARAMS_B, n_train, p=TRAINING_PARAMS_WEIGHTS)
    t_precision = np.where(rng.random(n_train) < TRAINING_FP8_SHARE, "fp8", "bf16")
    t_window = rng.integers(TRAINING_WINDOW_QUARTERS[0], TRAINING_WINDOW_QUARTERS[1] + 1, n_train)
    t_window = np.minimum(t_window, quarters)
    t_start = np.floor(rng.random(n_train) * (quarters - t_window + 1)).astype(int)
    t_nodes = np.exp(rng.uniform(*np.log(TRAINING_NODES), n_train))
    t_pinned = rng.random(n_train) < PINNED_TRAINING_SHARE
    t_pin_site = rng.choice(owned, n_train)

    # Inference services.
    i_params = rng.choice(PARAMS_B, n_infer, p=INFERENCE_PARAMS_WEIGHTS)
    i_precision = rng.choice(PRECISIONS, n_infer, p=INFERENCE_PRECISION_WEIGHTS)
    i_context = rng.choice(CONTEXT_TOKENS, n_infer)
    i_slo = np.where(rng.random(n_infer) < SLO_SHARE, rng.choice(SLO_TOKENS_PER_S, n_infer), np.nan)
    i_family = rng.choice(INFERENCE_FAMILIES, n_infer)
    i_pinned = rng.random(n_infer) < PINNED_INFERENCE_SHARE
    i_pin_count = rng.integers(1, 3, n_infer)
    i_pin_first = rng.choice(owned, n_infer)
    i_pin_second = rng.choice(all_sites, n_infer)

    names = np.concatenate([
        np.char.add(np.char.add("train-", t_params.astype(str)), np.char.mod("b-%04d", np.arange(n_train))),
        np.char.add(np.char.add(np.char.add(i_family, "-"), i_params.astype(str)),
                    np.char.mod("b-%04d", np.arange(n_infer))),
    ])
    t_sites = [[s] if p else [] for p, s in zip(t_pinned, t_pin_site)]
    i_sites = [(sorted({a, b}) if n == 2 else [a]) if p else []
               for p, n, a, b in zip(i_pinned, i_pin_count, i_pin_first, i_pin_second)]
    work = pd.DataFrame({
        "kind": ["training"] * n_train + ["inference"] * n_infer,
        "params_b": np.concatenate([t_params, i_params]).astype(float),
        "precision": np.concatenate([t_precision, i_precision]),
        "tokens_b": np.concatenate([np.ones(n_train), np.full(n_infer, np.nan)]),
        "start": np.concatenate([t_start, np.zeros(n_infer, dtype=int)]),
        "deadline": np.concatenate([t_start + t_window - 1, np.full(n_infer, quarters - 1)]),
        "context_tokens": np.concatenate([np.full(n_train, np.nan), i_context]).astype(float),
        "min_tokens_per_s_per_user": np.concatenate([np.full(n_train, np.nan), i_slo]).astype(float),
        "mfu": np.nan,
        "target_nodes": np.concatenate([t_nodes, np.full(n_infer, np.nan)]),
    }, index=pd.Index(names, name="workload"))
    work["sites"] = pd.Series(t_sites + i_sites, index=work.index, dtype=object)

    work["min_tokens_per_s_per_user"] = _reachable_slos(work, catalog.loc[[anchor]])
    anchor_perf = estimate_performance(catalog.loc[[anchor]], work, pd.DataFrame()).xs(anchor, level="sku")
    work["anchor_tokens_per_s_per_node"] = anchor_perf["tokens_per_s_per_node"]
    work["anchor_min_nodes"] = anchor_perf["min_nodes"]
    # Training tokens: the target node count, busy for the whole window, on the anchor; 3 significant figures.
    training = work["kind"] == "training"
    window_s = (work["deadline"] - work["start"] + 1) * HOURS_PER_QUARTER * SECONDS_PER_HOUR
    nodes = np.maximum(work["target_nodes"], work["anchor_min_nodes"])
    tokens_b = (nodes * work["anchor_tokens_per_s_per_node"] * window_s / TOKENS_PER_B).clip(*TRAINING_TOKENS_B)
    work.loc[training, "tokens_b"] = _significant(tokens_b[training].to_numpy(), 3)
    return work


def _reachable_slos(work: pd.DataFrame, anchor_catalog: pd.DataFrame) -> pd.Series:
    """Per-user SLOs the anchor SKU meets with SLO_MARGIN: halve those it misses, drop any still missed."""
    slo = work["min_tokens_per_s_per_user"].copy()
    for _ in range(SLO_HALVINGS + 1):
        probe = work.assign(min_tokens_per_s_per_user=slo / SLO_MARGIN)
        eligible = estimate_performance(anchor_catalog, probe, pd.DataFrame())["eligible"].droplevel("sku")
        missed = slo.notna() & ~eligible
        if not missed.any():
            return slo
        slo[missed] = np.floor(slo[missed] / 2.0)
        slo[slo < 1.0] = np.nan
    slo[missed] = np.nan
    return slo


def _demand_nodes(rng, work: pd.DataFrame, quarters: int) -> np.ndarray:
    """Anchor node-equivalents of demand per (inference service, quarter); zero rows for training runs."""
    n = len(work)
    launch_nodes = np.exp(rng.uniform(*np.log(LAUNCH_NODES), n))
    trend = rng.uniform(*GROWTH_PER_QUARTER, n)
    noise = rng.normal(0.0, GROWTH_NOISE, (n, quarters))
    late = rng.random(n) < LATE_LAUNCH_SHARE
    launch = np.where(late, rng.integers(1, max(quarters // 2, 1) + 1, n), 0)
    launch = np.minimum(launch, quarters - 1)
    growth = np.maximum(trend[:, None] + noise, 0.0)
    since_launch = np.arange(quarters)[None, :] - launch[:, None]
    growth[since_launch <= 0] = 0.0
    nodes = launch_nodes[:, None] * np.cumprod(1.0 + growth, axis=1)
    nodes[since_launch < 0] = 0.0
    nodes[(work["kind"] == "training").to_numpy()] = 0.0
    return nodes


def _anchor_nodes_per_quarter(work: pd.DataFrame, demand_nodes: np.ndarray, quarters: int) -> np.ndarray:
    """Anchor nodes the forecast keeps busy per (workload, quarter): demand, or a run spread over its window."""
    training = (work["kind"] == "training").to_numpy()
    q = np.arange(quarters)[None, :]
    in_window = (q >= work["start"].to_numpy()[:, None]) & (q <= work["deadline"].to_numpy()[:, None])
    window = (work["deadline"] - work["start"] + 1).to_numpy(dtype=float)
    node_quarters = (work["tokens_b"] * TOKENS_PER_B / work["anchor_tokens_per_s_per_node"]
                     / (HOURS_PER_QUARTER * SECONDS_PER_HOUR)).to_numpy()
    run_nodes = np.where(in_window, np.maximum(node_quarters / window, work["anchor_min_nodes"].to_numpy())[:, None],
                         0.0)
    return np.where(training[:, None], run_nodes, demand_nodes / (1.0 - HEADROOM))


def _significant(values: np.ndarray, digits: int) -> np.ndarray:
    magnitude = 10.0 ** (np.floor(np.log10(np.abs(values))) - digits + 1)
    return np.round(values / magnitude) * magnitude


# --- fleet ------------------------------------------------------------------------------------------------------

def _fleet(rng, first_quarter_nodes: float, site_frame: pd.DataFrame, catalog: pd.DataFrame,
           anchor_node_tflops: float, structure: Structure = Structure()) -> pd.DataFrame:
    """Rows (site, sku, nodes, installed relative to the start) of base SKUs ordered before the start, counted in
    anchor nodes by whole-node BF16 peak (a 72-GPU rack is 72 GPUs' worth, not one 8-GPU node's)."""
    owned = site_frame[site_frame["kind"] == "owned"]["site"].to_numpy()
    base = ~catalog.index.str.contains(r"-v\d+$")
    # SKUs that could have been installed as long ago as the youngest age drawn (the default's 1 quarter: any SKU
    # available before the start); none such: any base SKU available before the start.
    older = catalog[(catalog["available_from"] <= -structure.fleet_age_quarters[0]) & base]
    if older.empty:
        older = catalog[(catalog["available_from"] < 0) & base]
    total = rng.uniform(*structure.fleet_share) * first_quarter_nodes
    rows_per_site = rng.integers(1, 4, len(owned))
    site = np.repeat(owned, rows_per_site)
    n = len(site)
    if older.empty:
        return pd.DataFrame({"site": [], "sku": [], "nodes": [], "installed": []})
    sku = rng.choice(older.index.to_numpy(), n)
    age = rng.integers(structure.fleet_age_quarters[0], structure.fleet_age_quarters[1] + 1, n)
    share = rng.dirichlet(np.ones(n))
    installed = np.maximum(-age, older.loc[sku, "available_from"].to_numpy())
    node_tflops = (older["bf16_tflops"] * older["gpus_per_node"]).loc[sku].to_numpy(dtype=float)
    anchor_equivalents = node_tflops / anchor_node_tflops
    nodes = np.round(share * total / anchor_equivalents).astype(int)
    fleet = pd.DataFrame({"site": site, "sku": sku, "nodes": nodes, "installed": installed})
    fleet = fleet[fleet["nodes"] > 0]
    return fleet.groupby(["site", "sku", "installed"], as_index=False, sort=False)["nodes"].sum()[
        ["site", "sku", "nodes", "installed"]]


def _budget_usd_per_quarter(share: float, need_nodes: np.ndarray, fleet: pd.DataFrame, catalog: pd.DataFrame,
                            anchor: str, anchor_node_tflops: float) -> float:
    """`share` × the anchor capex per quarter the forecast's growth needs: the anchor nodes needed in the last
    quarter beyond the fleet's anchor equivalents (BF16 peak, as `_fleet` counts them), priced at the anchor, spread
    over the quarters; rounded to $1,000, at least one anchor node (so the budget never forbids every order)."""
    node_tflops = (catalog["bf16_tflops"] * catalog["gpus_per_node"]).reindex(fleet["sku"]).to_numpy(dtype=float)
    fleet_nodes = float((fleet["nodes"].to_numpy(dtype=float) * node_tflops / anchor_node_tflops).sum())
    growth_nodes = max(float(need_nodes[:, -1].sum()) - fleet_nodes, 0.0)
    price = float(catalog.at[anchor, "price_usd"])
    per_quarter = share * growth_nodes * price / need_nodes.shape[1]
    return float(max(np.round(per_quarter, -3), price))


def _fleet_table(fleet: pd.DataFrame, start_ordinal: int) -> pd.DataFrame:
    table = fleet.copy()
    table["installed"] = [format_quarter(start_ordinal + int(q)) for q in table["installed"]]
    return table.reset_index(drop=True)


# --- CSV-ready tables ---------------------------------------------------------------------------------------------

def _workload_table(work: pd.DataFrame, labels: list[str]) -> pd.DataFrame:
    training = work["kind"] == "training"
    label = np.array(labels, dtype=object)
    table = pd.DataFrame({
        "workload": work.index,
        "kind": work["kind"].to_numpy(),
        "params_b": work["params_b"].astype(int).to_numpy(),
        "precision": work["precision"].to_numpy(),
        "tokens_b": work["tokens_b"].to_numpy(),
        "start": np.where(training, label[work["start"].to_numpy()], ""),
        "deadline": np.where(training, label[work["deadline"].to_numpy()], ""),
        "context_tokens": pd.array(work["context_tokens"], dtype="Int64"),
        "min_tokens_per_s_per_user": pd.array(work["min_tokens_per_s_per_user"], dtype="Int64"),
        "sites": work["sites"].map(";".join).to_numpy(),
        "mfu": "",
    })
    return table[WORKLOAD_COLUMNS]


def _demand_table(work: pd.DataFrame, demand: np.ndarray, labels: list[str]) -> pd.DataFrame:
    """Rows for inference services from launch on, tokens/s rounded to whole tokens/s."""
    rows, cols = np.nonzero(demand > 0)
    return pd.DataFrame({"workload": work.index.to_numpy()[rows], "quarter": np.array(labels, dtype=object)[cols],
                         "tokens_per_s": np.maximum(np.round(demand[rows, cols]), 1.0).astype(int)})
