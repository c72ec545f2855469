"""Cost rows of the SQL backends: totals and the cost log's entry format (both backends
select the same columns in the same order)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ..costs.model import CostTotals, from_pico, usd_text
from ..errors import CorruptStoreError
from ._rows import json_reason


def cost_totals(row: Sequence[Any]) -> CostTotals:
    """``requests, input, cached, output, reasoning tokens, total picodollars`` as totals."""
    requests, input_tokens, cached, output, reasoning, cost = row
    return CostTotals(
        int(requests), int(input_tokens), int(cached), int(output), int(reasoning),
        from_pico(int(cost)),
    )  # fmt: skip


def cost_entry(row: Sequence[Any]) -> dict[str, Any]:
    """A cost row (the backends' entry columns) in the cost log's entry format."""
    (timestamp, session_id, user, operation_type, model, request_type, input_tokens, cached,
     output, reasoning, input_cost, cached_cost, output_cost, total_cost, source,
     metadata) = row  # fmt: skip
    return {
        "timestamp": timestamp,
        "session_id": session_id,
        "user": user,
        "operation_type": operation_type,
        "model": model,
        "request_type": request_type,
        "tokens": {
            "input": input_tokens,
            "cached_input": cached,
            "output": output,
            "reasoning": reasoning,
            "total": input_tokens + output,
        },
        "cost": {
            "input": usd_text(from_pico(input_cost)),
            "cached_input": usd_text(from_pico(cached_cost)),
            "output": usd_text(from_pico(output_cost)),
            "total": usd_text(from_pico(total_cost)),
        },
        "price_source": source,
        "metadata": _cost_metadata(metadata, timestamp, session_id),
    }


def _cost_metadata(metadata: Any, timestamp: Any, session_id: Any) -> Any:
    try:
        return json.loads(metadata)
    except (TypeError, ValueError, RecursionError):
        raise CorruptStoreError(
            f"The cost record of {timestamp!r:.40} (session {session_id!r:.60}) is damaged: its "
            f"metadata {json_reason(metadata)}. Repair or remove it, then retry."
        ) from None
