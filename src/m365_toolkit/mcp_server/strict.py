"""Strict tool arguments: a call's arguments match the tool's input schema exactly, or it
does not run.

The SDK validates arguments in pydantic's lax mode and, before that, parses a string sent
for a non-string parameter as JSON: ``{"preview_only": "false", "force_apply": "true"}``
became ``False``/``True`` and applied changes to the tenant. :func:`make_strict` turns a
registered tool strict, and the server applies it to every tool it registers (see
``server.py``), so no tool can opt out by forgetting a check:

- a boolean is a JSON boolean, an integer a JSON integer, a number a JSON number (finite),
  a string a JSON string; nothing is converted, and no string is parsed as JSON;
- an argument the tool does not take is refused, and the input schema says so
  (``additionalProperties: false``); so does the output schema, whose fields are fixed.

:func:`rejection` words a refusal for the assistant: each bad argument, what was expected,
and what was sent, quoted short.

Parameters must therefore be JSON-native types (str, int, float, bool, None, Literal of
those, lists and dicts of them): strict validation accepts no string as a date or a path.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase, FuncMetadata
from pydantic import ConfigDict, ValidationError

from .messages import describe, quote

__all__ = [
    "InvalidArguments",
    "StrictFuncMetadata",
    "accepted_arguments",
    "make_strict",
    "rejection",
]

_STRICT = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)

_EXPECTED = {
    "bool_type": "a JSON boolean (true or false)",
    "int_type": "a JSON integer",
    "float_type": "a JSON number",
    "string_type": "a JSON string",
    "finite_number": "a finite JSON number",
    "list_type": "a JSON array",
    "dict_type": "a JSON object",
    "model_type": "a JSON object",
}


class InvalidArguments(ToolError):
    """A call's arguments do not match the tool's input schema; the tool did not run."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            "Invalid arguments, so the tool did not run: "
            + "; ".join(problems)
            + ". Arguments must match the tool's input schema exactly (tools/list shows it)."
        )


class StrictFuncMetadata(FuncMetadata):
    """The SDK's function metadata with its JSON-in-a-string pre-parsing turned off.

    The SDK parses a string sent for a non-string parameter as JSON (``"null"`` becomes
    ``None``, ``"[1]"`` a list); a strict tool takes the arguments as they were sent.
    """

    def pre_parse_json(self, data: dict[str, Any]) -> dict[str, Any]:
        """The arguments unchanged."""
        return dict(data)


def make_strict(tool: Tool) -> None:
    """Make a registered tool validate its arguments strictly, and its schemas say so."""
    lax = tool.fn_metadata
    if isinstance(lax, StrictFuncMetadata):
        return
    # A subclass keeps every field (aliases, defaults, constraints) and changes the config.
    model = cast(
        type[ArgModelBase],
        type(lax.arg_model.__name__, (lax.arg_model,), {"model_config": _STRICT}),
    )
    tool.fn_metadata = StrictFuncMetadata(
        arg_model=model,
        output_schema=_closed(lax.output_schema),
        output_model=lax.output_model,
        wrap_output=lax.wrap_output,
    )
    tool.parameters = model.model_json_schema(by_alias=True)


def accepted_arguments(tool: Tool) -> list[str]:
    """The names of the arguments ``tool`` takes, as the client sends them."""
    fields = tool.fn_metadata.arg_model.model_fields
    return [field.alias or name for name, field in fields.items()]


def rejection(error: ValidationError, accepted: Iterable[str]) -> InvalidArguments:
    """The refusal of a call whose arguments failed validation, one problem per argument."""
    takes = ", ".join(accepted) or "no arguments"
    problems: list[str] = []
    for item in error.errors(include_url=False):
        where = ".".join(_name(part) for part in item["loc"]) or "arguments"
        kind = item["type"]
        if kind == "missing":
            problems.append(f"{where}: required, but not given")
        elif kind == "extra_forbidden":
            problems.append(f"{where}: not an argument of this tool (it takes {takes})")
        else:
            message = str(item["msg"])
            if kind in _EXPECTED:
                message = f"expected {_EXPECTED[kind]}"
            elif message.startswith("Input should be "):
                message = f"expected {message.removeprefix('Input should be ')}"
            problems.append(f"{where}: {message}, got {describe(item['input'])}")
    return InvalidArguments(problems)


def _name(part: str | int) -> str:
    """An argument's name as a message shows it: bare if it is a plain name, else quoted."""
    text = str(part)
    return text if text.isidentifier() and len(text) <= 64 else quote(text, 64)


def _closed(schema: dict[str, Any] | None) -> dict[str, Any] | None:
    if schema is None or schema.get("type") != "object" or "additionalProperties" in schema:
        return schema
    return {**schema, "additionalProperties": False}
