"""What every lesson shares: the command line, the output folder, and
printing numbers so that a reader (and the tests) can find them.

    python trace/<lesson>.py [--out DIR] [--quick]

Figures go to DIR (default ``out/<lesson>/`` under the current directory).
Numbers are printed as ``name = value`` lines with 12 significant digits and
matrices as ``name (r x c):`` followed by r rows.
"""
import argparse
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


class Lesson:
    """Parses the command line, makes the output folder, prints and saves."""

    def __init__(self, name, title, argv=None):
        parser = argparse.ArgumentParser(description=title)
        parser.add_argument("--out", default=os.path.join("out", name),
                            help=f"folder for the figures and data (default out/{name}/)")
        parser.add_argument("--quick", action="store_true",
                            help="small sizes, a few seconds (what CI runs)")
        self.args = parser.parse_args(argv)
        self.name, self.quick = name, self.args.quick
        self.out = os.path.abspath(self.args.out)
        os.makedirs(self.out, exist_ok=True)
        self.started = time.perf_counter()
        self.figures = []
        rule = "=" * len(title)
        print(f"{title}\n{rule}")

    def section(self, text):
        print(f"\n--- {text} ---")

    def say(self, text=""):
        print(text)

    def value(self, key, x, note=""):
        """A number the reader (and the tests) can find: ``key = value``."""
        x = float(x)
        print(f"{key} = {x:.12g}" + (f"   {note}" if note else ""))
        return x

    def matrix(self, name, M, note=""):
        """A matrix as ``name (r x c):`` and its rows (course notation)."""
        M = np.atleast_2d(np.asarray(M, dtype=np.float64))
        print(f"{name} ({M.shape[0]} x {M.shape[1]}):" + (f"   {note}" if note else ""))
        for row in M:
            print("    " + "  ".join(f"{v:15.12g}" for v in row))
        return M

    def path(self, filename):
        return os.path.join(self.out, filename)

    def figure(self, fig, filename):
        """Save a figure into the output folder."""
        from numbann.trace.plots import save
        path = save(fig, self.path(filename))
        self.figures.append(path)
        print(f"[figure] {path}")
        return path

    def done(self):
        print(f"\nfigures in {self.out} ({len(self.figures)}), "
              f"{time.perf_counter() - self.started:.1f} s")


def check(condition, message):
    """Stop the lesson loudly if what it teaches did not happen."""
    if not condition:
        print(f"CHECK FAILED: {message}", file=sys.stderr)
        sys.exit(1)
