"""Where a work shard goes in the runner's fair queue (shared/fair_queue.py): pure policy.

- Lane: the tenant's model config, as the runner's ModelPool keys its paced adapters. A lane
  runs as many shards at once as its concurrency limit can serve, plus one, so the model stays
  busy at a shard's tail; more would only wait for the model while holding a runner slot.
- Priority: the triggers named in BENCH_PRIORITY_TRIGGERS (scheduled and CI-gate runs by
  default) go before the others.
- Cost: the shard's samples, charged to the tenant (by weight) and to its benchmark.
"""

from __future__ import annotations

import math
from collections.abc import Collection

from shared.events import Trigger, WorkItem
from shared.fair_queue import Shape

__all__ = ["HIGH", "NORMAL", "shape_of"]

HIGH, NORMAL = 0, 1


def shape_of(item: WorkItem | None, key: str | None, *, priority_triggers: Collection[Trigger]) -> Shape:
    if item is None:  # unparsable: it goes to the DLQ at once, in a lane of its own
        return Shape(tenant="", benchmark=f"unparsed:{key}", lane=("unparsed", key), priority=HIGH)
    return Shape(
        tenant=item.tenant,
        benchmark=item.benchmark_id,
        lane=(item.tenant, item.model.model_dump_json()),
        lane_limit=math.ceil(item.model.limits.concurrency / max(1, len(item.samples))) + 1,
        priority=HIGH if item.trigger in priority_triggers else NORMAL,
        cost=max(1, len(item.samples)),
    )
