"""``from src.core.cost_tracker import GPT5CostTracker`` as the guide writes it: a re-export."""

from m365_toolkit.costs.tracker import (
    GPT5CostTracker,
    get_tracker,
    track_gpt5_request,
    track_openai_response,
)

__all__ = ["GPT5CostTracker", "get_tracker", "track_gpt5_request", "track_openai_response"]
