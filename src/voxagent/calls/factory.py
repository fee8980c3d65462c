"""What a call is made of: its agent, and providers that speak the call's own audio format.

Providers are built once per process and shared by every call (sockets, models and worker
pools are expensive); each call gets its own walk through each fallback chain. A voice
instance speaks one output format, so the factory keeps one per provider and format and gives
each call the instance closest to the call's format (ElevenLabs ``ulaw_8000`` to a μ-law
phone, ``pcm_16000`` to a 16 kHz browser). What still differs is converted once, in the chain.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from voxagent.agents.base import Agent
from voxagent.agents.kinds import AgentOptions, Desk, open_desk
from voxagent.agents.persona_base import BasePersona
from voxagent.agents.toolkit import ToolObserver
from voxagent.audio.format import AudioFormat
from voxagent.audio.vad import load_vad
from voxagent.calls.info import CallInfo
from voxagent.conversation.parts import CallParts, EngineConfig, EngineLines
from voxagent.conversation.recorder import CallRecorder
from voxagent.conversation.timeline import note_tool
from voxagent.providers.fallback import (
    FallbackRecognizer,
    FallbackVoice,
    ProviderChain,
    SwitchCallback,
)
from voxagent.providers.llm.base import Brain
from voxagent.providers.stt.base import SpeechToText
from voxagent.providers.tts.base import TextToSpeech
from voxagent.providers.tts.piper import PiperVoiceSynthesizer
from voxagent.settings import OFFLINE_AGENT, Settings
from voxagent.state.database import Database

__all__ = ["CallFactory"]

log = logging.getLogger(__name__)


class CallFactory:
    def __init__(self, settings: Settings, db: Database, on_switch: SwitchCallback) -> None:
        self.settings = settings
        self.db = db
        self.on_switch = on_switch
        self.recognizers: list[SpeechToText] = []
        self.brains: list[Brain] = []
        self._piper: PiperVoiceSynthesizer | None = None
        self._voices: dict[tuple[str, AudioFormat], TextToSpeech] = {}
        self._desks: dict[str, Desk] = {}
        self._vad_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vad")
        s = settings
        self.config = EngineConfig(
            vad_threshold=s.vad_threshold,
            min_speech_ms=s.min_speech_ms,
            end_of_turn_silence_ms=s.end_of_turn_silence_ms,
            barge_in_min_ms=s.barge_in_min_ms,
            max_history_messages=s.max_history_messages,
            max_call_seconds=s.max_call_seconds,
            speculative=s.speculative_responses,
            no_input_timeout_s=s.no_input_timeout_s,
        )

    # ------------------------------------------------------------- lifecycle
    async def start(self, phone_format: AudioFormat) -> None:
        """Build the shared providers; voices for the phone's format are made ready now, so
        the first caller waits for nothing."""
        self.persona(self.settings.persona)
        self._start_brains()
        await asyncio.gather(self._start_recognizers(), self._start_piper())
        for name in self.settings.tts_chain:
            self._voice(name, phone_format)

    async def close(self) -> None:
        for recognizer in self.recognizers:
            await recognizer.close()
        for voice in self._voices.values():
            if voice is not self._piper:
                await voice.close()
        if self._piper is not None:
            await self._piper.close()
        for brain in self.brains:
            await brain.close()
        self._vad_executor.shutdown(wait=False, cancel_futures=True)

    @property
    def piper(self) -> PiperVoiceSynthesizer | None:
        """The offline voice, when the chain has it (the simulator borrows it to speak)."""
        return self._piper

    def describe(self) -> dict[str, str]:
        s = self.settings
        return {
            "stt": ",".join(r.name for r in self.recognizers),
            "llm": ",".join(s.llm_chain),
            "tts": ",".join(s.tts_chain),
            "vad": s.vad_engine,
        }

    # ------------------------------------------------------------ one call
    def persona(self, name: str) -> BasePersona:
        """A persona by name, of any kind, loaded (and validated) once."""
        return self._desk(name).persona

    def _desk(self, name: str) -> Desk:
        """The persona with what its calls share (its book in the database), opened once."""
        desk = self._desks.get(name)
        if desk is None:
            desk = self._desks[name] = open_desk(name, self.db)
        return desk

    def lines(self, info: CallInfo) -> EngineLines:
        persona = self.persona(info.persona)
        lang = info.language
        return EngineLines(
            technical_trouble=persona.line("technical_trouble", lang),
            say_again=persona.line("say_again", lang),
            still_there=persona.line("still_there", lang),
            no_input_goodbye=persona.line("no_input_goodbye", lang),
            reconnected=persona.line("reconnected", lang),
            transfer_to=persona.phone or None,
        )

    def agent(self, info: CallInfo, on_tool: ToolObserver | None = None) -> Agent:
        """This call's agent, for its persona's kind: scripted, or an LLM agent (with the
        scripted one behind it when ``LLM_PROVIDER`` ends with ``scripted``). ``on_tool``
        hears every tool the agent runs; each run is also kept on its turn's record."""
        desk = self._desk(info.persona)
        brain: Brain | None = None
        if self.brains:
            from voxagent.providers.llm.fallback import FallbackBrain

            brain = FallbackBrain(
                ProviderChain("llm", self.brains, call_id=info.call_id, on_switch=self.on_switch)
            )
        options = AgentOptions(
            brain=brain,
            backup=OFFLINE_AGENT in self.settings.llm_chain,
            max_history=self.settings.max_history_messages,
            on_tool=_kept_on_the_turn(on_tool),
            on_switch=self.on_switch,
        )
        return desk.agent(info, options)

    def recognizer(self, info: CallInfo) -> FallbackRecognizer:
        """This call's walk through the recognizer chain; one that cannot understand the
        call's language is no fallback for it."""
        usable = [r for r in self.recognizers if info.language in r.languages]
        return FallbackRecognizer(
            ProviderChain(
                "stt",
                usable or self.recognizers[:1],
                call_id=info.call_id,
                on_switch=self.on_switch,
            )
        )

    def voice(self, info: CallInfo, fmt: AudioFormat) -> FallbackVoice:
        """This call's walk through the voice chain, speaking ``fmt``."""
        voices = [self._voice(name, fmt) for name in self.settings.tts_chain]
        log.info(
            "call %s: voice chain %s for %s audio",
            info.call_id,
            ",".join(f"{v.name}({v.output_format})" for v in voices),
            fmt,
        )
        return FallbackVoice(
            ProviderChain("tts", voices, call_id=info.call_id, on_switch=self.on_switch), fmt
        )

    def parts(
        self,
        info: CallInfo,
        fmt: AudioFormat,
        *,
        agent: Agent | None = None,
        on_tool: ToolObserver | None = None,
    ) -> CallParts:
        """Everything the engine needs for one call on a line speaking ``fmt`` (``on_tool``:
        see :meth:`agent`)."""
        return CallParts(
            agent=agent or self.agent(info, on_tool=on_tool),
            recognizer=self.recognizer(info),
            voice=self.voice(info, fmt),
            vad=load_vad(self.settings.vad_engine, fmt.sample_rate),
            vad_executor=self._vad_executor,
            config=self.config,
            lines=self.lines(info),
            recorder=CallRecorder(fmt) if self.settings.record_calls else None,
        )

    # ----------------------------------------------------------- providers
    def _voice(self, name: str, fmt: AudioFormat) -> TextToSpeech:
        """The shared instance of voice ``name`` whose output suits ``fmt`` best."""
        s = self.settings
        if name == "piper":
            assert self._piper is not None, "start() loads Piper"
            return self._piper
        key = (name, fmt)
        voice = self._voices.get(key)
        if voice is not None:
            return voice
        if name == "elevenlabs":
            from voxagent.providers.tts.elevenlabs import ElevenLabsVoice
            from voxagent.providers.tts.elevenlabs_protocol import output_format_for

            voice = ElevenLabsVoice(
                s.elevenlabs_api_key,
                s.elevenlabs_voice_id,
                base_url=s.elevenlabs_base_url,
                model_id=s.elevenlabs_model,
                output_format=output_format_for(fmt),
            )
        elif name == "cartesia":
            from voxagent.providers.tts.cartesia import CartesiaVoice
            from voxagent.providers.tts.cartesia_protocol import output_for

            encoding, rate = output_for(fmt)
            voice = CartesiaVoice(
                s.cartesia_api_key,
                s.cartesia_voice_id,
                base_url=s.cartesia_base_url,
                model_id=s.cartesia_model,
                encoding=encoding,
                sample_rate=rate,
            )
        else:
            raise ValueError(f"unknown voice {name!r}")
        log.debug("voice %s speaks %s for %s calls", name, voice.output_format, fmt)
        self._voices[key] = voice
        return voice

    async def _start_piper(self) -> None:
        if "piper" in self.settings.tts_chain:
            self._piper = await asyncio.to_thread(
                PiperVoiceSynthesizer, workers=self.settings.tts_workers
            )

    async def _start_recognizers(self) -> None:
        s = self.settings
        for name in s.stt_chain:
            if name == "deepgram":
                from voxagent.providers.stt.deepgram import DeepgramRecognizer

                self.recognizers.append(
                    DeepgramRecognizer(
                        s.deepgram_api_key,
                        base_url=s.deepgram_base_url,
                        model=s.deepgram_model,
                        language=s.effective_language,
                        endpointing_ms=s.deepgram_endpointing_ms,
                    )
                )
            else:
                from voxagent.providers.stt.pocketsphinx import PocketSphinxRecognizer

                sphinx = PocketSphinxRecognizer(workers=s.stt_workers)
                await sphinx.warm_up()
                self.recognizers.append(sphinx)

    def _start_brains(self) -> None:
        """The models of LLM_PROVIDER (shared by every call; each call walks its own chain)."""
        from voxagent.providers.llm import make_brain

        s = self.settings
        options = {
            "anthropic": (s.claude_api_key, s.claude_model, s.anthropic_base_url),
            "openai": (s.openai_api_key, s.openai_model, s.openai_base_url),
        }
        for name in s.llm_chain:
            if name == OFFLINE_AGENT:
                break  # the scripted receptionist ends the chain: it cannot fail
            key, model, base_url = options[name]
            self.brains.append(
                make_brain(
                    name, api_key=key, model=model, base_url=base_url, timeout=s.llm_timeout_seconds
                )
            )


def _kept_on_the_turn(observer: ToolObserver | None) -> ToolObserver:
    """Every tool run goes on the record of the turn it answered, then to ``observer``."""

    def observe(name: str, arguments: Mapping[str, Any], result: dict[str, Any]) -> None:
        note_tool(name, arguments, result)
        if observer is not None:
            observer(name, arguments, result)

    return observe
