"""Where each projection stands: applied vs published position, lag, dead letters."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from contract.watermark import complete_up_to
from infra import bootstrap
from infra.read_models import READ_MODELS
from infra.settings import Settings
from projections.checkpoints import Checkpoint


def projection_status(settings: Settings) -> list[dict[str, Any]]:
    progress = bootstrap.projection_checkpoints(settings)
    published = bootstrap.relay_checkpoints(settings).all()
    dead_letters = progress.dead_letters()
    by_key: dict[tuple[str, str], list[Checkpoint]] = defaultdict(list)
    for checkpoint in progress.all():
        by_key[(checkpoint.projection, checkpoint.context)].append(checkpoint)
    now = datetime.now(UTC)
    rows = []
    for model in READ_MODELS:
        projection = model.name
        for context in model.contexts:
            checkpoints = by_key[(projection, context)]
            applied = complete_up_to(
                {c.partition: c.position for c in checkpoints}, settings.kafka_partitions
            )
            head = published.get(context, 0)
            last = max((c.updated_at for c in checkpoints), default=None)
            behind = max(head - applied, 0)
            rows.append(
                {
                    "projection": projection,
                    "context": context,
                    "applied_position": applied,
                    "published_position": head,
                    "behind_positions": behind,
                    # While behind: how long since the projection last made progress.
                    "lag_seconds": round((now - last).total_seconds(), 3)
                    if behind and last
                    else 0.0,
                    "last_applied_at": last.isoformat() if last else None,
                    "partitions": {c.partition: c.position for c in checkpoints},
                    "dead_letters": dead_letters.get(projection, 0),
                }
            )
    return rows
