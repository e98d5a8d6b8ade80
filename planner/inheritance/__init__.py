"""Scenario inheritance and overrides, in three steps: `resolution.py` folds the `extends:` chain, the keys each
file replaces and the dotted-key overrides into one configuration; `edit.py` applies the overrides of table cells
to the raw tables; `explain.py` lists what changed (`planner validate --show`). Their public names, handed on."""

from planner.inheritance.edit import TableEdit, edit_table
from planner.inheritance.explain import changes, describe
from planner.inheritance.resolution import (
    SET_SOURCE,
    Override,
    Resolution,
    TableSource,
    attribute,
    parse_override_value,
    resolve,
    set_options,
)

__all__ = ["SET_SOURCE", "Override", "Resolution", "TableEdit", "TableSource", "attribute", "changes", "describe",
           "edit_table", "parse_override_value", "resolve", "set_options"]
