"""MkDocs hook: the home page is README.md. docs/index.md holds the line
``--8<-- "README.md"``, replaced here by the README with its links into the
documentation (written from the repository root, ``docs/x.md``) made
relative to the site's pages (``x.md``). The markers around the numbers that
trace/run_all.py fills in docs/lessons.md (``<!--v LESSON: KEY | SPEC -->``,
whose keys look like ``z[1][0,0,0,0]``, a reference link to Markdown) are
dropped, their numbers kept."""
import re
from pathlib import Path

INCLUDE = '--8<-- "README.md"'
NUMBER_MARKER = re.compile(r"<!--v \w+: .+? \| \S+ -->|<!--/v-->")


def on_page_markdown(markdown, page, config, **kwargs):
    if page.file.src_uri != "index.md":
        return NUMBER_MARKER.sub("", markdown)
    readme = (Path(config.config_file_path).parent / "README.md").read_text(encoding="utf-8")
    return markdown.replace(INCLUDE, re.sub(r"\]\(docs/", "](", readme))
