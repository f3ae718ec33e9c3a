"""Write config.example.env and README's settings table from the declaration in bridge/settings.

    python scripts/settings_docs.py           # rewrite both
    python scripts/settings_docs.py --check   # exit 1 and say which is out of date

The tests check that both are exactly what this writes. README keeps everything but its settings
table: the table from its header row to the first line that is not a table row.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bridge.settings import render_env_file, render_settings_table  # noqa: E402

TABLE_HEADER = "| Variable | Default | What it is |"


def readme_with_table(readme: str) -> str:
    """README with its settings table replaced by the generated one."""
    start = readme.index(TABLE_HEADER + "\n")
    end = start
    while end < len(readme) and readme.startswith("|", end):
        end = readme.index("\n", end) + 1
    return readme[:start] + render_settings_table() + readme[end:]


def main(argv: list[str]) -> int:
    wanted = {
        ROOT / "config.example.env": lambda _: render_env_file(),
        ROOT / "README.md": readme_with_table,
    }
    stale = []
    for path, render in wanted.items():
        text = path.read_text(encoding="utf-8")
        fresh = render(text)
        if fresh == text:
            continue
        stale.append(path.name)
        if "--check" not in argv:
            path.write_text(fresh, encoding="utf-8")
    if "--check" in argv and stale:
        print(f"out of date: {', '.join(stale)}; run python scripts/settings_docs.py")
        return 1
    print(f"{'rewrote' if stale else 'up to date:'} {', '.join(stale) or 'both'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
