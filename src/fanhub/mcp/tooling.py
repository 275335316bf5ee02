"""How fanhub's tools look on the wire: compact schemas, readable argument errors, compact results.

- `FanhubTool` is the SDK's `Tool` with three changes: its description is the dedented docstring;
  its input schema carries no pydantic `title`s; its advertised output schema is shallow (the
  result's top-level fields and the fields of list items, with their types and descriptions;
  deeper objects are just `object`), while results are still validated against the full model.
- Arguments that do not fit the schema are refused with one readable sentence naming the argument
  (`invalid argument 'page_size': must be at most 100 (got 500).`), not pydantic's report and URL.
- `compact_result` turns a tool's output model into structured content plus a short text summary
  (the model's `summary()`), instead of the structured content again as indented JSON.
"""

from __future__ import annotations

import inspect
from functools import cached_property
from typing import Any

from mcp.server.mcpserver.tools import Tool
from mcp_types import CallToolResult, TextContent
from pydantic import BaseModel, ValidationError

# Schema keys kept in a shallow output schema.
_KEPT = ("type", "description", "enum", "format")


class FanhubTool(Tool):
    """The SDK's tool with fanhub's wire form (see the module docstring)."""

    @classmethod
    def build(cls, fn: Any, **options: Any) -> FanhubTool:
        tool = cls.from_function(fn, description=inspect.cleandoc(fn.__doc__ or ""), **options)
        assert isinstance(tool, FanhubTool)
        tool.parameters = without_titles(tool.parameters)
        return tool

    @cached_property
    def output_schema(self) -> dict[str, Any] | None:
        full = self.fn_metadata.output_schema
        return None if full is None else shallow_schema(full)

    async def run(self, arguments: dict[str, Any], context: Any, convert_result: bool = False) -> Any:
        try:
            self.fn_metadata.validate_arguments(arguments)
        except ValidationError as exc:
            return error_result(readable_validation_error(exc))
        return await super().run(arguments, context, convert_result=convert_result)


def error_result(message: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=message)], is_error=True)


def compact_result(output: BaseModel) -> CallToolResult:
    """Structured content, plus the model's short summary as the text block."""
    summary = getattr(output, "summary", None)
    text = summary() if callable(summary) else type(output).__name__
    return CallToolResult(
        content=[TextContent(type="text", text=str(text))], structured_content=output.model_dump(mode="json")
    )


# --- errors ------------------------------------------------------------------------------------------

_PHRASES = (
    ("Input should be less than or equal to", "must be at most"),
    ("Input should be greater than or equal to", "must be at least"),
    ("Input should be less than", "must be less than"),
    ("Input should be greater than", "must be greater than"),
    ("Input should be a valid integer, unable to parse string as an integer", "must be a whole number"),
    ("Input should be a valid integer", "must be a whole number"),
    ("Input should be", "must be"),
    ("Input should have", "must have"),
    ("List should have", "must have"),
    ("String should have", "must have"),
    ("Field required", "is required"),
    ("Extra inputs are not permitted", "is not a known key"),
    ("Value error, ", ""),
)


def _phrase(message: str) -> str:
    for pydantic_words, ours in _PHRASES:
        if message.startswith(pydantic_words):
            return ours + message[len(pydantic_words) :]
    return message[:1].lower() + message[1:]


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def readable_validation_error(exc: ValidationError) -> str:
    """One sentence naming each argument that does not fit (the first three), without pydantic's URL."""
    parts = []
    for error in exc.errors(include_url=False)[:3]:
        argument = ".".join(str(part) for part in error["loc"]) or "arguments"
        part = f"invalid argument {argument!r}: {_phrase(str(error['msg']))}"
        if error["type"] != "missing" and "input" in error and not isinstance(error["input"], dict):
            part += f" (got {_shown(error['input'])})"
        parts.append(part)
    return "; ".join(parts) + "."


# --- schemas -----------------------------------------------------------------------------------------


def without_titles(node: Any) -> Any:
    """A JSON schema without pydantic's `title` keys (a property literally named `title` stays)."""
    if isinstance(node, dict):
        return {
            key: (without_titles(value) if key != "properties" else _properties(value))
            for key, value in node.items()
            if not (key == "title" and isinstance(value, str))
        }
    if isinstance(node, list):
        return [without_titles(value) for value in node]
    return node


def _properties(properties: dict[str, Any]) -> dict[str, Any]:
    return {name: without_titles(schema) for name, schema in properties.items()}


def shallow_schema(schema: dict[str, Any], depth: int = 1) -> dict[str, Any]:
    """`schema` resolved and cut at `depth` object levels: what a model needs to read a result."""
    definitions: dict[str, Any] = schema.get("$defs", {})

    def resolve(node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            node = definitions[str(node["$ref"]).rsplit("/", 1)[-1]]
        return node

    def walk(node: dict[str, Any], level: int) -> dict[str, Any]:
        node = resolve(node)
        described = {"description": node["description"]} if "description" in node else {}
        if "anyOf" in node:
            options = [walk(option, level) for option in node["anyOf"]]
            if all(set(option) == {"type"} and isinstance(option["type"], str) for option in options):
                # `str | None` as {"type": ["string", "null"]}: the same schema in fewer bytes.
                return {"type": [option["type"] for option in options], **described}
            return {"anyOf": options, **described}
        out = {key: node[key] for key in _KEPT if key in node}
        if node.get("type") == "object" and "properties" in node and level < depth:
            out["properties"] = {name: walk(value, level + 1) for name, value in node["properties"].items()}
            if node.get("required") and level == 0:
                out["required"] = list(node["required"])
        elif node.get("type") == "array" and "items" in node:
            out["items"] = walk(node["items"], level) if level < depth else outline(node["items"])
        return out

    def outline(node: dict[str, Any]) -> dict[str, Any]:
        """A list item past the depth: its field names and types only."""
        node = resolve(node)
        if node.get("type") != "object" or "properties" not in node:
            return {"type": node.get("type", "object")} if isinstance(node.get("type", "object"), str) else {}
        fields = {}
        for name, value in node["properties"].items():
            value = resolve(value)
            kinds = [resolve(o).get("type") for o in value.get("anyOf", [value])]
            fields[name] = {"type": kinds[0] if len(kinds) == 1 else kinds}
        return {"type": "object", "properties": fields}

    return walk(schema, 0)
