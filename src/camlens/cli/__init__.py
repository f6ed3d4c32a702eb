"""The command line: `camlens demo`, `explain`, `evaluate`, `audit`.

A mistake in the arguments or a bad file exits with status 2 and one line on
stderr naming the problem; output files are written whole or not at all.
"""

from __future__ import annotations

import sys

from .commands import UsageError, import_plugins
from .parser import build_parser
from .quiet import backend_logs_held, one_line, warnings_as_lines

EXIT_USAGE = 2

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = build_parser().parse_args(argv)
    with backend_logs_held(enabled=not args.verbose) as replay, warnings_as_lines(args.command):
        try:
            import_plugins(args.plugin)
            return args.run(args)
        except (UsageError, ValueError, TypeError, OSError, ImportError) as error:
            if isinstance(error, ImportError):
                replay()
            print(f"camlens {args.command}: error: {one_line(error)}", file=sys.stderr)
            return EXIT_USAGE
