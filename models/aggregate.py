"""Exact aggregation of interchangeable inference services, before the model is built.

Two services are interchangeable when they may run on the same pools at the same rates: the same eligible SKUs
with the same tokens/s per node and minimum nodes, and the same allowed sites. Then only their summed demand
matters to every constraint and cost (capacity sums node-equivalents over services, the unmet penalty is one
price per unit), so the model gets one set of placement variables per *class* instead of per service:

    busy[t,c,s,k] = Σ_{w ∈ c} busy[t,w,s,k],   demand[t,c] = Σ_{w ∈ c} demand[t,w]

and any plan of the aggregated model splits back into one of the full model with the same cost, each member
taking its share of the class's demand that quarter (share[t,w] = demand[t,w] / demand[t,c]):
busy[t,w,s,k] = share[t,w] · busy[t,c,s,k] and unmet[t,w] = share[t,w] · unmet[t,c], which serves
share · (served + unmet) = demand[t,w] exactly. A class is named after its first member, so every label the
solver sees is a real workload name. Training runs are never merged (each chooses its own pool).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.queueing import slo_services
from models.scenario import Scenario

NO_SHARE = 0.0  # a member's share of a class quarter with no demand at all (nothing is placed then)


@dataclass(frozen=True)
class ServiceClasses:
    """Which class each inference service belongs to, and its share of the class's demand by quarter."""

    class_of: pd.Series  # representative workload by member workload (inference only)
    share: pd.Series  # by (quarter, workload): member demand / class demand

    @property
    def merges_anything(self) -> bool:
        return bool((self.class_of.index != self.class_of.to_numpy()).any())

    @property
    def classes(self) -> int:
        return int(self.class_of.nunique())


def find_service_classes(scenario: Scenario, performance: pd.DataFrame, merge: bool = True) -> ServiceClasses:
    """Group inference services by what the model can tell apart: eligible pools, rates and allowed sites
    (`merge=False`: every service a class of its own)."""
    workloads = scenario.workloads
    services = workloads.index[workloads["kind"] == "inference"]
    eligible = performance.reset_index()
    eligible = eligible[eligible["eligible"] & eligible["workload"].isin(services)].sort_values(["workload", "sku"])
    # repr keeps every bit of a float, so two rates that print alike but differ never merge.
    rows = (eligible["sku"].astype(str) + ":" + eligible["tokens_per_s_per_node"].map(repr) + ":"
            + eligible["min_nodes"].map(repr))
    pools = rows.groupby(eligible["workload"].to_numpy()).agg("|".join)
    sites = pd.Series({w: ";".join(sorted(scenario.allowed_sites(w))) for w in services}, dtype=object)
    signature = (pools.reindex(services).fillna("") + "@" + sites.reindex(services)).rename("signature")
    # A TTFT quantile SLO is sized on the service's own queue (models/queueing.py): pooling two would change it.
    queued = services.isin(slo_services(scenario))
    signature[queued] = "slo:" + pd.Series(services[queued], index=services[queued])
    if not merge:
        signature = pd.Series(services, index=services, name="signature")
    class_of = signature.groupby(signature, sort=False).transform(lambda members: members.index[0])
    class_of = pd.Series(class_of.to_numpy(), index=pd.Index(services, name="workload"), name="class")

    demand = scenario.demand.groupby(["quarter", "workload"])["tokens_per_s"].sum()
    demand = demand[demand.index.get_level_values("workload").isin(services)]
    member_class = class_of.reindex(demand.index.get_level_values("workload")).to_numpy()
    class_total = demand.groupby([demand.index.get_level_values("quarter"), member_class]).transform("sum")
    share = pd.Series(np.divide(demand.to_numpy(), class_total.to_numpy(), out=np.full(len(demand), NO_SHARE),
                                where=class_total.to_numpy() > 0), index=demand.index, name="share")
    return ServiceClasses(class_of=class_of, share=share)


def aggregate_scenario(scenario: Scenario, performance: pd.DataFrame, classes: ServiceClasses):
    """The scenario and performance table the model is built from: one service per class, demand summed."""
    if not classes.merges_anything:
        return scenario, performance
    dropped = classes.class_of.index[classes.class_of.index != classes.class_of.to_numpy()]
    workloads = scenario.workloads.drop(index=dropped)
    demand = scenario.demand.copy()
    inference = demand["workload"].isin(classes.class_of.index)
    demand.loc[inference, "workload"] = classes.class_of.reindex(demand.loc[inference, "workload"]).to_numpy()
    demand = demand.groupby(["workload", "quarter"], as_index=False, sort=False)["tokens_per_s"].sum()
    throughput = scenario.throughput[~scenario.throughput["workload"].isin(dropped)]
    kept = ~performance.index.get_level_values("workload").isin(dropped)
    return (dataclasses.replace(scenario, workloads=workloads, demand=demand, throughput=throughput),
            performance[kept])


def expand_tables(tables: dict[str, pd.DataFrame], classes: ServiceClasses, horizon) -> dict[str, pd.DataFrame]:
    """Split the placement and unmet rows of each class back to its members, by their share of its demand."""
    if not classes.merges_anything:
        return tables
    expanded = dict(tables)
    for name, columns in (("placement", ("node_equivalents", "units")), ("unmet", ("units",))):
        expanded[name] = _split_rows(tables[name], columns, classes, horizon)
    return expanded


def expand_duals(records: list[dict], classes: ServiceClasses) -> list[dict]:
    """A class's demand row has one shadow price, which is every member's: repeat it per member."""
    members = classes.class_of.groupby(classes.class_of.to_numpy()).groups
    out = []
    for record in records:
        for member in members.get(record["workload"], [record["workload"]]):
            out.append({**record, "workload": member})
    return sorted(out, key=lambda r: (r["quarter"], r["workload"]))


def _split_rows(frame: pd.DataFrame, columns: tuple[str, ...], classes: ServiceClasses, horizon) -> pd.DataFrame:
    is_class = frame["workload"].isin(classes.class_of.to_numpy())
    kept, merged = frame[~is_class], frame[is_class]
    members = classes.class_of.rename("class").rename_axis("member").reset_index()
    split = merged.merge(members, left_on="workload", right_on="class").drop(columns=["workload", "class"]) \
        .rename(columns={"member": "workload"})
    quarter = [horizon.relative(q) for q in split["quarter"]]
    share = classes.share.reindex(pd.MultiIndex.from_arrays([quarter, split["workload"]])).fillna(NO_SHARE)
    for column in columns:
        split[column] = split[column].to_numpy() * share.to_numpy()
    split = split[split[columns[0]] > 0]
    keys = [c for c in ("quarter", "workload", "site", "sku") if c in frame.columns]
    order = {label: i for i, label in enumerate(horizon.labels)}
    out = pd.concat([kept, split[frame.columns]], ignore_index=True)
    out = out.assign(_q=out["quarter"].map(order)).sort_values(["_q"] + keys[1:]).drop(columns="_q")
    return out.reset_index(drop=True)
