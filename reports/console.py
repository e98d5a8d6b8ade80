"""PLAN.json → the tables `planner plan`, `compare`, `sweep` and `explain` print on stdout (docs/console.md).

Every figure is read from the document (or the catalog's `gpus_per_node`), never recomputed: the order table is
PLAN.json's `purchases`, the cost table its `costs` lines × discount factors (they add up to `objective_usd`),
an explanation its `why` and `duals`. Text from the inputs (site, SKU, workload names) goes through `printable`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from models.cost_parameters import PENALTY_LINES_USD, SPEND_LINES_USD
from models.quarters import parse_quarter

NO_GPUS = None  # a SKU missing from the catalog given: its GPU count is not known, shown as "?"


def printable(text) -> str:
    """Control characters of an input name escaped (as planner/tables.py does), so a name cannot redraw the
    terminal."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


def render_table(headers: Sequence[str], rows: Sequence[Sequence], right: Sequence[bool]) -> list[str]:
    """Fixed-width columns, two spaces apart; numbers (right=True) right-aligned."""
    cells = [[printable(h) for h in headers]] + [[printable(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for row in cells:
        parts = [c.rjust(w) if r else c.ljust(w) for c, w, r in zip(row, widths, right)]
        lines.append("  " + "  ".join(parts).rstrip())
    return lines


def _gpus(nodes: float, sku: str, gpus_per_node: Mapping[str, float]) -> float | None:
    per_node = gpus_per_node.get(sku, NO_GPUS)
    return None if per_node is None else float(nodes) * float(per_node)


def _count(value: float | None) -> str:
    if value is None:
        return "?"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


# --- the plan -----------------------------------------------------------------------------------------------

ORDER_HEADERS = ("#", "quarter", "site", "SKU", "nodes", "GPUs", "in service", "capex $")
RENTAL_HEADERS = ("quarter", "site", "SKU", "nodes", "GPUs", "rent $")
COST_HEADERS = ("cost line", "kind", "discounted $", "share")


def order_rows(document: dict, gpus_per_node: Mapping[str, float]) -> list[dict]:
    """PLAN.json's purchases, numbered from 1 in their order there (the number `planner explain` takes)."""
    return [{"number": i, "quarter": p["quarter"], "site": p["site"], "sku": p["sku"], "nodes": p["nodes"],
             "gpus": _gpus(p["nodes"], p["sku"], gpus_per_node), "in_service": p["in_service"],
             "capex_usd": p["capex_usd"]}
            for i, p in enumerate(document["purchases"], start=1)]


def rental_rows(document: dict, gpus_per_node: Mapping[str, float]) -> list[dict]:
    return [{"quarter": r["quarter"], "site": r["site"], "sku": r["sku"], "nodes": r["nodes"],
             "gpus": _gpus(r["nodes"], r["sku"], gpus_per_node), "rent_usd": r["rent_usd"]}
            for r in document["rentals"]]


def discounted_cost_lines(document: dict) -> list[dict]:
    """Each $ cost line of PLAN.json summed over quarters × the quarter's discount factor, with its kind
    (spend or penalty) and share of the objective; the lines add up to `objective_usd`."""
    objective = document["objective_usd"]
    rows = []
    for line in document["cost_lines_usd"]:
        usd = sum(row[line] * row["discount_factor"] for row in document["costs"])
        kind = "penalty" if line in PENALTY_LINES_USD else "spend" if line in SPEND_LINES_USD else "other"
        rows.append({"line": line, "kind": kind, "discounted_usd": usd,
                     "share": usd / objective if objective else 0.0})
    return rows


def plan_tables(document: dict, gpus_per_node: Mapping[str, float]) -> list[str]:
    """The orders, the rentals, spend against penalties, then the warnings: what `planner plan` prints."""
    lines = []
    orders = order_rows(document, gpus_per_node)
    if orders:
        total_gpus = None if any(o["gpus"] is None for o in orders) else sum(o["gpus"] for o in orders)
        lines.append(f"orders ({len(orders)}; `planner explain PLAN.json N` says why order N is made):")
        rows = [(o["number"], o["quarter"], o["site"], o["sku"], _count(o["nodes"]), _count(o["gpus"]),
                 o["in_service"], f"{o['capex_usd']:,.0f}") for o in orders]
        # No node total: a 72-GPU rack and an 8-GPU server are both "one node"; GPUs and dollars add up.
        rows.append(("", "total", "", "", "", _count(total_gpus), "", f"{sum(o['capex_usd'] for o in orders):,.0f}"))
        lines += render_table(ORDER_HEADERS, rows, (True, False, False, False, True, True, False, True))
    else:
        lines.append("orders: none")
    rentals = rental_rows(document, gpus_per_node)
    if rentals:
        lines.append(f"rentals ({len(rentals)}):")
        rows = [(r["quarter"], r["site"], r["sku"], _count(r["nodes"]), _count(r["gpus"]), f"{r['rent_usd']:,.0f}")
                for r in rentals]
        lines += render_table(RENTAL_HEADERS, rows, (False, False, False, True, True, True))
    else:
        lines.append("rentals: none")
    lines.append("spend vs penalties (discounted $, the objective's units):")
    costs = discounted_cost_lines(document)
    rows = [(c["line"], c["kind"], f"{c['discounted_usd']:,.0f}", f"{c['share']:.1%}") for c in costs]
    rows += [("spend", "", f"{document['discounted_spend_usd']:,.0f}", ""),
             ("penalties", "", f"{document['discounted_penalty_usd']:,.0f}", ""),
             ("objective", "", f"{document['objective_usd']:,.0f}", "")]
    lines += render_table(COST_HEADERS, rows, (False, False, True, True))
    warnings = document["warnings"]
    lines.append(f"warnings ({len(warnings)}):" if warnings else "warnings: none")
    lines += [f"  warning: {printable(w['message'])}" for w in warnings]
    return lines


# --- one order's reasons ---------------------------------------------------------------------------------------

def find_order(document: dict, order: str) -> int:
    """The position in `purchases` of ORDER: its number in the order table (1, 2, …) or QUARTER/SITE/SKU.
    ValueError naming what is there when there is no such order."""
    purchases = document["purchases"]
    text = str(order).strip()
    if text.isdigit():
        number = int(text)
        if 1 <= number <= len(purchases):
            return number - 1
        raise ValueError(f"order {number} does not exist: the plan has {len(purchases)} orders (1–{len(purchases)})")
    parts = text.split("/")
    if len(parts) == 3:
        for i, p in enumerate(purchases):
            if (p["quarter"].upper(), p["site"], p["sku"]) == (parts[0].upper(), parts[1], parts[2]):
                return i
    listed = ", ".join(f"{p['quarter']}/{p['site']}/{p['sku']}" for p in purchases) or "none"
    raise ValueError(f"no order {printable(text)!r}: give its number or QUARTER/SITE/SKU (orders: {listed})")


def explain_order(document: dict, position: int, gpus_per_node: Mapping[str, float] | None = None) -> list[str]:
    """Why order `position` of `purchases` is made, from what PLAN.json already holds: the work its nodes serve
    (`why`: its share of its pool's placed work), the caps priced around the plan at its site and the budget
    (`duals`: power and racks in the quarters it is in service, the budget up to its order quarter), and the
    marginal $ of the demand it serves (`duals.demand_usd_per_unit` while it is in service)."""
    order = document["purchases"][position]
    why = next((w for w in document["why"] if (w["quarter"], w["site"], w["sku"], w["nodes"])
                == (order["quarter"], order["site"], order["sku"], order["nodes"])), None)
    gpus = _gpus(order["nodes"], order["sku"], gpus_per_node or {})
    gpu_text = f" ({_count(gpus)} GPUs)" if gpus is not None else ""
    lines = [f"order {position + 1}: {_count(order['nodes'])} × {order['sku']}{gpu_text} at {order['site']}, "
             f"ordered {order['quarter']}, in service from {order['in_service']}, capex ${order['capex_usd']:,.0f}"]
    serves = (why or {}).get("serves") or []
    total = sum(s["node_equivalent_quarters"] for s in serves)
    if serves:
        lines.append("its nodes serve (node-equivalent-quarters, its share of the pool's placed work):")
        rows = [(s["workload"], f"{s['node_equivalent_quarters']:,.2f}",
                 f"{s['node_equivalent_quarters'] / total:.1%}" if total else "") for s in serves]
        lines += render_table(("workload", "node-eq-quarters", "share"), rows, (False, True, True))
    else:
        lines.append("its nodes serve no placed work in the horizon (bought for after it, or for headroom)")
    since = parse_quarter(order["in_service"])
    ordered = parse_quarter(order["quarter"])
    duals = document.get("duals") or {}
    caps = []
    for key, label, value, per in (("power_usd_per_mw", "power cap", "usd_per_mw", "per MW"),
                                   ("racks_usd_per_rack", "racks", "usd_per_rack", "per rack")):
        for row in duals.get(key) or []:
            if row.get("site") == order["site"] and parse_quarter(row["quarter"]) >= since:
                caps.append(f"{label} at {order['site']} in {row['quarter']}: ${row[value]:,.2f} {per}")
    for row in duals.get("budget_usd_per_usd") or []:
        if parse_quarter(row["quarter"]) == ordered:  # the budget of the quarter it is paid in
            caps.append(f"purchase budget in {row['quarter']}: ${row['usd_per_usd']:,.4f} per $")
    lines.append("caps that bind around it (shadow prices, discounted $ saved per unit more):"
                 if caps else "no power, rack or budget cap binds at its site while it serves: it is bought "
                              "because it is the cheapest way to serve the work above")
    lines += [f"  {cap}" for cap in caps]
    served = {s["workload"] for s in serves}
    demand = [row for row in duals.get("demand_usd_per_unit") or []
              if row["workload"] in served and parse_quarter(row["quarter"]) >= since]
    if demand:
        lines.append("marginal cost of the demand it serves while in service (discounted $ per tokens/s per "
                     "quarter, highest quarter):")
        best: dict[str, dict] = {}
        for row in demand:
            if row["workload"] not in best or row["usd_per_unit"] > best[row["workload"]]["usd_per_unit"]:
                best[row["workload"]] = row
        rows = [(w, r["quarter"], f"{r['usd_per_unit']:,.4f}")
                for w, r in sorted(best.items(), key=lambda item: -item[1]["usd_per_unit"])]
        lines += render_table(("workload", "quarter", "$ per tokens/s"), rows, (False, False, True))
    return lines


# --- compare and sweep: against the first ---------------------------------------------------------------------

def nodes_by_pool(document: dict, gpus_per_node: Mapping[str, float]) -> dict[tuple[str, str], tuple[float, float | None]]:
    """(SKU, site) → (nodes ordered, GPUs ordered) over the horizon."""
    out: dict[tuple[str, str], list] = {}
    for p in document["purchases"]:
        nodes, gpus = out.setdefault((p["sku"], p["site"]), [0.0, 0.0])
        per = _gpus(p["nodes"], p["sku"], gpus_per_node)
        out[(p["sku"], p["site"])] = [nodes + p["nodes"], None if per is None or gpus is None else gpus + per]
    return {key: (value[0], value[1]) for key, value in out.items()}


def against_first(first: dict, first_gpus: Mapping[str, float], document: dict,
                  gpus: Mapping[str, float]) -> dict:
    """The TCO delta (objective − the first's) and, per SKU × site where they differ, the nodes and GPUs ordered
    in each and the difference (+: this one orders more). compare.json / sweep.json carry it as `against_first`."""
    mine, theirs = nodes_by_pool(document, gpus), nodes_by_pool(first, first_gpus)
    orders = []
    for sku, site in sorted(set(mine) | set(theirs)):
        nodes, gpu_count = mine.get((sku, site), (0.0, 0.0))
        first_nodes, first_gpu_count = theirs.get((sku, site), (0.0, 0.0))
        if nodes == first_nodes:
            continue
        delta_gpus = None if gpu_count is None or first_gpu_count is None else gpu_count - first_gpu_count
        orders.append({"sku": sku, "site": site, "first_nodes": first_nodes, "nodes": nodes,
                       "delta_nodes": nodes - first_nodes, "first_gpus": first_gpu_count, "gpus": gpu_count,
                       "delta_gpus": delta_gpus})
    return {"tco_delta_usd": document["objective_usd"] - first["objective_usd"], "order_deltas": orders}


def delta_lines(label: str, first_label: str, delta: dict) -> list[str]:
    """`label`'s TCO delta and order deltas against the first scenario, as `compare` / `sweep` print them."""
    lines = [f"{printable(label)} against {printable(first_label)}: TCO {delta['tco_delta_usd']:+,.0f} $"]
    if not delta["order_deltas"]:
        lines.append("  same orders (SKU × site)")
        return lines
    rows = [(d["sku"], d["site"], _count(d["first_nodes"]), _count(d["nodes"]), _signed(d["delta_nodes"]),
             _count(d["first_gpus"]), _count(d["gpus"]), _signed(d["delta_gpus"])) for d in delta["order_deltas"]]
    lines += render_table(("SKU", "site", "nodes first", "nodes", "Δ nodes", "GPUs first", "GPUs", "Δ GPUs"), rows,
                          (False, False, True, True, True, True, True, True))
    return lines


def _signed(value: float | None) -> str:
    if value is None:
        return "?"
    return f"{value:+,.0f}" if float(value).is_integer() else f"{value:+,.2f}"
