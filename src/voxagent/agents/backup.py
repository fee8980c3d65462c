"""An LLM agent with the scripted receptionist behind it (``LLM_PROVIDER=anthropic,scripted``).

When every model in the chain failed a turn (the LLM agent had to apologize instead of
answering), the scripted receptionist answers the rest of the call: it cannot improvise,
but it can still book, cancel and transfer, which beats apologizing on every turn.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator

from voxagent.agents.base import Agent, AgentAction
from voxagent.agents.llm import LlmAgent
from voxagent.providers.fallback import SwitchCallback

__all__ = ["AgentWithBackup"]

log = logging.getLogger(__name__)


class AgentWithBackup:
    def __init__(
        self,
        primary: LlmAgent,
        backup: Agent,
        *,
        on_switch: SwitchCallback | None = None,
    ) -> None:
        self.primary = primary
        self.backup = backup
        self._on_switch = on_switch
        self.switched = False

    @property
    def provider_name(self) -> str:
        return "scripted" if self.switched else self.primary.provider_name

    @property
    def can_prefetch(self) -> bool:
        return not self.switched

    @property
    def last_reply_speculative(self) -> bool:
        return not self.switched and self.primary.last_reply_speculative

    def prefetch(self, transcript: str) -> None:
        if not self.switched:
            self.primary.prefetch(transcript)

    def greeting(self) -> AsyncGenerator[AgentAction, None]:
        return self.primary.greeting()

    async def reply(self, transcript: str) -> AsyncGenerator[AgentAction, None]:
        if self.switched:
            async for action in self.backup.reply(transcript):
                yield action
            return
        apologies = self.primary.fallbacks
        async for action in self.primary.reply(transcript):
            yield action
        if self.primary.fallbacks > apologies:
            failed = self.primary.provider_name
            self.switched = True
            log.warning(
                "call %s: no model could answer; the scripted receptionist takes over",
                self.primary.info.call_id,
            )
            if self._on_switch is not None:
                self._on_switch("llm", failed, "scripted", "every model failed a turn")

    def interrupted(self, heard_text: str) -> None:
        (self.backup if self.switched else self.primary).interrupted(heard_text)
