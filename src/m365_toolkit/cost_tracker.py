"""The documented import path of the cost tracker: :mod:`m365_toolkit.costs.tracker`."""

from .costs.tracker import (
    GPT5CostTracker,
    get_tracker,
    track_gpt5_request,
    track_openai_response,
)

__all__ = [
    "GPT5CostTracker",
    "get_tracker",
    "track_gpt5_request",
    "track_openai_response",
]
