"""Command line of numbann.trace.

    python -m numbann.trace view run.npz [-o run.html] [--max-mb 64] [--explain-steps 100]

writes the trace viewer page of a saved trace (default: the trace's name
with ``.html``).
"""
import argparse
import os
import sys

from ..io import NumbannFileError


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m numbann.trace",
                                     description="Tools for saved numbann traces.")
    commands = parser.add_subparsers(dest="command", required=True)
    v = commands.add_parser("view", help="write a self-contained HTML page to step "
                                         "through a trace in a browser")
    v.add_argument("trace", help="a trace saved with Trace.save (.npz)")
    v.add_argument("-o", "--output", help="the page to write (default: TRACE with .html)")
    v.add_argument("--max-mb", type=float, default=64,
                   help="keep every k-th step's arrays when all would exceed this (MiB)")
    v.add_argument("--explain-steps", default="100",
                   help="how many steps carry chain-rule explanations (a number or 'all')")
    v.add_argument("--title", help="the page's title")
    args = parser.parse_args(argv)

    from .view import view
    out = args.output or os.path.splitext(args.trace)[0] + ".html"
    explain_steps = args.explain_steps if args.explain_steps == "all" else _count(
        parser, args.explain_steps)
    try:
        view(args.trace, out, max_mb=args.max_mb, explain_steps=explain_steps,
             title=args.title or os.path.basename(args.trace))
    except (OSError, NumbannFileError, ValueError, TypeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {out} ({os.path.getsize(out) / 2**20:.2f} MiB)")
    return 0


def _count(parser, text):
    try:
        return int(text)
    except ValueError:
        parser.error(f"--explain-steps takes a number or 'all', got {text!r}")


if __name__ == "__main__":
    sys.exit(main())
