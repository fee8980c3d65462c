"""The called (or calling) party in webhook mode: it answers each agent turn with its next
scripted line, as ``call.transcription`` webhooks, and hangs up after the script."""

from __future__ import annotations

import asyncio
import functools

from voxagent.simulator.fake_telnyx.base import FakeTelnyxBase
from voxagent.simulator.fake_telnyx.call import FakeCall

__all__ = ["WebhookParty"]


class WebhookParty(FakeTelnyxBase):
    """The scripted party without a media stream: its timing, its speech, its transcripts."""

    def _start_party(self, call: FakeCall) -> None:
        if call._party is None or call._party.done():
            call._party = self._spawn(call, self._party_by_webhooks(call), "party")

    async def _party_by_webhooks(self, call: FakeCall) -> None:
        """The party answers each prompt: once the agent has spoken and gone quiet, it says
        its next line (as ``call.transcription``); after the script, it hangs up."""
        heard = 0
        index = 0
        while call.alive:
            finished = index >= len(call.script)
            replied = await call.wait_until(
                functools.partial(self._turn_over, call, heard), self.callee_reply_timeout_s
            )
            if not call.alive:
                return
            if not replied:
                if not (call.transcribing and call.agent_idle):
                    continue
                call.reply_timeouts += 1  # the agent said nothing: speak up anyway
            await asyncio.sleep(self.callee_hangup_after_s if finished else self.callee_pause_s)
            if not call.alive:
                return
            if not call.agent_idle:
                continue  # the agent started talking again; wait for it to finish
            if finished:
                self._hangup(call, "normal_clearing", "callee", "16")
                return
            if not call.transcribing:
                continue
            heard = call.agent_turns
            text = call.script[index]
            index += 1
            await self._say(call, text)

    @staticmethod
    def _turn_over(call: FakeCall, heard: int) -> bool:
        """The agent has said something new and gone quiet (or the call is over)."""
        if not call.alive:
            return True
        return call.transcribing and call.agent_idle and call.agent_turns > heard

    async def _say(self, call: FakeCall, text: str) -> None:
        words = text.split()
        if call.interim_results and len(words) > 1:
            self._transcript(call, " ".join(words[: len(words) // 2]), final=False)
            await asyncio.sleep(min(0.1, self.callee_pause_s))
            if not call.alive:
                return
        self._transcript(call, text, final=True)
        call.said.append(text)

    def _transcript(self, call: FakeCall, text: str, *, final: bool) -> None:
        self._emit(
            call,
            "call.transcription",
            {
                "transcription_data": {
                    "transcript": text,
                    "is_final": final,
                    "confidence": 0.95 if final else 0.8,
                    "transcription_track": "inbound",
                }
            },
        )
