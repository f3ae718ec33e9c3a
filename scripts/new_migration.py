"""Write a new Alembic migration from the difference between the models and the newest revision.

Usage: python scripts/new_migration.py "what changed"
It upgrades a throw-away SQLite database to head and autogenerates against it, so no real
database is touched. Review the generated file before committing it.
"""

import sys
import tempfile
from pathlib import Path

from alembic import command

from bridge.store.db import alembic_config, make_engine


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'scratch.db'}")
        config = alembic_config(engine)
        config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
        command.upgrade(config, "head")
        command.revision(config, message=sys.argv[1], autogenerate=True)
        engine.dispose()


if __name__ == "__main__":
    main()
