"""Cost of one node-hour of each SKU at each site, at full load, under the README's cost conventions.

Used by `planner estimate` to rank SKUs per workload before any optimisation: ownership (depreciation +
maintenance) or rent, plus energy and carbon. Depreciation is used for owned nodes whatever the capex mode,
because a per-hour figure needs the purchase spread over the node's life.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.units import GRAMS_PER_TONNE, HOURS_PER_YEAR

TOKENS_PER_INFERENCE_UNIT = 1e6  # `estimate` prices inference per million served tokens


def node_hour_costs(catalog: pd.DataFrame, sites: pd.DataFrame, carbon_usd_per_t: float) -> pd.DataFrame:
    """Frame indexed by (site, sku): usd_per_node_hour and facility_kwh_per_node_hour (IT energy × PUE) at full load.

    Rows exist only where the SKU can be used at the site (any SKU at an owned site; rentable SKUs in a cloud).
    """
    pairs = pd.MultiIndex.from_product([sites.index, catalog.index], names=["site", "sku"])
    site = sites.reindex(pairs.get_level_values("site"))
    sku = catalog.reindex(pairs.get_level_values("sku"))
    owned = (site["kind"] == "owned").to_numpy()
    kwh = sku["node_kw"].to_numpy() * site["pue"].to_numpy()
    ownership = sku["price_usd"].to_numpy() * (1.0 / sku["life_years"].to_numpy()
                                               + sku["maint_frac_per_year"].to_numpy()) / HOURS_PER_YEAR
    rent = sku["rent_usd_per_gpu_hour"].to_numpy() * sku["gpus_per_node"].to_numpy()
    energy_usd = np.where(owned, kwh * site["usd_per_kwh"].fillna(0.0).to_numpy(), 0.0)
    carbon_usd = kwh * site["gco2_per_kwh"].to_numpy() / GRAMS_PER_TONNE * carbon_usd_per_t
    usd = np.where(owned, ownership, rent) + energy_usd + carbon_usd
    frame = pd.DataFrame({"usd_per_node_hour": usd, "facility_kwh_per_node_hour": kwh}, index=pairs)
    return frame[np.isfinite(frame["usd_per_node_hour"])]
