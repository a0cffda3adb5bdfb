"""Run every lesson, time it, and optionally refresh the figures in docs/.

    python trace/run_all.py                 # all lessons: figures and output.txt in out/<lesson>/
    python trace/run_all.py --quick         # the small sizes CI uses
    python trace/run_all.py --docs          # also copy the PNGs to docs/img/lessons/ and
                                            # fill the numbers of docs/lessons.md
    python trace/run_all.py --only 03 07    # lessons whose file name starts so

The numbers quoted in docs/lessons.md are written there by this script, not
typed: a marker ``<!--v LESSON: KEY | SPEC -->text<!--/v-->`` is filled with
the value the lesson printed as ``KEY = value`` at its default size,
formatted by the Python format spec SPEC (``.4g``, ``.0f``, ``,.0f``).
``tests/test_lessons.py`` re-runs those lessons and compares.
"""
import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DOCS = os.path.join(os.path.dirname(HERE), "docs")
DOCS_IMG = os.path.join(DOCS, "img", "lessons")
DOCS_PAGE = os.path.join(DOCS, "lessons.md")
MAX_PNG = 100_000  # bytes: docs figures must stay well under this
MARKER = re.compile(r"<!--v (?P<lesson>\w+): (?P<key>.+?) \| (?P<spec>\S+) -->(?P<text>.*?)<!--/v-->")


def printed_value(stdout, key):
    """The number a lesson printed as ``key = value`` (None if it did not)."""
    m = re.search(r"^" + re.escape(key) + r" = (\S+)", stdout, re.M)
    return float(m.group(1)) if m else None


def fill_docs(outputs, path=DOCS_PAGE):
    """Fill the markers of ``path`` whose lesson is in ``outputs`` (name ->
    printed story); returns the markers whose key the lesson did not print."""
    with open(path) as f:
        page = f.read()
    missing = []

    def fill(m):
        if m["lesson"] not in outputs:
            return m.group(0)
        x = printed_value(outputs[m["lesson"]], m["key"])
        if x is None:
            missing.append(f"{m['lesson']}: {m['key']}")
            return m.group(0)
        return f"<!--v {m['lesson']}: {m['key']} | {m['spec']} -->{format(x, m['spec'])}<!--/v-->"

    page = MARKER.sub(fill, page)
    with open(path, "w") as f:
        f.write(page)
    return missing


def lessons():
    return sorted(p for p in glob.glob(os.path.join(HERE, "[0-9][0-9]_*.py")))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default="out", help="parent folder of the lessons' output folders")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--docs", action="store_true", help=f"copy the figures to {DOCS_IMG}")
    p.add_argument("--only", nargs="*", default=None)
    a = p.parse_args(argv)
    failed, times, outputs = [], {}, {}
    for path in lessons():
        name = os.path.basename(path)[:-3]
        if a.only and not any(name.startswith(o) for o in a.only):
            continue
        out = os.path.join(a.out, name)
        cmd = [sys.executable, path, "--out", out] + (["--quick"] if a.quick else [])
        started = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        times[name] = time.perf_counter() - started
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "output.txt"), "w") as f:   # the printed story
            f.write(proc.stdout)
        outputs[name] = proc.stdout
        status = "ok" if proc.returncode == 0 else f"FAILED ({proc.returncode})"
        print(f"{name:<32} {times[name]:6.1f} s  {status}")
        if proc.returncode:
            failed.append(name)
            print(proc.stdout[-2000:], proc.stderr[-4000:], sep="\n")
            continue
        if a.docs:
            os.makedirs(DOCS_IMG, exist_ok=True)
            for png in sorted(glob.glob(os.path.join(out, "*.png"))):
                target = os.path.join(DOCS_IMG, f"{name}__{os.path.basename(png)}")
                shutil.copyfile(png, target)
                size = os.path.getsize(target)
                print(f"    {os.path.relpath(target)}  {size / 1000:.0f} kB"
                      + ("  (TOO BIG)" if size > MAX_PNG else ""))
    print(f"total {sum(times.values()):.1f} s for {len(times)} lessons")
    if a.docs and not a.quick:
        good = {k: v for k, v in outputs.items() if k not in failed}
        missing = fill_docs(good)
        print(f"numbers of {os.path.relpath(DOCS_PAGE)} filled from {len(good)} lessons")
        for m in missing:
            print(f"    not printed by the lesson: {m}")
        failed += missing
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
