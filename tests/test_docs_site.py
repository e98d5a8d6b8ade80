"""The manual: mkdocs.yml + docs/ build into a site in strict mode (a broken link, anchor or nav entry fails),
its CLI reference is generated from the Click commands, its API pages from the docstrings, and the README stays
a short front page whose links land in the manual.

One build (about 10 s here) serves every check. mkdocs runs as `python -m mkdocs` from the repository root, so
the CLI and API pages show this working tree's code, not an installed copy.
"""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
import yaml

from planner.cli import main as cli

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
README_MAX_LINES = 200  # issue 22, item 5
BUILD_TIMEOUT_S = 600


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site built with --strict into a temporary folder (site/ itself is left alone)."""
    try:
        import mkdocs  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("mkdocs is not installed, but CI must build the manual (`make test` installs the docs extra)")
        pytest.skip("the docs extra is not installed here (`make test` installs it)")
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stdout}\n{done.stderr}"
    return out


def _text(page: Path, tag: str = " ") -> str:
    """A built page's visible text: tags replaced by `tag`, entities decoded, whitespace runs made one space."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", tag, page.read_text(encoding="utf-8"))).split())


def _nav_pages(nav) -> list[str]:
    """Every page file named in mkdocs.yml's nav, in order."""
    pages = []
    for entry in nav:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        pages += _nav_pages(value) if isinstance(value, list) else [value]
    return pages


def test_every_nav_page_is_built(site):
    """Each page of the nav exists in docs/ and became an HTML page (strict mode already refuses a nav entry
    without its file; this names them)."""
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    pages = _nav_pages(config["nav"])
    assert len(pages) >= 15
    for page in pages:
        assert (ROOT / "docs" / page).is_file(), page
        assert (site / page).with_suffix(".html").is_file(), page


def test_the_cli_reference_is_generated_from_the_click_commands(site):
    """Every command of the `planner` group, every option of each, and each option's help text are on the CLI
    page: it is the Click tree rendered, so a new option appears without anyone copying it."""
    text = _text(site / "cli.html")
    commands = cli.commands
    assert {"validate", "estimate", "plan", "evaluate", "compare", "sweep", "report", "verify"} <= set(commands)
    for name, command in commands.items():
        assert f"planner {name}" in text, name
        first_line = (command.help or "").strip().split("\n")[0]
        assert " ".join(first_line.split()) in text, (name, first_line)
        for param in command.params:
            if isinstance(param, click.Option):
                for flag in param.opts:
                    assert flag in text, (name, flag)
                if param.help:
                    assert " ".join(param.help.split())[:60] in text, (name, param.opts, param.help)


def test_the_api_pages_come_from_the_docstrings(site):
    """The Python API pages hold the entry points' and models' docstrings (mkdocstrings), so they cannot drift."""
    from models import formulation, performance
    from planner import pipeline, scenario

    checks = {"api/planner.html": [scenario.load_scenario, pipeline.build_plan, pipeline.plan_document],
              "api/models.html": [performance.estimate_performance, formulation]}
    for page, objects in checks.items():
        text = _text(site / page, tag="")  # `code` spans run into their words, as in the docstring
        for obj in objects:
            summary = " ".join(obj.__doc__.strip().split("\n")[0].replace("`", "").split())
            assert summary[:70] in text, (page, obj.__name__, summary)


def test_the_shipped_data_page_includes_data_readme(site):
    """docs/data.md includes data/README.md (a snippet, not a copy): its every source line is on the page."""
    text = _text(site / "data.html")
    source = (ROOT / "data" / "README.md").read_text(encoding="utf-8")
    table_rows = [line for line in source.splitlines() if line.startswith("| `")]
    assert table_rows
    for row in table_rows:
        file_name = row.split("`")[1]
        assert file_name in text, file_name


def test_the_readme_is_short_and_links_into_the_manual():
    """README.md: at most 200 lines, the two set-up commands verbatim, and every relative link it makes is a file
    of the repository (the docs pages it points to exist)."""
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= README_MAX_LINES, len(text.splitlines())
    assert "make demo" in text and "make test" in text
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    relative = [link for link in links if "://" not in link]
    assert len([link for link in relative if link.startswith("docs/")]) >= 8, relative
    for link in relative:
        assert (ROOT / link).exists(), link


def test_the_inputs_page_lists_every_column_of_the_schema():
    """docs/inputs.md's table of tables names, in its code spans, every column planner/schema.py parses: a column
    added to a table without a word in the manual fails here."""
    from planner import schema as S

    text = (ROOT / "docs" / "inputs.md").read_text(encoding="utf-8")
    for table in (S.CATALOG, S.SITES, S.FLEET, S.WORKLOADS, S.DEMAND, S.THROUGHPUT):
        row = next((line for line in text.splitlines() if re.match(rf"\| {table.name}( \(optional\))? \|", line)),
                   None)
        assert row, f"docs/inputs.md has no row for the {table.name} table"
        documented = set(re.findall(r"\w+", " ".join(re.findall(r"`([^`]*)`", row))))
        missing = [column.name for column in table.columns if column.name not in documented]
        assert not missing, f"docs/inputs.md, {table.name}: no mention of {missing}"


def test_the_readme_tour_uses_commands_and_options_that_exist():
    """Every `$ planner COMMAND …` line of the README's tour names a command of the group and only options that
    command has, so the tour cannot silently rot when an option is renamed."""
    lines = [line[2:].split() for line in README.read_text(encoding="utf-8").splitlines()
             if line.startswith("$ planner ")]
    assert len(lines) >= 6
    for words in lines:
        command = cli.commands.get(words[1])
        assert command is not None, words
        known = {flag for param in command.params if isinstance(param, click.Option)
                 for flag in (*param.opts, *param.secondary_opts)}
        used = {word.split("=")[0] for word in words[2:] if word.startswith("-")}
        assert used <= known, (words[1], sorted(used - known))
