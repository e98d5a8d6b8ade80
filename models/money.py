"""The money and power conventions, each written once: how a quantity becomes kW, kWh, tCO2 or $, and when a node
is in service. `models/cost_parameters.py` (which re-exports these names) prices a whole scenario with them; every
other module calls them instead of writing the rule out again. `models/verify.py` alone keeps an independent copy
(its agreement with the optimiser is evidence only if it does), and `tests/test_money_owner.py` holds both rules.

Bottom of the model layer: imports only the quarter and unit conventions, so `models/sets.py` may use it without
a circle through the cost parameters. Functions take numbers, NumPy arrays, pandas Series or the LP layer's
expressions alike (plain `*` and `+`), and the order of the operations is part of the convention: `(nodes ×
node_kw) × pue` and `node_kw × (nodes × pue)` may differ in the last bit, and the golden test
(`tests/test_golden.py`) compares bit for bit.

The conventions (docs/conventions.md):
- in service: a node ordered in quarter q of a SKU with lead time L is in service from q + L, for its life of
  round(life_years × 4) quarters: q + L <= t < q + L + life (`in_service_quarter`, `in_service_window`).
- facility power: IT kW × PUE; the power cap counts nodes × node_kw × pue, all busy (`facility_kw`).
- energy: facility kW × 2,190 h per quarter (`facility_kwh_per_quarter`), or IT kW × (pue × 2,190 h)
  (`kwh_per_it_kw_quarter`, what a cost parameter per IT kW multiplies by).
- electricity: kWh × usd_per_kwh at owned sites; cloud sites pay 0 (energy is in the rent) (`charged_usd_per_kwh`).
- emissions: kWh × gco2_per_kwh / 10^6 t (`tco2_per_kwh`, `carbon_t`).
- book value: what depreciation mode leaves of an order's price at the horizon's end (`purchase_book_values`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.quarters import HOURS_PER_QUARTER, QUARTERS_PER_YEAR
from models.units import GRAMS_PER_TONNE, HOURS_PER_YEAR

OWNED_SITE = "owned"  # sites.csv kind that pays its own electricity (a cloud site's is in the rent)


# --- when a node is in service ----------------------------------------------------------------------------

def life_quarters(catalog: pd.DataFrame) -> pd.Series:
    """By sku: quarters a node stays in service, life_years × 4 rounded to whole quarters.

    A 5-year life is 20 quarters; 4.9 years is 19.6, in service for 20; 4.8 years is 19.2, for 19."""
    return (catalog["life_years"] * QUARTERS_PER_YEAR).round().astype(int)


def depreciation_quarters(life_years) -> pd.Series:
    """Quarters an asset's price is spread over, straight line: life_years × 4, unrounded (a 4.9-year life is
    depreciated over 19.6 quarters, so the full price is charged at the stated life; nodes, leaf switches and
    facility build-outs alike)."""
    return (life_years.astype(float) * QUARTERS_PER_YEAR).rename("depreciation_quarters")


def life_hours(catalog: pd.DataFrame) -> pd.Series:
    """By sku: the hours a node's price is spread over, life_years × 8,760 h, unrounded like depreciation's
    divisor (a 5-year life: 43,800 h)."""
    return catalog["life_years"] * HOURS_PER_YEAR


def in_service_quarter(order_quarter, lead_quarters):
    """First quarter in service of a node ordered in `order_quarter` with that lead time: order + lead.

    Ordered in quarter 3 with a lead of 2 quarters, a node serves from quarter 5."""
    return order_quarter + lead_quarters


def order_quarter_for(in_service, lead_quarters):
    """The order quarter that puts a node in service in quarter `in_service`: in_service − lead (the inverse of
    `in_service_quarter`; before 0 it cannot be ordered in the horizon)."""
    return in_service - lead_quarters


def in_service_window(catalog: pd.DataFrame, order_quarter, sku):
    """(first, retired) quarters of nodes of `sku` ordered in `order_quarter`: in service for first <= t < retired,
    first = order + lead_quarters, retired = first + life_quarters. `order_quarter` and `sku` are a number and
    a label, or arrays of both (row by row); quarters relative to the horizon's start.

    An 'a' with lead 1 and a 5-year life ordered in quarter 2: in service from 3, retired at 3 + 20 = 23."""
    lead, life = catalog["lead_quarters"], life_quarters(catalog)
    if np.ndim(sku) == 0:
        first = in_service_quarter(order_quarter, int(lead.at[sku]))
        return first, first + int(life.at[sku])
    first = in_service_quarter(np.asarray(order_quarter), lead.loc[sku].to_numpy())
    return first, first + life.loc[sku].to_numpy()


# --- power and energy ---------------------------------------------------------------------------------------

def facility_kw(it_kw, pue, nodes=None):
    """Facility kW: IT kW × PUE, of one node or of `nodes` of them, (nodes × it_kw) × pue.

    With `it_kw` a node's nameplate node_kw it is the power cap's own measure (all busy); with the IT kW a plan
    draws at its utilisation it is the facility power the energy bill pays for. 4 nodes of 10 kW at PUE 1.25:
    (4 × 10) × 1.25 = 50 kW."""
    if nodes is None:
        return it_kw * pue
    return nodes * it_kw * pue


def facility_kwh_per_quarter(facility_kw_):
    """kWh a facility load draws in one quarter: kW × 2,190 h. 50 kW: 109,500 kWh."""
    return facility_kw_ * HOURS_PER_QUARTER


def kwh_per_it_kw_quarter(pue):
    """kWh one IT kW costs the site in a quarter: pue × 2,190 h (facility overhead included). PUE 1.2: 2,628 kWh."""
    return pue * HOURS_PER_QUARTER


def charged_usd_per_kwh(sites: pd.DataFrame) -> pd.Series:
    """By site: the electricity price the plan pays, usd_per_kwh at owned sites, 0 at cloud sites (the energy is in
    the rent) and 0 where an owned site gives none."""
    return sites["usd_per_kwh"].where(sites["kind"] == OWNED_SITE, 0.0).fillna(0.0)


def tco2_per_kwh(gco2_per_kwh):
    """Tonnes of CO2 per kWh: g/kWh / 10^6. 400 g/kWh: 0.0004 t/kWh."""
    return gco2_per_kwh / GRAMS_PER_TONNE


def carbon_t(kwh, gco2_per_kwh):
    """Tonnes of CO2 of `kwh`: kWh × (g/kWh / 10^6). 109,500 kWh at 400 g/kWh: 43.8 t."""
    return kwh * tco2_per_kwh(gco2_per_kwh)


# --- book value ---------------------------------------------------------------------------------------------

def purchase_book_values(purchases: pd.DataFrame, catalog: pd.DataFrame, horizon, prices) -> pd.DataFrame:
    """Per order (rows of PLAN.json `purchases`: sku, nodes, capex_usd, in_service as a quarter label): what the
    objective charges for it inside the horizon, and the book value left at the end. `prices`: the scenario's
    CostParameters (`depreciation_usd_per_node_quarter`, `charges_depreciation`).

    Depreciation mode charges price / (life_years × 4) per node for every quarter in service (from `in_service`
    for life_quarters, rounded) up to the horizon's end; cash mode charges the whole price in the order quarter.
    book_value_end_usd = capex_usd − charged_in_horizon_usd: in depreciation mode, the part of the price later
    quarters will carry; in cash mode, nothing.
    """
    sku = purchases["sku"]
    per_node_quarter = sku.map(prices.depreciation_usd_per_node_quarter).astype(float)
    in_service = pd.Series([horizon.relative(q) for q in purchases["in_service"]], index=purchases.index,
                           dtype=float)
    retired = in_service + sku.map(life_quarters(catalog)).astype(float)
    quarters = (retired.clip(upper=horizon.quarters) - in_service.clip(lower=0)).clip(lower=0)
    depreciation = purchases["nodes"] * per_node_quarter
    charged = depreciation * quarters if prices.charges_depreciation else purchases["capex_usd"]
    return pd.DataFrame({"depreciation_usd_per_quarter": depreciation, "quarters_charged": quarters,
                         "charged_in_horizon_usd": charged.astype(float),
                         "book_value_end_usd": (purchases["capex_usd"] - charged).astype(float)})
