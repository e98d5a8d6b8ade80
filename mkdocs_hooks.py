"""MkDocs hooks of the manual (mkdocs.yml `hooks:`): build-time only, not part of the planner package.

Click prints a help paragraph that starts with a `\\b` line as written, without rewrapping (the "Typical session"
of `planner --help`, the ranges of `planner generate --help`). mkdocs-click drops the `\\b` and lets Markdown run
the lines together into one paragraph; this hook renders such a paragraph as a preformatted block instead, so the
CLI page shows it as `--help` does.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator

import click
from mkdocs_click import _docs

NO_REWRAP = "\b"  # Click's marker: the paragraph it opens is printed as written


def help_markdown(help_string: str) -> Iterator[str]:
    """Markdown lines of a Click help text: `\\b` paragraphs fenced as text, the others as they are."""
    paragraph: list[str] = []
    for line in [*inspect.cleandoc(help_string).splitlines(), ""]:
        if line.strip():
            paragraph.append(line)
            continue
        if paragraph and paragraph[0].strip() == NO_REWRAP:
            yield from ["```text", *inspect.cleandoc("\n".join(paragraph[1:])).splitlines(), "```", ""]
        elif paragraph:
            yield from [*paragraph, ""]
        paragraph = []


def _make_description(ctx: click.Context, remove_ascii_art: bool = False) -> Iterator[str]:
    help_string = ctx.command.help or ctx.command.short_help
    if help_string:
        yield from help_markdown(help_string)


def on_startup(command, dirty) -> None:
    """Replace mkdocs-click's description renderer before any page is built."""
    _docs._make_description = _make_description
