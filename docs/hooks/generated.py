"""MkDocs hook: the pages made from the sources at build time, never copied,
and the examples' fences read as Python.

- The command line's reference, from the parser the `camlens` command itself
  uses (`camlens.cli.parser.build_parser`), in place of `CLI_MARKER` in `cli.md`.
- `benchmarks/README.md` and `benchmarks/results/*.md`, the benchmark scripts'
  description and their committed figures, at the same paths in the site (so the
  links between them hold), and `changelog.md` from `CHANGELOG.md`.
- A ```` ```python run ```` fence (an example `tests/e2e/test_readme.py` runs)
  is shown as a plain ```` ```python ```` block: Markdown's fences take no
  second word.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[2]
CLI_MARKER = "<!-- the command line's reference, generated from its parser -->"
RUN_FENCE = re.compile(r"^(\s*```+)python run[ \t]*$", re.MULTILINE)


def on_files(files, config):
    sources = [ROOT / "benchmarks" / "README.md"]
    sources += sorted((ROOT / "benchmarks" / "results").glob("*.md"))
    for path in sources:
        uri = path.relative_to(ROOT).as_posix()
        files.append(File.generated(config, uri, content=path.read_text(encoding="utf-8")))
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    files.append(File.generated(config, "changelog.md", content=changelog))
    return files


def on_page_markdown(markdown, page, config, files):
    markdown = RUN_FENCE.sub(r"\1python", markdown)
    if page.file.src_uri != "cli.md":
        return markdown
    if CLI_MARKER not in markdown:
        raise ValueError(f"cli.md must hold the marker {CLI_MARKER!r}")
    return markdown.replace(CLI_MARKER, cli_reference())


def cli_reference() -> str:
    """One section per command: its usage, and a table of its arguments."""
    from camlens.cli.parser import build_parser

    parser = build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    helps = {choice.dest: choice.help for choice in commands._choices_actions}
    sections = []
    for name, command in commands.choices.items():
        rows = [_row(action) for action in command._actions if action.help != argparse.SUPPRESS]
        sections.append(
            f"### camlens {name}\n\n{helps.get(name, '').capitalize()}.\n\n"
            f"```text\n{command.format_usage().strip()}\n```\n\n"
            "| argument | what it is | default |\n|---|---|---|\n" + "\n".join(rows)
        )
    return "\n\n".join(sections) + "\n"


def _row(action: argparse.Action) -> str:
    if action.option_strings:
        shown = ", ".join(f"`{flag}`" for flag in action.option_strings)
        if action.nargs != 0:
            shown += f" `{action.metavar or action.dest.upper()}`"
    else:
        shown = f"`{action.metavar or action.dest.upper()}`"
        shown += " ..." if action.nargs in ("+", "*") else ""
    text = (action.help or "").replace("|", "\\|")
    if action.choices and not isinstance(action, argparse._SubParsersAction):
        text += " (one of " + ", ".join(f"`{c}`" for c in action.choices) + ")"
    default = action.default
    if action.required or default in (None, False, [], argparse.SUPPRESS) or action.nargs == 0:
        shown_default = ""
    else:
        shown_default = f"`{', '.join(default) if isinstance(default, list) else default}`"
    return f"| {shown} | {text} | {shown_default} |"
