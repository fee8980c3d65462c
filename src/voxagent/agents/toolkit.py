"""What every persona's tools share: how a tool is described to a model, how its arguments are
checked, what a result looks like, and who is told about each run.

Results are plain JSON-able dicts with ``ok`` and a ``message`` (plus data), and failures are
results too, never exceptions: a model can read "those nights are taken" and recover, it cannot
read a traceback.

A tool observer (``on_tool(name, arguments, result)``) hears every tool that ran, whether a
model asked for it (through ``execute``) or a scripted agent called the method itself, so a
channel can show the caller what the agent did (the browser console's ``tool_call`` and
``tool_result`` events). It is called synchronously and must not block; a failing observer is
logged and never breaks the call.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

__all__ = [
    "Result",
    "ToolObserver",
    "ToolSpec",
    "Toolbox",
    "check_arguments",
    "error",
    "notify",
    "observed",
    "run_tool",
    "schema",
]

log = logging.getLogger(__name__)

Result = dict[str, Any]

ToolObserver = Callable[[str, Mapping[str, Any], Result], None]
"""Told after every tool run: the tool's name, its arguments and its result."""


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """What a language model needs to know to call a tool."""

    name: str
    description: str
    parameters: Mapping[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "parameters": self.parameters}


class Toolbox(Protocol):
    """The tools of one call as an LLM agent uses them."""

    @property
    def specs(self) -> list[ToolSpec]:
        """The tools, as the model is told about them."""
        ...

    async def execute(self, name: str, args: Mapping[str, Any] | None = None) -> Result:
        """Run a tool by name with JSON arguments; every problem comes back as a result."""
        ...


def schema(required: tuple[str, ...], **props: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON schema for a tool's arguments: an object with exactly these properties."""
    return {
        "type": "object",
        "properties": dict(props),
        "required": list(required),
        "additionalProperties": False,
    }


def error(message: str) -> Result:
    return {"ok": False, "error": message, "message": message}


def check_arguments(
    tools: Mapping[str, ToolSpec], name: str, args: Mapping[str, Any]
) -> Result | None:
    """Why ``args`` cannot be passed to tool ``name``, as an error result; None if they can."""
    spec = tools.get(name)
    if spec is None:
        return error(f"unknown tool {name!r}; known tools: {', '.join(tools)}")
    properties = spec.parameters["properties"]
    unknown = sorted(set(args) - set(properties))
    if unknown:
        return error(f"{name}: unexpected argument(s) {', '.join(unknown)}")
    missing = [a for a in spec.parameters["required"] if args.get(a) in (None, "")]
    if missing:
        return error(f"{name}: missing argument(s) {', '.join(missing)}")
    for key, value in args.items():
        wanted = properties[key].get("type")
        if wanted == "string" and not isinstance(value, str):
            return error(f"{name}: argument {key} must be a string")
        if wanted == "integer" and (not isinstance(value, int) or isinstance(value, bool)):
            return error(f"{name}: argument {key} must be an integer")
    return None


async def run_tool(
    tools: Mapping[str, ToolSpec],
    handlers: Mapping[str, Callable[..., Awaitable[Result]]],
    name: str,
    args: Mapping[str, Any] | None,
    observer: ToolObserver | None,
) -> Result:
    """Run tool ``name`` with JSON arguments; every problem comes back as a result (refused
    arguments and failures are told to ``observer``; the handlers tell it of the rest)."""
    arguments = dict(args or {})
    refused = check_arguments(tools, name, arguments)
    if refused is not None:
        notify(observer, name, arguments, refused)
        return refused
    try:
        return await handlers[name](**arguments)
    except Exception as exc:  # a tool must never take the call down
        log.exception("tool %s failed", name)
        failed = error(f"{name} failed: {exc}")
        notify(observer, name, arguments, failed)
        return failed


class _Observable(Protocol):
    on_tool: ToolObserver | None


_P = ParamSpec("_P")
_T = TypeVar("_T", bound=_Observable)


def notify(
    observer: ToolObserver | None, name: str, arguments: Mapping[str, Any], result: Result
) -> None:
    """Tell ``observer`` about one tool run; its failures are logged, never raised."""
    if observer is None:
        return
    try:
        observer(name, dict(arguments), result)
    except Exception:
        log.exception("the tool observer failed on %s", name)


def observed(
    method: Callable[Concatenate[_T, _P], Awaitable[Result]],
) -> Callable[Concatenate[_T, _P], Awaitable[Result]]:
    """Make a tool method tell its object's ``on_tool`` observer about each run, with the
    arguments it was given (those left at None omitted) and the result it returned."""
    signature = inspect.signature(method)

    @functools.wraps(method)
    async def run(self: _T, /, *args: _P.args, **kwargs: _P.kwargs) -> Result:
        result = await method(self, *args, **kwargs)
        if self.on_tool is not None:
            bound = signature.bind(self, *args, **kwargs).arguments
            arguments = {k: v for k, v in list(bound.items())[1:] if v is not None}
            notify(self.on_tool, method.__name__, arguments, result)
        return result

    return run
