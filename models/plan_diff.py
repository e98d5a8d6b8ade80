"""What changed between two plans: orders added, cancelled and moved, the TCO delta by cost line, the inputs.

A quarterly review compares last quarter's PLAN.json with this quarter's. Both documents are read through their
declared fields (models/plan_schema.py), so the diff needs no scenario and no solver: it can compare plans whose
inputs have since been edited or deleted.

Conventions (docs/review.md):
- Orders are compared per (site, SKU, order quarter) in nodes. Within one (site, SKU), nodes that disappear
  from one quarter and appear in another are a *move* (earliest removed paired with earliest added, as many
  nodes as both sides have); what is left over is *added* (new > old) or *cancelled* (new < old).
- The TCO delta of a cost line is the difference of its discounted sums, Σ_q line_q × discount_factor_q, each
  plan over its own horizon; the line deltas add up to the objective delta (both objectives are Σ discounted_usd).
- The largest changes come first: cost lines and order changes by absolute dollar size.
"""

from __future__ import annotations

from dataclasses import dataclass

from models.quarters import parse_quarter

ORDER_KEY = ("site", "sku", "quarter")


@dataclass(frozen=True)
class OrderChange:
    """One change of orders for a (site, SKU): kind is added, cancelled or moved."""

    kind: str
    site: str
    sku: str
    nodes: float
    old_quarter: str | None  # where the nodes were ordered before (None: added)
    new_quarter: str | None  # where they are ordered now (None: cancelled)
    capex_delta_usd: float  # new capex − old capex of these nodes (0 for a move at the same price)

    def as_record(self) -> dict:
        return {"kind": self.kind, "site": self.site, "sku": self.sku, "nodes": self.nodes,
                "old_quarter": self.old_quarter, "new_quarter": self.new_quarter,
                "capex_delta_usd": self.capex_delta_usd}


@dataclass(frozen=True)
class PlanDiff:
    old_objective_usd: float
    new_objective_usd: float
    cost_line_deltas_usd: dict[str, float]  # discounted, largest |delta| first
    order_changes: tuple[OrderChange, ...]  # largest |capex delta| (then nodes) first
    input_changes: tuple[str, ...]  # role: what changed, in words

    @property
    def objective_delta_usd(self) -> float:
        return self.new_objective_usd - self.old_objective_usd

    def as_document(self) -> dict:
        return {"old_objective_usd": self.old_objective_usd, "new_objective_usd": self.new_objective_usd,
                "objective_delta_usd": self.objective_delta_usd,
                "cost_line_deltas_usd": [{"line": line, "delta_usd": delta}
                                         for line, delta in self.cost_line_deltas_usd.items()],
                "order_changes": [change.as_record() for change in self.order_changes],
                "input_changes": list(self.input_changes)}


def discounted_cost_lines(plan: dict) -> dict[str, float]:
    """Each $ cost line's discounted sum over the plan's quarters (Σ_q line_q × discount_factor_q)."""
    lines = plan.get("cost_lines_usd") or []
    sums = dict.fromkeys(lines, 0.0)
    for row in plan["costs"]:
        for line in lines:
            sums[line] += float(row.get(line, 0.0)) * float(row["discount_factor"])
    return sums


def _orders_by_key(plan: dict) -> dict[tuple[str, str], dict[str, tuple[float, float]]]:
    """(site, sku) -> quarter -> (nodes, capex_usd), orders of one quarter added up."""
    orders: dict[tuple[str, str], dict[str, tuple[float, float]]] = {}
    for row in plan["purchases"]:
        quarters = orders.setdefault((row["site"], row["sku"]), {})
        nodes, capex = quarters.get(row["quarter"], (0.0, 0.0))
        quarters[row["quarter"]] = (nodes + float(row["nodes"]), capex + float(row["capex_usd"]))
    return orders


def _unit_price(quarters: dict[str, tuple[float, float]], quarter: str) -> float:
    nodes, capex = quarters.get(quarter, (0.0, 0.0))
    return capex / nodes if nodes else 0.0


def order_changes(old: dict, new: dict) -> list[OrderChange]:
    """Orders added, cancelled and moved between two plans (module docstring: the pairing rule)."""
    old_orders, new_orders = _orders_by_key(old), _orders_by_key(new)
    changes: list[OrderChange] = []
    for site, sku in sorted(set(old_orders) | set(new_orders)):
        before, after = old_orders.get((site, sku), {}), new_orders.get((site, sku), {})
        quarters = sorted(set(before) | set(after), key=parse_quarter)
        delta = {q: after.get(q, (0.0, 0.0))[0] - before.get(q, (0.0, 0.0))[0] for q in quarters}
        removed = [[q, -d] for q, d in delta.items() if d < 0]
        added = [[q, d] for q, d in delta.items() if d > 0]
        while removed and added:
            (from_q, left), (to_q, gained) = removed[0], added[0]
            moved = min(left, gained)
            capex = moved * (_unit_price(after, to_q) - _unit_price(before, from_q))
            changes.append(OrderChange("moved", site, sku, moved, from_q, to_q, capex))
            removed[0][1] -= moved
            added[0][1] -= moved
            removed = [pair for pair in removed if pair[1] > 0]
            added = [pair for pair in added if pair[1] > 0]
        changes += [OrderChange("cancelled", site, sku, nodes, q, None, -nodes * _unit_price(before, q))
                    for q, nodes in removed]
        changes += [OrderChange("added", site, sku, nodes, None, q, nodes * _unit_price(after, q))
                    for q, nodes in added]
    return sorted(changes, key=lambda c: (-abs(c.capex_delta_usd), -c.nodes, c.site, c.sku))


def input_changes(old: dict, new: dict) -> list[str]:
    """Which input files differ (by their recorded SHA-256, by role) and which overrides were added or dropped."""
    old_inputs, new_inputs = old.get("inputs", {}), new.get("inputs", {})
    old_hash, new_hash = old_inputs.get("sha256", {}), new_inputs.get("sha256", {})
    changes = []
    for role in list(old_hash) + [role for role in new_hash if role not in old_hash]:
        if role not in new_hash:
            changes.append(f"{role}: only in the old plan's inputs")
        elif role not in old_hash:
            changes.append(f"{role}: only in the new plan's inputs")
        elif old_hash[role] != new_hash[role]:
            changes.append(f"{role}: file changed (sha256 {old_hash[role][:12]}… → {new_hash[role][:12]}…)")

    def override_texts(inputs: dict) -> list[str]:
        return [f"{item['key']} = {item['value']!r} ({item.get('source', '?')})"
                for item in inputs.get("overrides") or []]

    before, after = override_texts(old_inputs), override_texts(new_inputs)
    changes += [f"override dropped: {text}" for text in before if text not in after]
    changes += [f"override added: {text}" for text in after if text not in before]
    return changes


def diff_plans(old: dict, new: dict) -> PlanDiff:
    """The whole diff of two PLAN.json documents (already checked against the schema)."""
    old_lines, new_lines = discounted_cost_lines(old), discounted_cost_lines(new)
    lines = list(old_lines) + [line for line in new_lines if line not in old_lines]
    deltas = {line: new_lines.get(line, 0.0) - old_lines.get(line, 0.0) for line in lines}
    ordered = dict(sorted(deltas.items(), key=lambda item: -abs(item[1])))
    return PlanDiff(float(old["objective_usd"]), float(new["objective_usd"]), ordered,
                    tuple(order_changes(old, new)), tuple(input_changes(old, new)))
