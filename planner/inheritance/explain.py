"""What a scenario's chain changes, for `planner validate --show`: the files read, then every change against the
root base in the order made (keys, replaced tables row by row, each override's effect), each named by who made it.
"""

from __future__ import annotations

from models.errors import InputError
from models.scenario import TABLE_KEYS
from planner import schema as S
from planner.inheritance.edit import EMPTY, TABLE_SCHEMAS, edit_table, row_keys
from planner.inheritance.resolution import NOT_SET, SCALAR_KEYS, Resolution, Step, TableSource
from planner.tables import RawTable, printable

MAX_SHOWN_ROWS = 200  # changed rows listed per replaced table by `validate --show`, then "... and N more"


def describe(resolution: Resolution) -> list[str]:
    """`validate --show`: the files read, then every change against the root base, indented."""
    found = changes(resolution)
    root = resolution.chain[0][1]
    return ([printable("files, base first: " + " <- ".join(label for _, label in resolution.chain)),
             printable(f"changes against {root}:" if found else f"no changes against {root}")]
            + [f"  {line}" for line in found])


def changes(resolution: Resolution) -> list[str]:
    """Every change against the root base in the order made, each prefixed by who made it: keys, replaced tables
    row by row, and each override's effect (`high.yaml overrides: catalog b200-x8 lead_quarters: 2 -> 3`,
    `--set: demand: every tokens_per_s x 1.3 (90 rows)`)."""
    sources: dict[str, object] = {}
    current: dict[str, RawTable | None] = {}

    def table(role: str) -> RawTable | None:
        if role not in current:
            source = sources.get(role)
            current[role] = _try_read(source) if isinstance(source, TableSource) else None
        return current[role]

    found: list[str] = []
    for step in resolution.steps:
        if step.override is not None:
            raw = table(step.key)
            if raw is None:
                continue
            edit = edit_table(step.key, raw, [step.override], resolution.config.get("start"))
            current[step.key] = edit.raw
            found.extend(f"{step.by}: {change}" for change in edit.changes)
        elif step.key in TABLE_KEYS:
            before = table(step.key) if not step.base else None
            sources[step.key] = step.after
            current.pop(step.key, None)
            if not step.base:
                head, *rows = _table_change(step, before, table(step.key))
                found.extend([f"{step.by}: {head}", *rows])
        elif not step.base and step.key != "name":  # the name is each file's own, not inherited
            found.extend(f"{step.by}: {line}" for line in _key_change(step.key, step.before, step.after))
    return [printable(line) for line in found]


def _try_read(source: TableSource) -> RawTable | None:
    try:
        return source.read()
    except InputError:
        return None


def _key_change(key: str, before, after) -> list[str]:
    if isinstance(before, dict) or isinstance(after, dict):  # a whole section replaced: key by key
        before = before if isinstance(before, dict) else {}
        after = after if isinstance(after, dict) else {}
        return [line for name in dict.fromkeys([*before, *after])
                for line in _key_change(f"{key}.{name}", before.get(name, NOT_SET), after.get(name, NOT_SET))]
    before = NOT_SET if before is None and key not in SCALAR_KEYS else before
    return [] if before == after else [f"{key}: {_shown(before)} -> {_shown(after)}"]


def _shown(value) -> str:
    if isinstance(value, TableSource):
        return value.label
    return NOT_SET if value is None else str(value)


def _table_change(step: Step, before: RawTable | None, after: RawTable | None) -> list[str]:
    """`demand: a.csv -> b.csv (3 rows changed, 1 added, 0 removed)` and the changed rows."""
    head = f"{step.key}: {_shown(step.before)} -> {_shown(step.after)}"
    if isinstance(step.after, TableSource) and after is None:
        return [head + " (cannot be read)"]
    if before is None or after is None:
        return [head]
    schema = TABLE_SCHEMAS[step.key]
    old, new = _rows_by_key(before, schema), _rows_by_key(after, schema)
    if old is None or new is None:
        return [head]
    rows: list[str] = []
    changed = 0
    for key in dict.fromkeys([*old, *new]):
        if key not in new:
            rows.append(f"{step.key} {key}: removed")
        elif key not in old:
            rows.append(f"{step.key} {key}: added (" + ", ".join(f"{c} {v}" for c, v in new[key].items() if v) + ")")
        else:
            cells = [f"{step.key} {key} {column}: {old[key].get(column) or EMPTY} -> {value or EMPTY}"
                     for column, value in new[key].items() if not _same(old[key].get(column, ""), value)]
            changed += bool(cells)
            rows.extend(cells)
    added, removed = len(new.keys() - old.keys()), len(old.keys() - new.keys())
    shown = rows[:MAX_SHOWN_ROWS] + ([f"... and {len(rows) - MAX_SHOWN_ROWS:,} more"] if len(rows) > MAX_SHOWN_ROWS
                                     else [])
    return [f"{head} ({changed:,} rows changed, {added:,} added, {removed:,} removed)"] + [f"  {r}" for r in shown]


def _rows_by_key(raw: RawTable, schema: S.TableSchema) -> dict[str, dict[str, str]] | None:
    keys = row_keys(raw.frame, schema)
    if keys is None:
        return None
    columns = [c for c in schema.names if c in raw.frame.columns and c not in schema.key]
    values = raw.frame[columns].to_dict("records")
    return dict(zip(keys, values))


def _same(before: str, after: str) -> bool:
    """Equal cells, `0.10` and `0.1` included."""
    if before == after:
        return True
    try:
        return float(before) == float(after)
    except ValueError:
        return False
