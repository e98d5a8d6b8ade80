"""The scenario's YAML, read safely: PyYAML's safe loader with YAML 1.2 floats, duplicate keys refused with their
line, and the nesting depth, alias expansion and file size bounded, so a hostile file gives a message, not a hang.

One reader for every YAML text the planner takes: each scenario file of an `extends:` chain
(planner/inheritance/) and each value given on the command line (`--set KEY=VALUE`).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import yaml

from models.errors import YAML_SUFFIXES, InputError, Problem
from planner.tables import MAX_YAML_BYTES, check_input_file, decode_text

MAX_YAML_DEPTH = 50  # nesting levels; the example has 2
MAX_YAML_NODES = 10_000  # after alias expansion; the example has ~40 (bounds "billion laughs" alias bombs)


class _ScenarioLoader(yaml.SafeLoader):
    """Safe YAML with two fixes for hand-edited files: YAML 1.2 floats (`1.0e12`, `4e7`, which PyYAML's YAML 1.1
    rules read as text) and duplicate keys recorded (with their line) instead of silently keeping the last."""

    def __init__(self, stream, label: str):
        super().__init__(stream)
        self.label = label
        self.duplicates: list[tuple[str, int, int]] = []  # (key, line, first line)

    def compose_node(self, parent, index):
        """Refuse deep nesting early (a scenario is 3 levels deep; 5,000 brackets took 3 s to fail)."""
        self.depth = getattr(self, "depth", 0) + 1
        try:
            if self.depth > MAX_YAML_DEPTH:
                raise InputError(Problem(self.label, f"the YAML is nested more than {MAX_YAML_DEPTH} levels deep",
                                         row=self.peek_event().start_mark.line + 1))
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict = {}
            for key_node, _ in node.value:
                if isinstance(key_node, yaml.ScalarNode):
                    key = (key_node.tag, key_node.value)
                    line = key_node.start_mark.line + 1
                    if key in seen:
                        self.duplicates.append((key_node.value, line, seen[key]))
                    else:
                        seen[key] = line
        return super().construct_mapping(node, deep=deep)


_YAML12_FLOAT = re.compile(r"""^(?:[-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$""", re.X)
_ScenarioLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:float"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
# Added after the int resolver for each first character, so `4` stays an int and `4e7` becomes a float.
_ScenarioLoader.add_implicit_resolver("tag:yaml.org,2002:float", _YAML12_FLOAT, list("-+0123456789."))


def _expanded_nodes(root) -> int:
    """How many nodes the document has once every alias is expanded (memoised per node, so a
    "billion laughs" bomb is measured in microseconds instead of being built)."""
    sizes: dict[int, int] = {}
    order, stack = [], [root]
    while stack:  # iterative post-order: a deeply nested document does not hit the recursion limit
        node = stack.pop()
        if id(node) in sizes:
            continue
        sizes[id(node)] = 0
        order.append(node)
        children = ([n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode)
                    else node.value if isinstance(node, yaml.SequenceNode) else [])
        stack.extend(child for child in children if id(child) not in sizes)
    for node in reversed(order):
        children = ([n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode)
                    else node.value if isinstance(node, yaml.SequenceNode) else [])
        sizes[id(node)] = min(1 + sum(sizes[id(child)] for child in children), MAX_YAML_NODES + 1)
    return sizes[id(root)]


def read_scenario_yaml(path: Path, label: str) -> dict:
    """The mapping in scenario file `path` (messages name it `label`); InputError for a missing, oversized,
    non-UTF-8, malformed or non-mapping file."""
    check_input_file(path.absolute(), label, MAX_YAML_BYTES, noun="scenario file")
    config = load_yaml_text(decode_text(path.read_bytes(), label), label)
    if not isinstance(config, dict):
        raise InputError(Problem(label, "a scenario must be a YAML mapping of keys to values"))
    return config


def load_yaml_text(text: str, label: str):
    """The value a YAML text holds, read by the scenario's rules (None for an empty text)."""
    loader = None
    try:
        loader = _ScenarioLoader(text, label)  # the reader refuses control characters already here
        node = loader.get_single_node()
        if node is not None and _expanded_nodes(node) > MAX_YAML_NODES:
            raise InputError(Problem(label, f"the YAML expands to more than {MAX_YAML_NODES:,} values (aliases "
                                            "repeated inside aliases?); a scenario needs a few dozen"))
        value = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        row = mark.line + 1 if mark is not None else None
        raise InputError(Problem(label, f"not valid YAML: {getattr(exc, 'problem', None) or exc}", row=row)) \
            from None
    except RecursionError:
        raise InputError(Problem(label, "not valid YAML: nested too deeply")) from None
    finally:
        if loader is not None:
            loader.dispose()
    if loader.duplicates:
        raise InputError([Problem(label, f"duplicate key '{key}' (first given on line {first}); a key may be "
                                         "given once", row=line, column=key)
                          for key, line, first in loader.duplicates])
    return value


def key_lines(text: str, label: str) -> dict[str, int]:
    """{dotted key: line} of a scenario file's text: `demand`, `finance.discount_rate`, and an override's own
    dotted key under `overrides.` (`overrides.catalog.h100.price_usd`). Lines count from 1; {} for a text that is
    not a YAML mapping."""
    loader = _ScenarioLoader(text, label)
    try:
        root = loader.get_single_node()
    except yaml.YAMLError:
        return {}
    finally:
        loader.dispose()
    lines: dict[str, int] = {}
    stack = [("", root)] if isinstance(root, yaml.MappingNode) else []
    while stack:
        prefix, node = stack.pop()
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            dotted = prefix + key_node.value
            lines.setdefault(dotted, key_node.start_mark.line + 1)
            if isinstance(value_node, yaml.MappingNode) and prefix.count(".") < MAX_KEY_DEPTH:
                stack.append((dotted + ".", value_node))
    return lines


MAX_KEY_DEPTH = 2  # `overrides.KEY` and `section.key` are the deepest keys a scenario file has


def with_key_lines(problems: list[Problem], folder: Path) -> list[Problem]:
    """Each problem about a key of a scenario file (a YAML file, a key, no line yet) given the key's line: the
    file is its label, relative to `folder` (the scenario's). A key not found (a default, a --set) stays as it is."""
    cache: dict[str, dict[str, int]] = {}
    located = []
    for problem in problems:
        if problem.row is None and problem.column and problem.file.lower().endswith(YAML_SUFFIXES):
            if problem.file not in cache:
                cache[problem.file] = _file_key_lines(folder / problem.file, problem.file)
            lines = cache[problem.file]
            line = lines.get(problem.column, lines.get(problem.column.split(".")[0]))
            if line is not None:
                problem = dataclasses.replace(problem, row=line)
        located.append(problem)
    return located


def _file_key_lines(path: Path, label: str) -> dict[str, int]:
    try:
        check_input_file(path.absolute(), label, MAX_YAML_BYTES, noun="scenario file")
        return key_lines(decode_text(path.read_bytes(), label), label)
    except (InputError, OSError):
        return {}
