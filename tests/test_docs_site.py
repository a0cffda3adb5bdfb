"""The documentation site: ``mkdocs build --strict`` (a broken link, a
missing page or a docstring that does not parse is an error)."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mkdocs", reason="the docs extra is not installed: pip install -e '.[docs]'")
pytest.importorskip("mkdocstrings", reason="the docs extra is not installed")

ROOT = Path(__file__).resolve().parents[1]


def test_site_builds_without_warnings(tmp_path):
    site = tmp_path / "site"
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict",
                             "-f", str(ROOT / "mkdocs.yml"), "-d", str(site)],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    home = (site / "index.html").read_text(encoding="utf-8")
    assert 'href="training/"' in home  # the README's docs/ links point at the site's pages
    api = (site / "api" / "numbann" / "index.html").read_text(encoding="utf-8")
    assert 'id="numbann.Network.fit"' in api  # the reference is generated from the docstrings
    lessons = (site / "lessons" / "index.html").read_text(encoding="utf-8")
    figures = re.findall(r'<img[^>]* src="([^"]+)"', lessons)
    assert figures and all((site / "lessons" / src).resolve().is_file() for src in figures)
