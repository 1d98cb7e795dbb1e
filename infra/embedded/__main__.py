"""Run the embedded stack in the foreground: ``python -m infra.embedded``.

Prints ``export SHOP_...=`` lines on stdout, progress on stderr, then runs until Ctrl-C or
SIGTERM and stops everything. In a shell::

    python -m infra.embedded > .data/stack.env &   # then, once ready: . .data/stack.env
"""

from __future__ import annotations

import shlex
import sys

from infra.embedded.services import embedded_stack
from infra.embedded.supervisor import (
    ServiceFailed,
    Supervisor,
    stop_signals_ignored,
    stop_signals_interrupt,
)
from infra.settings import Settings

_EXPORTED = ("database_url", "kafka_bootstrap", "elasticsearch_url", "redis_url", "smtp_url")


def main() -> int:
    stop_signals_interrupt()
    settings = Settings()
    try:
        with (
            Supervisor(settings.data_dir.resolve() / "logs") as supervisor,
            embedded_stack(settings, supervisor) as ready,
        ):
            for name in _EXPORTED:
                print(f"export SHOP_{name.upper()}={shlex.quote(getattr(ready, name))}")
            if ready.keys_file is not None:  # the development keys it made (ADR 0021)
                print(f"export SHOP_KEYS_FILE={shlex.quote(str(ready.keys_file))}")
            sys.stdout.flush()
            received = supervisor.watch()
            stop_signals_ignored()
            print(f"{received.name}: stopping the embedded stack", file=sys.stderr)
    except ServiceFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: embedded stack stopped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
