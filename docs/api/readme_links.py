"""MkDocs hook: the home page is README.md. docs/index.md holds the line
``--8<-- "README.md"``, replaced here by the README with its links into the
documentation (written from the repository root, ``docs/x.md``) made
relative to the site's pages (``x.md``)."""
import re
from pathlib import Path

INCLUDE = '--8<-- "README.md"'


def on_page_markdown(markdown, page, config, **kwargs):
    if page.file.src_uri != "index.md":
        return markdown
    readme = (Path(config.config_file_path).parent / "README.md").read_text(encoding="utf-8")
    return markdown.replace(INCLUDE, re.sub(r"\]\(docs/", "](", readme))
