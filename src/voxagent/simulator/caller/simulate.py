"""Placing one simulated call: render the script, dial ``WS /stream/media``, run the session."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import secrets
import uuid
from collections.abc import Callable

from websockets.asyncio.client import connect

from voxagent.audio.g711 import G711Codec, codec_for
from voxagent.channels.telnyx import media_protocol as proto
from voxagent.simulator.caller.recognizer import _borrow_recognizer, _Recognizer
from voxagent.simulator.caller.results import SimulationResult
from voxagent.simulator.caller.resume import RESUME_WAIT_S
from voxagent.simulator.caller.script import SpeechRenderer, _render_script
from voxagent.simulator.caller.session import _CallSession

__all__ = ["simulate_call"]


def _call_control_id() -> str:
    raw = base64.urlsafe_b64encode(secrets.token_bytes(48)).decode("ascii").rstrip("=")
    return "v3:" + raw


async def simulate_call(
    url: str,
    utterances: list[str],
    *,
    encoding: str = "PCMU",
    barge_in: bool = False,
    barge_in_turn: int = 1,
    auth_token: str | None = None,
    api_key: str | None = None,
    tts: SpeechRenderer | None = None,
    pause_s: float = 0.9,
    reply_timeout_s: float = 15.0,
    transcribe: bool = True,
    wav_path: str | os.PathLike[str] | None = None,
    on_event: Callable[[str], None] | None = None,
    hangup_after_s: float = 2.0,
    max_call_s: float = 600.0,
    call_control_id: str | None = None,
    client_state: str | None = None,
    resumed: bool = False,
    resume_wait_s: float = RESUME_WAIT_S,
) -> SimulationResult:
    """Place one simulated Telnyx call to ``url`` (our ``WS /stream/media``) and report it.

    The caller waits for the greeting, then says each utterance once the agent has been
    quiet for ``pause_s``; a reply that does not start within ``reply_timeout_s`` is
    recorded as a timeout. With ``barge_in``, utterance number ``barge_in_turn`` (0-based
    index into ``utterances``; 0 talks over the greeting, 1 over the reply to the first
    utterance) starts 1 s after the agent's reply begins playing. After the script the
    caller hangs up (``stop`` + close 1000) once the agent has been quiet for
    ``hangup_after_s``, unless the agent hung up first. ``tts`` lets many callers share one
    loaded voice (loading Piper takes ~1.5 s). ``auth_token`` is the per-call stream token
    Telnyx would present; ``api_key`` (one of the server's API_KEYS) lets a simulated call into
    a server that has Telnyx configured. Connection errors propagate (``OSError``,
    ``websockets.exceptions.InvalidHandshake``).

    ``resumed``: the call went on before this stream (its earlier stream ended, and
    ``utterances`` is what is left of the script): no greeting is due, so the caller speaks
    once whatever the agent says first has gone quiet, or after ``resume_wait_s`` of silence.
    The result's ``resume_at`` says where a later stream would go on.
    """
    codec = codec_for(encoding)
    if barge_in and not 0 <= barge_in_turn < len(utterances):
        raise ValueError(
            f"barge_in_turn={barge_in_turn} is not an utterance index (0..{len(utterances) - 1})"
        )
    async with contextlib.AsyncExitStack() as stack:
        recognizer = None
        if transcribe:
            recognizer = await stack.enter_async_context(_borrow_recognizer())
        result = await _place_call(
            url,
            utterances,
            codec,
            barge_in_turn=barge_in_turn if barge_in else None,
            auth_token=auth_token,
            api_key=api_key,
            tts=tts,
            recognizer=recognizer,
            pause_s=pause_s,
            reply_timeout_s=reply_timeout_s,
            hangup_after_s=hangup_after_s,
            max_call_s=max_call_s,
            on_event=on_event,
            call_control_id=call_control_id,
            client_state=client_state,
            resumed=resumed,
            resume_wait_s=resume_wait_s,
        )
    if wav_path is not None:
        await asyncio.to_thread(result.write_wav, wav_path)
    return result


async def _place_call(
    url: str,
    utterances: list[str],
    codec: G711Codec,
    *,
    barge_in_turn: int | None,
    auth_token: str | None,
    api_key: str | None,
    tts: SpeechRenderer | None,
    recognizer: _Recognizer | None,
    pause_s: float,
    reply_timeout_s: float,
    hangup_after_s: float,
    max_call_s: float,
    on_event: Callable[[str], None] | None,
    call_control_id: str | None = None,
    client_state: str | None = None,
    resumed: bool = False,
    resume_wait_s: float = RESUME_WAIT_S,
) -> SimulationResult:
    # The recognizer child loads its model while Piper renders the script.
    warming = asyncio.create_task(recognizer.start()) if recognizer is not None else None
    owned_tts = None
    try:
        if tts is None:
            from voxagent.providers.tts.piper import PiperVoiceSynthesizer

            owned_tts = await asyncio.to_thread(PiperVoiceSynthesizer)
            tts = owned_tts
        script = await _render_script(utterances, tts, codec, barge_in_turn)
    finally:
        if owned_tts is not None:
            await owned_tts.close()
        if warming is not None:
            await warming
    result = SimulationResult(
        url=url,
        encoding=codec.name,
        stream_id=str(uuid.uuid4()).upper(),
        call_control_id=call_control_id or _call_control_id(),
    )
    headers = {"x-telnyx-streaming-auth-token": auth_token} if auth_token else {}
    if api_key:
        headers["x-api-key"] = api_key
    async with connect(
        url,
        additional_headers=headers,
        compression=None,  # Telnyx sends plain frames; deflate would cost CPU per frame
        max_size=proto.MAX_OUTBOUND_MESSAGE_BYTES,
        user_agent_header="voxagent-simulated-caller",
    ) as ws:
        session = _CallSession(
            ws,
            result,
            script,
            codec,
            auth_token=auth_token,
            pause_s=pause_s,
            reply_timeout_s=reply_timeout_s,
            hangup_after_s=hangup_after_s,
            max_call_s=max_call_s,
            recognizer=recognizer,
            on_event=on_event,
            client_state=client_state,
            resumed=resumed,
            resume_wait_s=resume_wait_s,
        )
        await session.run()
        session.finish_result()
    return result
