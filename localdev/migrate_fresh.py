"""``make migrate-fresh``: wipe the local stack's state (AWS state, local blobs, State Hub log).

Stops nothing: it refuses while ``make dev`` runs, since that process would write its state
back on exit.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from localdev.config import DevConfig, load_env
from localdev.ctl import running_pid


def wipe(config: DevConfig) -> bool:
    """Remove the state directory; False (and nothing removed) while ``make dev`` runs."""
    pid = running_pid(config.path("dev.pid"))
    if pid is not None:
        print(
            f"make dev is running (pid {pid}): stop it first (Ctrl-C, or "
            "`python -m localdev.dev stop`), then run `make migrate-fresh` again",
            file=sys.stderr,
        )
        return False
    if config.state_dir.exists():
        shutil.rmtree(config.state_dir)
        print(f"wiped {config.state_dir}: the next `make dev` starts from an empty stack")
    else:
        print(f"{config.state_dir} does not exist: nothing to wipe")
    return True


def main() -> None:
    """Entry point of ``python -m localdev.migrate_fresh``."""
    root = Path.cwd()
    load_env(root)
    sys.exit(0 if wipe(DevConfig.from_env(root)) else 1)


if __name__ == "__main__":
    main()
