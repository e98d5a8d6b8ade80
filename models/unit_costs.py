"""Cost of one node-hour of each SKU at each site, at full load, under the cost conventions of docs/conventions.md.

Used by `planner estimate` to rank SKUs per workload before any optimisation: ownership (depreciation +
maintenance) or rent, plus energy and carbon. Depreciation is used for owned nodes whatever the capex mode,
because a per-hour figure needs the purchase spread over the node's life. Every price comes from
models/cost_parameters.py (per quarter), divided by the quarter's 2,190 hours.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.cost_parameters import CostParameters
from models.quarters import HOURS_PER_QUARTER

TOKENS_PER_INFERENCE_UNIT = 1e6  # `estimate` prices inference per million served tokens


def node_hour_costs(prices: CostParameters, site_kind: pd.Series) -> pd.DataFrame:
    """Frame indexed by (site, sku): usd_per_node_hour and facility_kwh_per_node_hour (IT energy × PUE) at full load.

    `site_kind` is "owned" or "cloud" by site. Rows exist only where the SKU can be used at the site (any SKU at
    an owned site; rentable SKUs in a cloud). Energy and carbon are those of the first planning quarter: a
    ranking before optimisation has no date.
    """
    first_quarter = prices.kwh_per_idle_node.index.get_level_values("quarter").min()
    at_full_load = (prices.running_usd_per_idle_node() + prices.running_usd_per_busy_node()).xs(
        first_quarter, level="quarter")
    kwh = (prices.kwh_per_idle_node + prices.kwh_per_busy_node).xs(first_quarter, level="quarter")
    owned = (site_kind.reindex(at_full_load.index.get_level_values("site")) == "owned").to_numpy()
    sku = at_full_load.index.get_level_values("sku")
    ownership = (prices.depreciation_usd_per_node_quarter + prices.maintenance_usd_per_node_quarter).reindex(sku)
    rent = prices.rent_usd_per_node_quarter.reindex(at_full_load.index)
    usd_per_node_quarter = np.where(owned, ownership.to_numpy(), rent.to_numpy()) + at_full_load.to_numpy()
    frame = pd.DataFrame({"usd_per_node_hour": usd_per_node_quarter / HOURS_PER_QUARTER,
                          "facility_kwh_per_node_hour": kwh.to_numpy() / HOURS_PER_QUARTER},
                         index=at_full_load.index)
    return frame[np.isfinite(frame["usd_per_node_hour"])]
