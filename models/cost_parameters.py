"""Per-unit cost parameters, computed once from a scenario: docs/conventions.md written in one place.

PyPSA keeps `capital_cost` and `marginal_cost` on each component; here each kind of decision gets its labelled
price: $ per owned node in service per quarter, $ per node ordered, $ per rented node per quarter, kWh / $ /
tCO2 per idle node and per busy node-equivalent, the penalties, and the discount factors. The formulation
multiplies variables by these Series, `extract` and `estimate` price plans and node-hours with them, and the
risk evaluator can vectorise them. Only `models/verify.py` keeps an independent recomputation from the raw
scenario: that independence is its purpose.

Cost-line names and their order are defined here too (`COST_LINES`; a sampled future's `SAMPLED_LINES_USD`), so
PLAN.json, RISK.json, the workbook and the verifier's comparison all follow one list.

The elementary conventions these prices are made of (when a node is in service, facility kW, kWh per quarter,
the electricity price charged, tCO2 per kWh, book values) are written once in `models/money.py`, re-exported
here; `tests/test_money_owner.py` finds them written out nowhere else but in the verifier.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.failures import availability
from models import money
from models.money import (  # noqa: F401 (re-exported: the conventions are reached through this module too)
    OWNED_SITE, carbon_t, charged_usd_per_kwh, facility_kw, facility_kwh_per_quarter, in_service_quarter,
    in_service_window, kwh_per_it_kw_quarter, life_hours, life_quarters, order_quarter_for, purchase_book_values,
    tco2_per_kwh)
from models.quarters import HOURS_PER_QUARTER, QUARTERS_PER_YEAR
from models.scenario import Scenario
from models.sets import discount_factors

# The $ lines a quarter's total_usd adds up. Spend is what the plan pays; penalties price what it leaves undone
# (the finance view reports them apart).
# network_usd and storage_usd (docs/datacenter-2026.md "Fabric and storage") are 0 for a scenario without a fabric
# table or storage columns.
SPEND_LINES_USD = ("capex_usd", "depreciation_usd", "rent_usd", "energy_usd", "maintenance_usd", "network_usd",
                   "storage_usd", "carbon_usd")
PENALTY_LINES_USD = ("unmet_usd", "unfinished_training_usd")
USD_LINES = SPEND_LINES_USD + PENALTY_LINES_USD
# Every cost line by quarter, in PLAN.json's `costs` order: the $ lines plus the quantities they are priced from.
COST_LINES = ("capex_usd", "depreciation_usd", "rent_usd", "energy_kwh", "energy_usd", "maintenance_usd",
              "network_usd", "storage_usd", "carbon_t", "carbon_usd", "unmet_usd", "unfinished_training_usd")
# The $ lines of one sampled future (models/risk_costs.py, RISK.json): the spend lines, then rent and carbon paid
# for shortfall rented on demand beyond the plan's rentals, then the penalties for work not done.
ON_DEMAND_LINE_USD = "on_demand_usd"
SAMPLED_LINES_USD = SPEND_LINES_USD + (ON_DEMAND_LINE_USD,) + PENALTY_LINES_USD

CAPEX_MODE_DEPRECIATION = "depreciation"  # price spread over the service life, fleet included
CAPEX_MODE_CASH = "cash"  # price charged in the order quarter


@dataclass(frozen=True)
class CostParameters:
    """Labelled per-unit prices; quarters are relative (0 = start), index names are `quarter`, `site`, `sku`.

    Owned nodes (docs/conventions.md, "Depreciation mode", "Maintenance"), by sku:
      depreciation_quarters               life_years × 4, *unrounded* (the service life in sets.life_quarters
                                          is rounded to whole quarters; the divisor is not)
      depreciation_usd_per_node_quarter   price_usd / depreciation_quarters per node in service (fleet included),
                                          charged when capex_mode is "depreciation"
      capex_usd_per_node_ordered          price_usd per node ordered, charged in the order quarter when capex_mode
                                          is "cash" (also what a purchase costs: PLAN.json capex_usd, budget)
      maintenance_usd_per_node_quarter    maint_frac_per_year × price_usd / 4 per node in service, either mode
    Rented nodes (docs/conventions.md, "A rented node"), by (site, sku) for cloud sites × rentable SKUs only:
      rent_usd_per_node_quarter           rent_usd_per_gpu_hour × gpus_per_node × 2,190
    Power and energy (docs/conventions.md, "IT power", "Energy", "Emissions"):
      it_kw_per_idle_node                 by sku: node_kw × idle_frac, per node in service
      it_kw_per_busy_node                 by sku: node_kw × (1 − idle_frac), per busy node-equivalent on top
      kwh_per_idle_node, kwh_per_busy_node            by (quarter, site, sku): IT kW × pue × 2,190 h
      energy_usd_per_idle_node, energy_usd_per_busy_node   kWh × usd_per_kwh at owned sites, 0 at cloud sites
                                                           (energy is in the rent there)
      carbon_t_per_idle_node, carbon_t_per_busy_node       kWh × gco2_per_kwh / 10^6, owned and cloud alike
      carbon_usd_per_t                    the carbon price, applied to every tonne
    Penalties (docs/conventions.md, "Unmet inference demand", "A training run"):
      unmet_usd_per_unit                  $ per tokens/s of demand not served, per quarter
      unfinished_training_usd             $ for a whole run left undone (charged × fraction left, in its deadline
                                          quarter); None: runs must finish
    discount_factor                       by quarter: (1 + discount_rate)^(−quarter / 4)
    """

    capex_mode: str
    depreciation_quarters: pd.Series
    depreciation_usd_per_node_quarter: pd.Series
    capex_usd_per_node_ordered: pd.Series
    maintenance_usd_per_node_quarter: pd.Series
    rent_usd_per_node_quarter: pd.Series
    it_kw_per_idle_node: pd.Series
    it_kw_per_busy_node: pd.Series
    kwh_per_idle_node: pd.Series
    kwh_per_busy_node: pd.Series
    energy_usd_per_idle_node: pd.Series
    energy_usd_per_busy_node: pd.Series
    carbon_t_per_idle_node: pd.Series
    carbon_t_per_busy_node: pd.Series
    carbon_usd_per_t: float
    unmet_usd_per_unit: float
    unfinished_training_usd: float | None
    discount_factor: pd.Series

    @property
    def charges_depreciation(self) -> bool:
        """True: owned nodes pay depreciation while in service; False (cash mode): they pay capex when ordered."""
        return self.capex_mode == CAPEX_MODE_DEPRECIATION

    def owned_usd_per_node_quarter(self) -> pd.Series:
        """By sku: what one owned node in service is charged per quarter (depreciation if charged + maintenance)."""
        if self.charges_depreciation:
            return self.depreciation_usd_per_node_quarter + self.maintenance_usd_per_node_quarter
        return self.maintenance_usd_per_node_quarter.copy()

    def running_usd_per_idle_node(self) -> pd.Series:
        """By (quarter, site, sku): energy + carbon $ of one node in service, idle."""
        return self.energy_usd_per_idle_node + self.carbon_t_per_idle_node * self.carbon_usd_per_t

    def running_usd_per_busy_node(self) -> pd.Series:
        """By (quarter, site, sku): energy + carbon $ of one busy node-equivalent on top of its idle draw."""
        return self.energy_usd_per_busy_node + self.carbon_t_per_busy_node * self.carbon_usd_per_t


def build_cost_parameters(scenario: Scenario) -> CostParameters:
    """The scenario's catalog, sites and finance as per-unit prices over its horizon (see CostParameters)."""
    catalog, sites, finance = scenario.catalog, scenario.sites, scenario.finance
    catalog = catalog.rename_axis("sku")
    sites = sites.rename_axis("site")
    price = catalog["price_usd"].astype(float)

    depreciation_quarters = money.depreciation_quarters(catalog["life_years"])
    owned = sites["kind"] == OWNED_SITE
    rent_by_sku = (catalog["rent_usd_per_gpu_hour"] * catalog["gpus_per_node"] * HOURS_PER_QUARTER).dropna()
    rent_keys = pd.MultiIndex.from_product([sites.index[~owned], rent_by_sku.index], names=["site", "sku"])
    rent = pd.Series(rent_by_sku.reindex(rent_keys.get_level_values("sku")).to_numpy(), index=rent_keys)

    idle_kw = catalog["node_kw"] * catalog["idle_frac"]
    fabric = getattr(scenario, "fabric", None)
    if fabric is not None and not fabric.empty:  # the node's leaf ports and optics draw whether busy or idle
        idle_kw = idle_kw + fabric["leaf_kw_per_node"].reindex(catalog.index).fillna(0.0)
    busy_kw = catalog["node_kw"] * (1.0 - catalog["idle_frac"])
    quarters = pd.RangeIndex(scenario.horizon.quarters, name="quarter")
    grid = pd.MultiIndex.from_product([quarters, sites.index, catalog.index], names=["quarter", "site", "sku"])
    site_of, sku_of = grid.get_level_values("site"), grid.get_level_values("sku")
    kwh_per_it_kw = kwh_per_it_kw_quarter(sites["pue"]).reindex(site_of).to_numpy()
    usd_per_kwh = charged_usd_per_kwh(sites).reindex(site_of).to_numpy()
    t_per_kwh = tco2_per_kwh(sites["gco2_per_kwh"]).reindex(site_of).to_numpy()

    def labelled(values: np.ndarray, name: str) -> pd.Series:
        return pd.Series(values, index=grid, name=name)

    kwh_idle = idle_kw.reindex(sku_of).to_numpy() * kwh_per_it_kw
    kwh_busy = busy_kw.reindex(sku_of).to_numpy() * kwh_per_it_kw
    return CostParameters(
        capex_mode=finance.capex_mode,
        depreciation_quarters=depreciation_quarters,
        depreciation_usd_per_node_quarter=(price / depreciation_quarters).rename("depreciation_usd_per_node_quarter"),
        capex_usd_per_node_ordered=price.rename("capex_usd_per_node_ordered"),
        maintenance_usd_per_node_quarter=(catalog["maint_frac_per_year"] * price / QUARTERS_PER_YEAR)
        .rename("maintenance_usd_per_node_quarter"),
        rent_usd_per_node_quarter=rent.rename("rent_usd_per_node_quarter"),
        it_kw_per_idle_node=idle_kw.rename("it_kw_per_idle_node"),
        it_kw_per_busy_node=busy_kw.rename("it_kw_per_busy_node"),
        kwh_per_idle_node=labelled(kwh_idle, "kwh_per_idle_node"),
        kwh_per_busy_node=labelled(kwh_busy, "kwh_per_busy_node"),
        energy_usd_per_idle_node=labelled(kwh_idle * usd_per_kwh, "energy_usd_per_idle_node"),
        energy_usd_per_busy_node=labelled(kwh_busy * usd_per_kwh, "energy_usd_per_busy_node"),
        carbon_t_per_idle_node=labelled(kwh_idle * t_per_kwh, "carbon_t_per_idle_node"),
        carbon_t_per_busy_node=labelled(kwh_busy * t_per_kwh, "carbon_t_per_busy_node"),
        carbon_usd_per_t=float(finance.carbon_usd_per_t),
        unmet_usd_per_unit=float(finance.unmet_usd_per_unit),
        unfinished_training_usd=None if finance.unfinished_training_usd is None
        else float(finance.unfinished_training_usd),
        discount_factor=discount_factors(finance.discount_rate, scenario.horizon.quarters),
    )


@dataclass(frozen=True)
class FacilityCosts:
    """Per-unit prices and capacities of the facility build-out options (docs/datacenter-2026.md), by option.

    Priced like nodes: a unit built costs price_usd in its build quarter in cash mode (the capex_usd line), or
    price_usd / (life_years × 4) per quarter in service in depreciation mode (the depreciation_usd line); so
    PLAN.json keeps its cost lines, and a scenario without options is priced exactly as before.
      capex_usd_per_unit                  price_usd per unit built
      depreciation_quarters               life_years × 4, unrounded (as for nodes)
      depreciation_usd_per_unit_quarter   price_usd / depreciation_quarters per unit in service
      kw_per_unit                         power_mw × 1,000 added to the site's power cap per unit in service
      racks_per_unit                      racks added to the site per unit in service
      site                                the owned site each option builds at
      lead_quarters                       quarters from the build decision to the first quarter in service
    """

    capex_usd_per_unit: pd.Series
    depreciation_quarters: pd.Series
    depreciation_usd_per_unit_quarter: pd.Series
    kw_per_unit: pd.Series
    racks_per_unit: pd.Series
    site: pd.Series
    lead_quarters: pd.Series


def build_facility_costs(options: pd.DataFrame) -> FacilityCosts:
    """The scenario's `facility_options` (by option) as per-unit prices and capacities (see FacilityCosts)."""
    from models.units import KW_PER_MW

    options = options.rename_axis("option")
    price = options["price_usd"].astype(float)
    quarters = money.depreciation_quarters(options["life_years"])
    return FacilityCosts(
        capex_usd_per_unit=price.rename("capex_usd_per_unit"),
        depreciation_quarters=quarters,
        depreciation_usd_per_unit_quarter=(price / quarters).rename("depreciation_usd_per_unit_quarter"),
        kw_per_unit=(options["power_mw"].astype(float) * KW_PER_MW).rename("kw_per_unit"),
        racks_per_unit=options["racks"].astype(float).rename("racks_per_unit"),
        site=options["site"].rename("site"),
        lead_quarters=options["lead_quarters"].astype(int).rename("lead_quarters"),
    )


@dataclass(frozen=True)
class ContractCosts:
    """Committed capacity (docs/datacenter-2026.md), by contract: a block is min_nodes nodes of the contract's SKU at
    its cloud site, in service for term_quarters from sign quarter + lead_quarters, paid whether used or not:
      usd_per_block_quarter   min_nodes × gpus_per_node × usd_per_gpu_hour × 2,190 h, into the rent_usd line
      nodes_per_block         min_nodes
      site, sku               where the nodes are and what they are
    """

    usd_per_block_quarter: pd.Series
    nodes_per_block: pd.Series
    site: pd.Series
    sku: pd.Series
    lead_quarters: pd.Series
    term_quarters: pd.Series


def build_contract_costs(contracts: pd.DataFrame, catalog: pd.DataFrame) -> ContractCosts:
    """The scenario's `contracts` (by contract) as per-block prices (see ContractCosts)."""
    contracts = contracts.rename_axis("contract")
    gpus = catalog["gpus_per_node"].reindex(contracts["sku"]).to_numpy(dtype=float)
    per_block = contracts["min_nodes"].astype(float) * gpus * contracts["usd_per_gpu_hour"].astype(float) \
        * HOURS_PER_QUARTER
    return ContractCosts(
        usd_per_block_quarter=per_block.rename("usd_per_block_quarter"),
        nodes_per_block=contracts["min_nodes"].astype(float).rename("nodes_per_block"),
        site=contracts["site"].rename("site"),
        sku=contracts["sku"].rename("sku"),
        lead_quarters=contracts["lead_quarters"].astype(int).rename("lead_quarters"),
        term_quarters=contracts["term_quarters"].astype(int).rename("term_quarters"),
    )


@dataclass(frozen=True)
class FabricCosts:
    """The cluster fabric an owned node brings (docs/datacenter-2026.md "Fabric and storage"), by sku of the fabric
    table. Priced like the node itself, into the network_usd line:
      network_usd_per_node_ordered     leaf_usd_per_node per node ordered (cash mode, in the order quarter)
      network_usd_per_node_quarter     leaf_usd_per_node / (life_years × 4) per owned node in service, fleet
                                       included (depreciation mode; the node's own divisor, unrounded)
      spine_usd_per_node_quarter       spine_usd_per_node / (life_years × 4) per busy node-equivalent of a training
                                       run spanning scalable units (its min_nodes, or its busy node-equivalents
                                       that quarter, above nodes_per_su), at owned sites, either mode (the spine is
                                       a shared layer: a run uses its share while it spans SUs)
      leaf_kw_per_node                 IT kW of a node's leaf share, always on (in CostParameters' idle draw)
      spine_kw_per_node                IT kW per busy node-equivalent of a spanning run (owned sites)
      nodes_per_su                     nodes of one scalable unit
    Rented and contracted nodes pay no fabric $ and no spine (the provider's network is in the rent) but draw their
    leaf kW (their carbon counts, as their own draw's does).
    """

    network_usd_per_node_ordered: pd.Series
    network_usd_per_node_quarter: pd.Series
    spine_usd_per_node_quarter: pd.Series
    leaf_kw_per_node: pd.Series
    spine_kw_per_node: pd.Series
    nodes_per_su: pd.Series


def build_fabric_costs(fabric: pd.DataFrame, catalog: pd.DataFrame) -> FabricCosts:
    """The scenario's `fabric` table (by sku) as per-node prices and kW (see FabricCosts)."""
    fabric = fabric.rename_axis("sku")
    quarters = money.depreciation_quarters(catalog["life_years"].reindex(fabric.index))
    leaf = fabric["leaf_usd_per_node"].astype(float)
    return FabricCosts(
        network_usd_per_node_ordered=leaf.rename("network_usd_per_node_ordered"),
        network_usd_per_node_quarter=(leaf / quarters).rename("network_usd_per_node_quarter"),
        spine_usd_per_node_quarter=(fabric["spine_usd_per_node"].astype(float) / quarters)
        .rename("spine_usd_per_node_quarter"),
        leaf_kw_per_node=fabric["leaf_kw_per_node"].astype(float).rename("leaf_kw_per_node"),
        spine_kw_per_node=fabric["spine_kw_per_node"].astype(float).rename("spine_kw_per_node"),
        nodes_per_su=fabric["nodes_per_su"].astype(int).rename("nodes_per_su"),
    )


def spans_scalable_units(min_nodes, nodes_per_su):
    """Whether a training run needs the spine: its minimum footprint (min_nodes, from memory and parallelism) is
    more than one scalable unit. 40 nodes on 32-node SUs: yes; 32: no (it is scheduled inside one SU)."""
    return min_nodes > nodes_per_su


@dataclass(frozen=True)
class StorageCosts:
    """Storage (docs/datacenter-2026.md "Fabric and storage"): a workload's storage_tb is held where it runs, for
    the quarters it runs, in proportion to its share there: an inference service's share at a site is the tokens/s
    it serves there ÷ its demand that quarter; a training run's is 1 at its pool's site in each quarter it works.
      usd_per_tb_quarter   by site: storage_usd_per_tb_quarter (0 where empty), into the storage_usd line
      kw_per_tb            by site: storage_kw_per_pb / 1,000 (0 where empty), IT kW: × PUE against the power cap
                           at owned sites, energy paid at owned sites, carbon everywhere (like a node's draw)
      storage_tb           by workload, those with storage_tb > 0 only
    """

    usd_per_tb_quarter: pd.Series
    kw_per_tb: pd.Series
    storage_tb: pd.Series


TB_PER_PB = 1_000.0


def build_storage_costs(scenario: Scenario) -> StorageCosts | None:
    """The scenario's storage columns as prices (see StorageCosts); None when no workload states storage_tb > 0
    or no site prices it or gives its power (then the program is the one without storage)."""
    workloads, sites = scenario.workloads, scenario.sites
    if "storage_tb" not in workloads.columns:
        return None
    tb = workloads["storage_tb"].astype(float)
    tb = tb[tb > 0].rename("storage_tb").rename_axis("workload")
    usd = (sites["storage_usd_per_tb_quarter"] if "storage_usd_per_tb_quarter" in sites.columns
           else pd.Series(np.nan, index=sites.index)).astype(float).fillna(0.0)
    kw = (sites["storage_kw_per_pb"] if "storage_kw_per_pb" in sites.columns
          else pd.Series(np.nan, index=sites.index)).astype(float).fillna(0.0) / TB_PER_PB
    if tb.empty or not ((usd > 0) | (kw > 0)).any():
        return None
    return StorageCosts(usd_per_tb_quarter=usd.rename("usd_per_tb_quarter").rename_axis("site"),
                        kw_per_tb=kw.rename("kw_per_tb").rename_axis("site"), storage_tb=tb)


def site_energy_rates(sites: pd.DataFrame) -> pd.DataFrame:
    """By site, what one IT kW held for a quarter costs: kwh (pue × 2,190 h), usd (that × the charged price: 0 at
    cloud sites) and carbon_t (that × gCO2/kWh / 10^6): the rates fabric and storage kW are priced at."""
    kwh = kwh_per_it_kw_quarter(sites["pue"].astype(float))
    return pd.DataFrame({"kwh": kwh, "usd": kwh * charged_usd_per_kwh(sites),
                         "carbon_t": kwh * tco2_per_kwh(sites["gco2_per_kwh"].astype(float))}).rename_axis("site")


@dataclass(frozen=True)
class SpotCosts:
    """Spot capacity for preemptible training (docs/datacenter-2026.md "Spot"), by sku of the SKUs offered on spot.
    Recourse like on-demand rent: no commitment, no capex; paid per node-hour rented, into the rent_usd line.
      usd_per_node_hour    spot_usd_per_gpu_hour × gpus_per_node
      work_per_node_hour   spot_availability × a[k]: the hours of work one rented spot node-hour delivers, the
                           share left by preemptions times the SKU's availability under failures (models/failures.py;
                           1 without failure columns). The Young/Daly checkpoint loss is in the run's node_hours
                           already (models/performance.py), as for owned and rented nodes.
      it_kw_per_node       node_kw: a rented spot node draws full power for every hour it is rented (its kWh and
                           tCO2 at the cloud site's rates; no energy $, which is in the price)
    """

    usd_per_node_hour: pd.Series
    work_per_node_hour: pd.Series
    it_kw_per_node: pd.Series


def build_spot_costs(catalog: pd.DataFrame) -> SpotCosts:
    """The catalog's spot columns as per-node-hour prices (see SpotCosts), for the SKUs with a spot price."""
    price = pd.to_numeric(catalog["spot_usd_per_gpu_hour"], errors="coerce").dropna()
    catalog = catalog.loc[price.index].rename_axis("sku")
    share = pd.to_numeric(catalog["spot_availability"], errors="coerce").astype(float) * availability(catalog)
    return SpotCosts(usd_per_node_hour=(price * catalog["gpus_per_node"]).astype(float)
                     .rename("usd_per_node_hour").rename_axis("sku"),
                     work_per_node_hour=share.rename("work_per_node_hour"),
                     it_kw_per_node=catalog["node_kw"].astype(float).rename("it_kw_per_node"))
