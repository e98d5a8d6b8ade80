"""Cross-table checks: references between tables, horizon bounds, and whether every workload can run somewhere.

Single-table checks (types, ranges, headers, duplicates) live with the schemas in `schema.py`; these need
several tables at once. Each check_* returns problems instead of raising, so all of them are reported together.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from models.errors import Problem
from models.money import facility_kw, in_service_quarter
from models.performance import estimate_performance
from models.quarters import Horizon
from models.scenario import Scenario
from models.sets import facility_headroom, rack_fit
from models.units import HOURS_PER_YEAR, KW_PER_MW
from planner.tables import RawTable


def check_references(tables: dict[str, pd.DataFrame], raws: dict[str, RawTable],
                     horizon: Horizon) -> list[Problem]:
    problems: list[Problem] = []
    skus = set(tables["catalog"]["sku"].dropna())
    sites = tables["sites"]
    site_kind = dict(zip(sites["site"], sites["kind"]))
    workload_kind = dict(zip(tables["workloads"]["workload"], tables["workloads"]["kind"]))

    def add(role: str, idx, column: str, message: str) -> None:
        raw = raws.get(role)
        problems.append(Problem(raw.label if raw else role, message,
                                row=raw.row_number(idx) if raw else None, column=column))

    for idx, row in sites.iterrows():
        if row["kind"] == "owned":
            for column in ("power_mw", "usd_per_kwh", "racks"):
                if pd.isna(row[column]):
                    add("sites", idx, column, f"an owned site needs {column}")

    for idx, row in tables["fleet"].iterrows():
        if row["site"] is not None and row["site"] not in site_kind:
            add("fleet", idx, "site", f"unknown site '{row['site']}'")
        elif site_kind.get(row["site"]) == "cloud":
            add("fleet", idx, "site", f"site '{row['site']}' is a cloud site: a fleet is owned hardware")
        if row["sku"] is not None and row["sku"] not in skus:
            add("fleet", idx, "sku", f"unknown sku '{row['sku']}'")
        if not math.isnan(row["installed"]) and row["installed"] >= horizon.quarters:
            add("fleet", idx, "installed", f"{horizon.label(int(row['installed']))} is after the horizon "
                                           f"({horizon.labels[0]}..{horizon.labels[-1]})")

    for idx, row in tables["workloads"].iterrows():
        if row["kind"] == "training":
            for column in ("tokens_b", "start", "deadline"):
                if pd.isna(row[column]):
                    add("workloads", idx, column, f"a training run needs {column}")
            for column in ("start", "deadline"):
                if not pd.isna(row[column]) and not horizon.contains(int(row[column])):
                    add("workloads", idx, column,
                        f"{horizon.label(int(row[column]))} is outside the horizon "
                        f"({horizon.labels[0]}..{horizon.labels[-1]})")
            if not pd.isna(row["start"]) and not pd.isna(row["deadline"]) and row["deadline"] < row["start"]:
                add("workloads", idx, "deadline", f"deadline {horizon.label(int(row['deadline']))} is before "
                                                  f"start {horizon.label(int(row['start']))}")
        elif row["kind"] == "inference":
            for column, message in _request_problems(row):
                add("workloads", idx, column, message)
        for column, message in _architecture_problems(row):
            add("workloads", idx, column, message)
        for site in row["sites"] or ():
            if site not in site_kind:
                add("workloads", idx, "sites", f"unknown site '{site}'")

    for idx, row in tables["demand"].iterrows():
        kind = workload_kind.get(row["workload"])
        if row["workload"] is not None and kind is None:
            add("demand", idx, "workload", f"unknown workload '{row['workload']}'")
        elif kind == "training":
            add("demand", idx, "workload", f"'{row['workload']}' is a training run: demand is for inference")
        if not math.isnan(row["quarter"]) and not horizon.contains(int(row["quarter"])):
            add("demand", idx, "quarter", f"{horizon.label(int(row['quarter']))} is outside the horizon "
                                          f"({horizon.labels[0]}..{horizon.labels[-1]})")

    problems.extend(_facility_problems(tables, raws, site_kind))
    problems.extend(_contract_problems(tables, raws, site_kind, skus, horizon))
    problems.extend(_fabric_problems(tables, raws, skus))
    problems.extend(_fleet_fit_problems(tables, raws))
    problems.extend(_failure_problems(tables, raws))
    problems.extend(_spot_problems(tables, raws))

    for idx, row in tables["throughput"].iterrows():
        if row["workload"] is not None and row["workload"] not in workload_kind:
            add("throughput", idx, "workload", f"unknown workload '{row['workload']}'")
        if row["sku"] is not None and row["sku"] not in skus:
            add("throughput", idx, "sku", f"unknown sku '{row['sku']}'")
    return problems


def _facility_problems(tables: dict[str, pd.DataFrame], raws: dict[str, RawTable],
                       site_kind: dict) -> list[Problem]:
    """Each build-out option names an owned site and adds something (racks or power_mw)."""
    frame = tables.get("facility_options")
    raw = raws.get("facility_options")
    if frame is None or raw is None or frame.empty:
        return []
    problems = []
    for idx, row in frame.iterrows():
        where = {"row": raw.row_number(idx)}
        if row["site"] is not None and row["site"] not in site_kind:
            problems.append(Problem(raw.label, f"unknown site '{row['site']}'", column="site", **where))
        elif site_kind.get(row["site"]) == "cloud":
            problems.append(Problem(raw.label, f"site '{row['site']}' is a cloud site: a facility option builds "
                                               "at an owned site", column="site", **where))
        racks, power = row["racks"], row["power_mw"]
        if (pd.isna(racks) or racks == 0) and (pd.isna(power) or power == 0):
            problems.append(Problem(raw.label, "a facility option must add racks or power_mw (both are 0 or empty)",
                                    column="racks", **where))
    return problems


def _fabric_problems(tables: dict[str, pd.DataFrame], raws: dict[str, RawTable], skus: set) -> list[Problem]:
    """Each fabric row names a SKU of the catalog (docs/datacenter-2026.md "Fabric and storage")."""
    frame, raw = tables.get("fabric"), raws.get("fabric")
    if frame is None or raw is None or frame.empty:
        return []
    return [Problem(raw.label, f"fabric for unknown sku '{row['sku']}'", row=raw.row_number(idx), column="sku")
            for idx, row in frame.iterrows() if row["sku"] is not None and row["sku"] not in skus]


def _failure_problems(tables: dict[str, pd.DataFrame], raws: dict[str, RawTable]) -> list[Problem]:
    """A SKU's failures leave it some availability: afr_per_node_year · repair_hours < 8,760 (models/failures.py)."""
    catalog, raw = tables["catalog"], raws.get("catalog")
    if raw is None or "afr_per_node_year" not in catalog or "repair_hours" not in catalog:
        return []
    down_hours = catalog["afr_per_node_year"].fillna(0.0) * catalog["repair_hours"].fillna(0.0)
    return [Problem(raw.label, f"afr_per_node_year {catalog.at[idx, 'afr_per_node_year']:g} x repair_hours "
                               f"{catalog.at[idx, 'repair_hours']:g} = {down_hours[idx]:,.0f} h of repair a year: "
                               f"the node would never be in service (availability 1 - afr x repair_hours / 8,760 "
                               f"must be > 0)", row=raw.row_number(idx), column="repair_hours")
            for idx in catalog.index[down_hours >= HOURS_PER_YEAR]]


def _spot_problems(tables: dict[str, pd.DataFrame], raws: dict[str, RawTable]) -> list[Problem]:
    """Spot (docs/datacenter-2026.md "Spot"): a SKU's spot price and availability come together, and only a training
    run may be preemptible (an inference service cannot lose its requests to a preemption)."""
    problems = []
    catalog, raw = tables["catalog"], raws.get("catalog")
    if raw is not None and "spot_usd_per_gpu_hour" in catalog and "spot_availability" in catalog:
        price, share = catalog["spot_usd_per_gpu_hour"], catalog["spot_availability"]
        for idx in catalog.index[price.notna() & share.isna()]:
            problems.append(Problem(raw.label, "a spot price needs spot_availability (the share of a spot node-hour "
                                               "that delivers work, in (0, 1])", row=raw.row_number(idx),
                                    column="spot_availability"))
        for idx in catalog.index[price.isna() & share.notna()]:
            problems.append(Problem(raw.label, "spot_availability without a spot_usd_per_gpu_hour",
                                    row=raw.row_number(idx), column="spot_usd_per_gpu_hour"))
    workloads, raw = tables["workloads"], raws.get("workloads")
    if raw is not None and "preemptible" in workloads:
        wrong = (workloads["preemptible"] == "true") & (workloads["kind"] != "training")
        for idx in workloads.index[wrong]:
            problems.append(Problem(raw.label, f"'{workloads.at[idx, 'workload']}' is {workloads.at[idx, 'kind']}: "
                                               "only a training run (checkpointing) may be preemptible",
                                    row=raw.row_number(idx), column="preemptible"))
    return problems


def _contract_problems(tables: dict[str, pd.DataFrame], raws: dict[str, RawTable], site_kind: dict, skus: set,
                       horizon: Horizon) -> list[Problem]:
    """Each committed-capacity offer names a cloud site and a known SKU, and its term fits the horizon at least once
    (a signing is only planned when its whole term lies inside the horizon: docs/datacenter-2026.md)."""
    frame, raw = tables.get("contracts"), raws.get("contracts")
    if frame is None or raw is None or frame.empty:
        return []
    problems = []
    for idx, row in frame.iterrows():
        where = {"row": raw.row_number(idx)}
        if row["site"] is not None and row["site"] not in site_kind:
            problems.append(Problem(raw.label, f"unknown site '{row['site']}'", column="site", **where))
        elif site_kind.get(row["site"]) == "owned":
            problems.append(Problem(raw.label, f"site '{row['site']}' is an owned site: a contract is capacity at a "
                                               "cloud site", column="site", **where))
        if row["sku"] is not None and row["sku"] not in skus:
            problems.append(Problem(raw.label, f"contract for unknown sku '{row['sku']}'", column="sku", **where))
        start = in_service_quarter(max(row["available_from"], 0),
                                   0 if pd.isna(row["lead_quarters"]) else row["lead_quarters"])
        if not pd.isna(start) and not pd.isna(row["term_quarters"]) and start + row["term_quarters"] > horizon.quarters:
            problems.append(Problem(raw.label, f"a {row['term_quarters']:g}-quarter term from "
                                               f"{horizon.label(int(start))} ends after the horizon "
                                               f"({horizon.labels[-1]}): no signing could be planned",
                                    column="term_quarters", **where))
    return problems


def _fleet_fit_problems(tables: dict[str, pd.DataFrame], raws: dict[str, RawTable]) -> list[Problem]:
    """Existing nodes stand only where their rack fits (cooling, rack density): docs/datacenter-2026.md."""
    from models.sets import rack_fit

    fleet, raw = tables["fleet"], raws.get("fleet")
    sites = tables["sites"].dropna(subset=["site"]).drop_duplicates("site").set_index("site")
    catalog = tables["catalog"].dropna(subset=["sku"]).drop_duplicates("sku").set_index("sku")
    if fleet.empty or raw is None or catalog["node_kw"].isna().any() or catalog["nodes_per_rack"].isna().any():
        return []
    known = fleet["site"].isin(sites.index) & fleet["sku"].isin(catalog.index)
    rows = fleet[known]
    fits, _ = rack_fit(sites, catalog, rows["site"], rows["sku"])
    problems = []
    for (idx, row), ok in zip(rows.iterrows(), fits):
        if ok:
            continue
        site, sku = sites.loc[row["site"]], catalog.loc[row["sku"]]
        if sku.get("cooling_required") == "liquid" and site.get("cooling") not in ("liquid", None) \
                and not pd.isna(site.get("cooling")):
            why = f"{row['sku']} needs liquid cooling and site {row['site']} is {site['cooling']}-cooled"
        else:
            why = (f"a {row['sku']} node draws {sku['node_kw']:g} kW, above site {row['site']}'s "
                   f"max_kw_per_rack {site['max_kw_per_rack']:g}")
        problems.append(Problem(raw.label, f"the existing fleet cannot stand there: {why}",
                                row=raw.row_number(idx), column="sku"))
    return problems


def _request_problems(row: pd.Series) -> list[tuple[str, str]]:
    """An inference service's KV length: context_tokens, or prompt_tokens + output_tokens (both), not both forms;
    a TTFT SLO needs the prompt."""
    given = {column: not pd.isna(row.get(column, np.nan))
             for column in ("context_tokens", "prompt_tokens", "output_tokens", "max_ttft_s", "ttft_quantile",
                            "output_tokens_cv")}
    problems = []
    if given["prompt_tokens"] != given["output_tokens"]:
        have, missing = (("prompt_tokens", "output_tokens") if given["prompt_tokens"]
                         else ("output_tokens", "prompt_tokens"))
        problems.append((missing, f"{missing} is needed with {have} (mean tokens per request: both or neither)"))
    phases = given["prompt_tokens"] and given["output_tokens"]
    if phases and given["context_tokens"]:
        problems.append(("context_tokens", ("give context_tokens or prompt_tokens and output_tokens, not both "
                                            "(the KV length is then prompt + output)")))
    if not given["context_tokens"] and not given["prompt_tokens"] and not given["output_tokens"]:
        problems.append(("context_tokens", "an inference service needs context_tokens"))
    if given["max_ttft_s"] and not given["prompt_tokens"]:
        problems.append(("max_ttft_s", "a time-to-first-token SLO needs prompt_tokens and output_tokens"))
    if given["ttft_quantile"] and not given["max_ttft_s"]:
        problems.append(("ttft_quantile", "a TTFT quantile needs max_ttft_s, the time it bounds"))
    if given["output_tokens_cv"] and not given["ttft_quantile"]:
        problems.append(("output_tokens_cv", "output_tokens_cv only shapes the queue of a ttft_quantile SLO"))
    return problems


def _architecture_problems(row: pd.Series) -> list[tuple[str, str]]:
    """Active parameters within the total; a KV size given either as values per token or as its shape."""
    problems = []
    active, total = row.get("active_params_b", np.nan), row["params_b"]
    if not pd.isna(active) and not pd.isna(total) and active > total:
        problems.append(("active_params_b", (f"active_params_b {active:g} exceeds params_b {total:g} "
                                             "(active parameters are a subset of all parameters)")))
    shape = [c for c in ("layers", "kv_heads", "head_dim") if not pd.isna(row.get(c, np.nan))]
    if shape and not pd.isna(row.get("kv_values_per_token", np.nan)):
        problems.append(("kv_values_per_token", "give kv_values_per_token or the attention shape ("
                                                + ", ".join(shape) + "), not both"))
    if row["kind"] == "training":
        for column in ("prompt_tokens", "output_tokens", "max_ttft_s", "ttft_quantile", "output_tokens_cv"):
            if not pd.isna(row.get(column, np.nan)):
                problems.append((column, f"{column} applies to inference services only"))
    return problems


def check_runnable(scenario: Scenario, raws: dict[str, RawTable]) -> list[Problem]:
    """Every workload needs an eligible SKU (memory, SLO) on some allowed site that can host it."""
    performance = estimate_performance(scenario.catalog, scenario.workloads, scenario.throughput)
    raw = raws["workloads"]
    row_of = {name: raw.row_number(idx) for idx, name in raw.frame["workload"].items()}
    hosting = _hosting(scenario, performance)
    hosted = set(hosting.loc[hosting["ok"], "workload"])
    problems: list[Problem] = []
    for workload, group in performance.groupby(level="workload", sort=False):
        if workload in hosted:  # the common case, decided for every workload at once
            continue
        eligible = group[group["eligible"]]
        if eligible.empty:
            reasons = "; ".join(f"{sku}: {reason}" for (_, sku), reason in group["reason"].items())
            problems.append(Problem(raw.label, f"no SKU can run '{workload}' ({reasons})",
                                    row=row_of.get(workload), column="workload"))
            continue
        w = scenario.workloads.loc[workload]
        last_quarter = int(w["deadline"]) if w["kind"] == "training" else scenario.horizon.quarters - 1
        pairs = hosting[hosting["workload"] == workload]
        why_not = [_why_site_cannot_host(pairs[pairs["site"] == site], site, scenario.horizon.label(last_quarter))
                   for site in scenario.allowed_sites(workload)]
        problems.append(Problem(raw.label, f"no allowed site can host '{workload}' ("
                                + "; ".join(why_not) + ")", row=row_of.get(workload), column="sites"))
    return problems


def _hosting(scenario: Scenario, performance: pd.DataFrame) -> pd.DataFrame:
    """The hosting rules, once, for every (workload, allowed site, eligible SKU) at once (at 1,000 workloads a
    per-site loop took 8–16 s): a cloud site hosts a SKU it rents; an owned site one that can be in service by the
    workload's last quarter (or is in its fleet) and whose minimum nodes fit its power cap at full load and its
    racks. One row per pair, in the eligible SKUs' order, with `ok` and each rule's figures."""
    eligible = performance[performance["eligible"]].reset_index()[["workload", "sku", "min_nodes"]]
    workloads = scenario.workloads
    allowed = pd.DataFrame({"workload": workloads.index,
                            "site": [scenario.allowed_sites(w) for w in workloads.index]}).explode("site")
    pairs = eligible.merge(allowed, on="workload")
    if pairs.empty:
        return pairs.assign(ok=np.zeros(0, dtype=bool))
    site = scenario.sites.loc[pairs["site"]]
    sku = scenario.catalog.loc[pairs["sku"]]
    kind = workloads.loc[pairs["workload"]]
    last_quarter = np.where(kind["kind"].to_numpy() == "training",
                            kind["deadline"].to_numpy(dtype=float, na_value=np.nan), scenario.horizon.quarters - 1)
    earliest = in_service_quarter(np.maximum(sku["available_from"].to_numpy(dtype=float), 0),
                                  sku["lead_quarters"].to_numpy(dtype=float))
    fleet_pairs = pd.MultiIndex.from_frame(scenario.fleet[["site", "sku"]]) if len(scenario.fleet) else None
    has_fleet = (pd.MultiIndex.from_frame(pairs[["site", "sku"]]).isin(fleet_pairs) if fleet_pairs is not None
                 else np.zeros(len(pairs), dtype=bool))
    min_nodes = pairs["min_nodes"].to_numpy(dtype=float)
    full_kw = facility_kw(sku["node_kw"].to_numpy(dtype=float), site["pue"].to_numpy(dtype=float), nodes=min_nodes)
    extra_kw, extra_racks = facility_headroom(scenario, site)  # the most the site's build-out options add
    fits, per_rack = rack_fit(scenario.sites, scenario.catalog, pairs["site"], pairs["sku"])  # cooling, density
    cap_kw = site["power_mw"].to_numpy(dtype=float) * KW_PER_MW + extra_kw
    racks_needed = min_nodes / np.maximum(per_rack, 1.0)
    racks = site["racks"].to_numpy(dtype=float) + extra_racks
    in_time = (earliest <= last_quarter) | has_fleet
    power_ok = full_kw <= cap_kw
    owned_ok = in_time & power_ok & (racks_needed <= racks)
    cloud = site["kind"].to_numpy() == "cloud"
    rentable = sku["rent_usd_per_gpu_hour"].notna().to_numpy()
    if "spot_usd_per_gpu_hour" in sku and "preemptible" in kind:  # docs/datacenter-2026.md "Spot"
        rentable = rentable | (sku["spot_usd_per_gpu_hour"].notna().to_numpy()
                               & (kind["preemptible"].to_numpy(dtype=object) == "true"))
    return pairs.assign(cloud=cloud, rentable=rentable, fits=fits, in_time=in_time, power_ok=power_ok,
                        full_kw=full_kw, cap_kw=cap_kw, racks_needed=racks_needed, racks=racks,
                        ok=fits & np.where(cloud, rentable, owned_ok))


def _why_site_cannot_host(pairs: pd.DataFrame, site: str, last_quarter: str) -> str:
    """Why no eligible SKU can be placed at `site` by quarter `last_quarter`, in words, from `_hosting`'s rows of
    one workload at that site (none of them ok): the first rule each SKU breaks."""
    reasons = []
    for pair in pairs.itertuples():
        if not pair.fits:
            reasons.append(f"{pair.sku}'s rack does not fit (cooling or max_kw_per_rack)")
        elif pair.cloud:
            reasons.append(f"{pair.sku} not rentable")
        elif not pair.in_time:
            reasons.append(f"{pair.sku} cannot be in service by {last_quarter}")
        elif not pair.power_ok:
            reasons.append(f"{pair.sku} needs {pair.full_kw:,.0f} kW at full load, cap {pair.cap_kw:,.0f} kW")
        else:
            reasons.append(f"{pair.sku} needs {pair.racks_needed:g} racks, site has {pair.racks:g}")
    return f"site {site}: " + ", ".join(reasons)


def check_fleet_fits(scenario: Scenario, raws: dict[str, RawTable]) -> list[Problem]:
    """The existing fleet alone must fit each owned site's power cap (full load × PUE) and racks in every quarter
    it is in service; otherwise no plan exists and the cause is the fleet table, not a workload."""
    from models.sets import life_quarters

    fleet, raw = scenario.fleet, raws.get("fleet")
    if fleet.empty or raw is None:
        return []
    life = life_quarters(scenario.catalog)
    grid = fleet.reset_index(drop=True).rename_axis("row").reset_index().merge(
        pd.DataFrame({"quarter": range(scenario.horizon.quarters)}), how="cross")
    live = (grid["quarter"] >= grid["installed"]) & (grid["quarter"] < grid["installed"]
                                                     + life.reindex(grid["sku"]).to_numpy())
    grid = grid[live.to_numpy()]
    sku = scenario.catalog.reindex(grid["sku"])
    site = scenario.sites.reindex(grid["site"])
    _, per_rack = rack_fit(scenario.sites, scenario.catalog, grid["site"], grid["sku"])  # at the hall's density
    per_rack = np.where(per_rack >= 1, per_rack, sku["nodes_per_rack"].to_numpy())  # unfitting: its own problem
    grid = grid.assign(kw=facility_kw(sku["node_kw"].to_numpy(), site["pue"].to_numpy(),
                                      nodes=grid["nodes"].to_numpy()),
                       racks=grid["nodes"].to_numpy() / per_rack)
    used = grid.groupby(["site", "quarter"])[["kw", "racks"]].sum().reset_index()
    problems = []
    row_of = {name: raw.row_number(idx) for idx, name in raw.frame["site"].items()}
    for name, rows in used.groupby("site", sort=False):
        cap_kw = scenario.sites.at[name, "power_mw"] * KW_PER_MW
        racks = scenario.sites.at[name, "racks"]
        over = rows[(rows["kw"] > cap_kw * (1 + 1e-9)) | (rows["racks"] > racks * (1 + 1e-9))]
        if over.empty:
            continue
        first = over.iloc[0]
        when = scenario.horizon.label(int(first["quarter"]))
        if first["kw"] > cap_kw * (1 + 1e-9):
            message = (f"site {name}'s existing fleet needs {first['kw']:,.1f} kW at full load in {when}, above "
                       f"the site's {cap_kw:,.1f} kW power cap")
        else:
            message = f"site {name}'s existing fleet fills {first['racks']:,.2f} racks in {when}, site has {racks:,.0f}"
        problems.append(Problem(raw.label, message, row=row_of.get(name), column="nodes"))
    return problems
