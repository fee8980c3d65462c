"""The LLM agent: a language model with the persona's tools (any persona's
:class:`~voxagent.agents.toolkit.Toolbox` and prompt; María's by default), speaking as it.

Latency decides how natural a call feels, so the agent never makes the caller wait for a
whole answer: the greeting comes from the persona without asking the model, and the model's
words are passed on as they stream in (the engine cuts them into sentences for the voice).
Tool calls run between model rounds, their results go back to the model, and the loop is
bounded so a confused model cannot keep the caller waiting forever.

A phone call must never fall silent: when the model fails (rate limit, overload, timeout,
dropped stream, rejected key) the agent retries once quickly if that can help and nothing was
said yet, and otherwise speaks a short apology instead.

The conversation lives in the neutral :class:`~voxagent.providers.llm.base.Message` format,
capped in length without ever separating a tool call from its result, and rewritten after a
barge-in to what the caller actually heard.

Speculation (``prefetch``): the engine may hand over a stable interim transcript before the
caller's turn is over. The model request starts at once and its events are buffered; the
final transcript uses them only if it has the same words and the history has not changed
since. Nothing is executed on speculation: tools run only inside ``reply``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import AsyncGenerator, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from datetime import datetime

from voxagent.agents.base import AgentAction, EndCall, Say, Transfer
from voxagent.agents.persona import LANGUAGES, Persona
from voxagent.agents.persona_base import BasePersona
from voxagent.agents.prompt import build_system_prompt, greeting_for_call
from voxagent.agents.toolkit import Result, Toolbox, ToolSpec
from voxagent.calls.info import CallInfo
from voxagent.providers.errors import (
    ProviderAuthError,
    ProviderConnectionError,
    ProviderError,
    ProviderQuotaError,
)
from voxagent.providers.llm.base import (
    Brain,
    BrainEvent,
    Message,
    Stop,
    TextDelta,
    ToolCall,
    ToolResult,
)
from voxagent.state.database import utc_now

log = logging.getLogger(__name__)

SystemPrompt = Callable[[str, datetime, CallInfo], str]
"""The instructions for one call: (language, now, the call) → the system prompt."""

# Spoken when the model cannot answer. A persona may word it itself with a line of this key;
# maria.toml has none, so these defaults are used.
FALLBACK_LINE = "llm_fallback"
FALLBACK_LINES = {
    "en": "Sorry, I'm having a little trouble right now. Could you say that again?",
    "es": "Disculpe, tengo un pequeño problema en este momento. ¿Me lo puede repetir?",
}


@dataclass(slots=True)
class _Prefetch:
    """A model response started on an interim transcript, buffered until the final one."""

    words: str
    basis: list[tuple[str, str, int, int]]
    events: asyncio.Queue[BrainEvent | BaseException | None]
    task: asyncio.Task[None]
    started: float


@dataclass(frozen=True, slots=True)
class _Ending:
    """A tool that ends the agent's part of the call, and what to say if the model said nothing."""

    action: EndCall | Transfer
    line: str


class LlmAgent:
    """The Agent for one call, driven by a :class:`~voxagent.providers.llm.base.Brain`.

    ``brain`` may be shared by many calls; everything else here belongs to this call. Without
    a ``prompt``, the persona must be a clinic's and the prompt is the receptionist's.
    """

    def __init__(
        self,
        persona: BasePersona,
        tools: Toolbox,
        info: CallInfo,
        brain: Brain,
        *,
        prompt: SystemPrompt | None = None,
        now: Callable[[], datetime] = utc_now,
        max_history: int = 50,
        max_tool_rounds: int = 5,
        retry_delay: float = 0.2,
    ) -> None:
        if max_history < 2:
            raise ValueError("max_history must keep at least 2 messages (a call and its result)")
        if max_tool_rounds < 1:
            raise ValueError("max_tool_rounds must be at least 1")
        self.persona = persona
        self.tools = tools
        self.info = info
        self.brain = brain
        self._prompt = prompt or _receptionist_prompt(persona)
        self.lang = info.language if info.language in LANGUAGES else "en"
        self.max_history = max_history
        self.max_tool_rounds = max_tool_rounds
        self.retry_delay = retry_delay
        self.last_first_token_ms: float | None = None
        """Time to first token of the latest model call that produced anything."""
        self.fallbacks = 0
        """How many times the apology was spoken instead of a model answer."""
        self._now = now
        self._history: list[Message] = []
        self._last_reply: list[Message] = []  # assistant messages of the latest greeting/reply
        self._ended = False
        self._prefetch: _Prefetch | None = None
        self.speculation_hits = 0
        self.speculation_misses = 0
        self.last_reply_speculative = False
        """The latest reply started from a prefetch (its first words were already coming)."""

    @property
    def provider_name(self) -> str:
        """Which model serves this call now (after any fallback switch), for telemetry."""
        return self.brain.name

    can_prefetch = True

    @property
    def history(self) -> list[Message]:
        """A copy of the conversation as the model will next see it."""
        return list(self._history)

    @property
    def ended(self) -> bool:
        """True once the agent ended the call or handed it to a person."""
        return self._ended

    # -- Agent protocol -----------------------------------------------------------------------

    async def greeting(self) -> AsyncGenerator[AgentAction, None]:
        """The persona's greeting, at once: no model round trip before the first words."""
        text = greeting_for_call(self.persona, self._now(), self.lang, self.info)
        message = Message.assistant(text)
        self._history.append(message)
        self._last_reply = [message]
        yield Say(text)

    async def reply(self, transcript: str) -> AsyncGenerator[AgentAction, None]:
        text = transcript.strip()
        if self._ended or not text:
            return
        # A reply cancelled before it said or did anything leaves empty messages: drop them.
        self._history[:] = [m for m in self._history if not m.empty]
        prefetched = self._take_prefetch(text)
        self._history.append(Message.user(text))
        self._last_reply = []
        system = self._prompt(self.lang, self._now(), self.info)
        tail = ""  # the last character said in this reply, to space rounds and apologies
        for _ in range(self.max_tool_rounds):
            self._trim()
            context = list(self._history)
            # The draft is in the history while it streams, so a barge-in that cancels this
            # generator still leaves the words already spoken on record.
            draft = Message.assistant()
            self._history.append(draft)
            self._last_reply.append(draft)
            calls: list[ToolCall] = []
            failure: Exception | None = None
            for attempt in (1, 2):
                calls.clear()
                failure = None
                source = (
                    self._prefetched_events(prefetched)
                    if prefetched is not None
                    else self._model_call(system, context)
                )
                prefetched = None  # a retry or the next round asks the model afresh
                try:
                    async with aclosing(source) as events:
                        async for event in events:
                            if isinstance(event, TextDelta) and event.text:
                                piece = _spaced(tail, event.text) if not draft.text else event.text
                                draft.text += event.text
                                tail = event.text[-1]
                                yield Say(piece)
                            elif isinstance(event, ToolCall):
                                calls.append(event)
                except ProviderError as exc:
                    failure = exc
                except Exception as exc:  # a bug in a brain must not silence the call
                    log.exception("call %s: the model call failed unexpectedly", self._call_id)
                    failure = exc
                # Retry only what a retry can fix, and only while nothing has been said.
                if failure is None or draft.text or attempt == 2 or not _retryable(failure):
                    break
                log.warning("call %s: %s; retrying once", self._call_id, failure)
                await asyncio.sleep(self.retry_delay)
            if failure is not None:
                self._log_failure(failure)
                yield Say(_spaced(tail, self._fallback(draft)))
                self._trim()
                return
            if not calls:
                if not draft.text.strip():
                    log.warning("call %s: the model answered with nothing", self._call_id)
                    yield Say(_spaced(tail, self._fallback(draft)))
                self._trim()
                return
            ending = await self._run_tools(draft, calls)
            if ending is not None:
                if not draft.text.strip() and ending.line:
                    draft.text = ending.line
                    yield Say(_spaced(tail, ending.line))
                self._ended = True
                self._trim()
                yield ending.action
                return
        log.warning(
            "call %s: still calling tools after %d rounds; apologising",
            self._call_id,
            self.max_tool_rounds,
        )
        closing = Message.assistant()
        self._history.append(closing)
        self._last_reply.append(closing)
        yield Say(_spaced(tail, self._fallback(closing)))
        self._trim()

    def interrupted(self, heard_text: str) -> None:
        """Rewrite the latest reply to the words the caller heard, so the model knows.

        A reply may span several assistant messages (text, tool calls, more text); the heard
        words are handed out over them in order. Messages left with no words and no tool calls
        are dropped; tool calls and their results stay, since those things did happen.
        """
        spoken = [m for m in self._last_reply if m.text.strip()]
        remaining = " ".join(heard_text.split())
        for index, message in enumerate(spoken):
            if index == len(spoken) - 1:
                kept, remaining = remaining, ""
            else:
                size = len(" ".join(message.text.split()))
                kept, remaining = remaining[:size], remaining[size:].lstrip()
            message.text = kept.strip()
        self._history[:] = [m for m in self._history if not (m.role == "assistant" and m.empty)]

    # -- speculation --------------------------------------------------------------------------

    def prefetch(self, transcript: str) -> None:
        """Start the model on ``transcript`` now; ``reply`` uses it if the words match."""
        text = transcript.strip()
        if self._ended or not text:
            return
        self._drop_prefetch()
        context = [m for m in self._history if not m.empty]
        basis = _basis(context)
        context.append(Message.user(text))
        system = self._prompt(self.lang, self._now(), self.info)
        queue: asyncio.Queue[BrainEvent | BaseException | None] = asyncio.Queue()

        async def pump() -> None:
            try:
                async with aclosing(self.brain.stream(system, context, self._specs)) as events:
                    async for event in events:
                        queue.put_nowait(event)
            except Exception as exc:
                queue.put_nowait(exc)
            finally:
                queue.put_nowait(None)

        task = asyncio.create_task(pump(), name=f"prefetch-{self._call_id}")
        self._prefetch = _Prefetch(_words(text), basis, queue, task, time.perf_counter())

    def _take_prefetch(self, text: str) -> _Prefetch | None:
        prefetch, self._prefetch = self._prefetch, None
        self.last_reply_speculative = False
        if prefetch is None:
            return None
        if prefetch.words == _words(text) and prefetch.basis == _basis(self._history):
            self.speculation_hits += 1
            self.last_reply_speculative = True
            return prefetch
        self.speculation_misses += 1
        log.debug("call %s: speculation missed (%r)", self._call_id, prefetch.words)
        prefetch.task.cancel()
        return None

    def _drop_prefetch(self) -> None:
        if self._prefetch is not None:
            self._prefetch.task.cancel()
            self._prefetch = None

    async def _prefetched_events(self, prefetch: _Prefetch) -> AsyncGenerator[BrainEvent, None]:
        """The buffered response, then the rest as it streams; the first-token time counts
        from the prefetch, which is what the caller waits for."""
        first = True
        try:
            while (item := await prefetch.events.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                if first and not isinstance(item, Stop):
                    first = False
                    elapsed = (time.perf_counter() - prefetch.started) * 1000
                    self.last_first_token_ms = elapsed
                yield item
        finally:
            prefetch.task.cancel()

    # -- model and tools ----------------------------------------------------------------------

    async def _model_call(
        self, system: str, context: Sequence[Message]
    ) -> AsyncGenerator[BrainEvent, None]:
        """One model response, timing its first token."""
        started = time.perf_counter()
        first = True
        async with aclosing(self.brain.stream(system, context, self._specs)) as events:
            async for event in events:
                if first and not isinstance(event, Stop):
                    first = False
                    elapsed = (time.perf_counter() - started) * 1000
                    self.last_first_token_ms = elapsed
                    log.debug("call %s: first token after %.0f ms", self._call_id, elapsed)
                yield event

    async def _run_tools(self, draft: Message, calls: list[ToolCall]) -> _Ending | None:
        """Run the round's tool calls in order and record each with its result.

        A call and its result enter the history together, so an interruption between two
        tools cannot leave a call without its result.
        """
        results = Message.tool()
        self._history.append(results)
        ending: _Ending | None = None
        for call in calls:
            started = time.perf_counter()
            outcome = await self.tools.execute(call.name, call.arguments)
            ms = (time.perf_counter() - started) * 1000
            ok = outcome.get("ok") is not False
            log.info(
                "call %s: tool %s -> %s (%.0f ms)",
                self._call_id,
                call.name,
                "ok" if ok else "error",
                ms,
            )
            log.debug("call %s: %s(%s) = %s", self._call_id, call.name, call.arguments, outcome)
            draft.tool_calls.append(call)
            content = json.dumps(outcome, ensure_ascii=False, default=str)
            results.results.append(ToolResult(call.id, call.name, content, is_error=not ok))
            if ok and ending is None:
                ending = self._ending(call.name, outcome)
        return ending

    def _ending(self, tool: str, outcome: Result) -> _Ending | None:
        line = str(outcome.get("message") or "")
        if tool == "transfer_to_human":
            return _Ending(Transfer(outcome.get("to") or None), line)
        if tool == "end_call":
            return _Ending(EndCall("completed"), line)
        return None

    # -- helpers ------------------------------------------------------------------------------

    @property
    def _specs(self) -> list[ToolSpec]:
        return self.tools.specs

    @property
    def _call_id(self) -> str:
        return self.info.call_id

    def _trim(self) -> None:
        """Keep the last ``max_history`` messages, never a tool result without its call."""
        history = self._history
        if len(history) > self.max_history:
            del history[: len(history) - self.max_history]
        while history and history[0].role == "tool":
            del history[0]

    def _fallback(self, message: Message) -> str:
        """Append the apology to ``message`` and return it."""
        self.fallbacks += 1
        if FALLBACK_LINE in self.persona.lines:
            line = self.persona.line(FALLBACK_LINE, self.lang)
        else:
            line = FALLBACK_LINES[self.lang]
        message.text = f"{message.text.rstrip()} {line}".strip()
        return line

    def _log_failure(self, failure: Exception) -> None:
        if isinstance(failure, ProviderAuthError):
            log.error(
                "call %s: the %s model rejected the API key, so every model turn will fail "
                "until it is fixed: %s",
                self._call_id,
                self.brain.name,
                failure,
            )
        elif _retryable(failure):
            log.warning("call %s: the model is unavailable: %s", self._call_id, failure)
        else:
            log.error("call %s: the model call failed: %s", self._call_id, failure)


def _receptionist_prompt(persona: BasePersona) -> SystemPrompt:
    """María's prompt, for agents built without one (a clinic persona is required)."""
    if not isinstance(persona, Persona):
        raise TypeError(f"persona {persona.key!r} is a {persona.kind}: pass its system prompt")
    return lambda lang, now, info: build_system_prompt(persona, lang, now, info)


def _spaced(tail: str, text: str) -> str:
    """``text`` with a leading space if it would otherwise run into the words before it."""
    if tail and not tail.isspace() and not text[:1].isspace():
        return " " + text
    return text


def _words(text: str) -> str:
    """What must match between an interim and a final transcript: the words, not the
    punctuation or capitals a recognizer adds to finals."""
    return " ".join(re.findall(r"\w+", text.lower()))


def _basis(history: Sequence[Message]) -> list[tuple[str, str, int, int]]:
    return [(m.role, m.text, len(m.tool_calls), len(m.results)) for m in history]


def _retryable(failure: Exception) -> bool:
    return isinstance(failure, ProviderQuotaError | ProviderConnectionError)
