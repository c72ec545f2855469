"""Every OpenTelemetry attribute name the toolkit writes, defined once.

GenAI attributes follow the OpenTelemetry GenAI semantic conventions as of 2026 (registry of
``open-telemetry/semantic-conventions-genai``; every ``gen_ai.*`` attribute is still
"Development"); the toolkit defines its own constants rather than import the deprecated
``opentelemetry.semconv._incubating`` module. Cost has no standard attribute: ``gen_ai.usage.cost``
(USD, a double) is what Langfuse reads and OpenLIT writes; the exact amount goes in the
toolkit's own namespace as a decimal string.
"""

from __future__ import annotations

CONVENTIONS = "OpenTelemetry GenAI semantic conventions (Development, 2026 registry)"
SCOPE = "m365_toolkit"

# -- sessions and events ------------------------------------------------------------------------
SESSION_ID = "session.id"
USER_ID = "user.id"
OPERATION_TYPE = "m365_toolkit.operation_type"
STATUS = "m365_toolkit.status"
HOST = "m365_toolkit.host"
PID = "m365_toolkit.pid"
METADATA = "m365_toolkit.metadata"  # JSON text, after redaction
DURATION = "m365_toolkit.duration_seconds"
EVENT_DESCRIPTION = "m365_toolkit.event.description"
EVENT_DATA = "m365_toolkit.event.data"  # JSON text, after redaction
SEQ = "m365_toolkit.seq"

# -- LLM requests (GenAI client spans) ----------------------------------------------------------
GEN_AI_OPERATION = "gen_ai.operation.name"
GEN_AI_PROVIDER = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL = "gen_ai.request.model"
GEN_AI_INPUT_TOKENS = "gen_ai.usage.input_tokens"  # cached tokens included
GEN_AI_CACHE_READ_TOKENS = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
GEN_AI_REASONING_TOKENS = "gen_ai.usage.reasoning.output_tokens"
GEN_AI_COST = "gen_ai.usage.cost"  # USD, double
COST_USD = "m365_toolkit.cost.total_usd"  # USD, exact decimal string
REQUEST_TYPE = "m365_toolkit.request_type"
PRICE_SOURCE = "m365_toolkit.price_source"
