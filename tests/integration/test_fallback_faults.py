"""Every provider fault, injected into the real client talking to its fake, is survived by
the fallback chain: the next provider answers the same request, and the switch says why."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import numpy as np
import pytest

from fakes.deepgram_server import FakeDeepgram
from fakes.engine import PCM_8K, collect
from fakes.tts_servers import FakeCartesia, FakeElevenLabs
from voxagent.audio.format import PCMU_8K, AudioFormat
from voxagent.providers.fallback import FallbackRecognizer, FallbackVoice, ProviderChain
from voxagent.providers.stt.deepgram import DeepgramRecognizer
from voxagent.providers.tts.cartesia import CartesiaVoice
from voxagent.providers.tts.elevenlabs import ElevenLabsVoice

pytestmark = pytest.mark.timeout(20)

TIMEOUTS = {"first_byte_timeout_s": 0.3, "stall_timeout_s": 0.3, "connect_timeout_s": 1.0}


class BackupVoice:
    """The offline voice's stand-in: one second of a steady tone per request."""

    name = "backup"
    output_format = PCM_8K

    async def synthesize(self, text: str) -> AsyncGenerator[bytes, None]:
        yield PCM_8K.encode(np.full(8000, 1234, dtype=np.int16))

    async def close(self) -> None:
        pass


VOICE_FAULTS: list[tuple[str, dict[str, Any], str]] = [
    ("bad key", {"api_key": "someone-elses-key"}, "ProviderAuthError"),
    ("429", {"rate_limited": True}, "ProviderQuotaError"),
    ("slow first byte", {"first_byte_delay": 3.0}, "ProviderConnectionError"),
    ("mid-stream drop", {"drop_after_chunks": 1}, "ProviderConnectionError"),
]


@pytest.mark.parametrize("vendor", ["elevenlabs", "cartesia"])
@pytest.mark.parametrize(
    ("fault", "switches", "error"), VOICE_FAULTS, ids=[f[0] for f in VOICE_FAULTS]
)
async def test_each_voice_fault_hands_the_sentence_to_the_next_voice(
    vendor: str, fault: str, switches: dict[str, Any], error: str
) -> None:
    fake_class = FakeElevenLabs if vendor == "elevenlabs" else FakeCartesia
    async with fake_class() as fake:
        key = fake.api_key
        for name, value in switches.items():
            setattr(fake, name, value)
        cloud: Any = (
            ElevenLabsVoice(key, "voice-1", base_url=fake.base_url, **TIMEOUTS)  # type: ignore[arg-type]
            if vendor == "elevenlabs"
            else CartesiaVoice(key, "voice-1", base_url=fake.base_url, **TIMEOUTS)  # type: ignore[arg-type]
        )
        seen: list[tuple[str, str, str, str]] = []
        voice = FallbackVoice(
            ProviderChain("tts", [cloud, BackupVoice()], on_switch=lambda *s: seen.append(s)),
            PCM_8K,
        )
        audio = PCM_8K.decode(await collect(voice.synthesize("Hello there, how are you?")))
        await cloud.close()
    assert (audio == 1234).sum() == 8000, "the backup voice spoke the whole sentence"
    assert voice.name == "backup"
    assert [(s[0], s[1], s[2]) for s in seen] == [("tts", vendor, "backup")]
    assert seen[0][3].startswith(f"{vendor}:"), "the switch says why"
    assert voice.chain.errors[0] == error


class BackupRecognizer:
    name = "backup"
    languages = frozenset({"en"})

    def __init__(self) -> None:
        self.streams: list[BackupStream] = []

    def open_stream(self, fmt: AudioFormat, on_interim: object) -> BackupStream:
        self.streams.append(BackupStream(fmt))
        return self.streams[-1]

    async def close(self) -> None:
        pass


class BackupStream:
    def __init__(self, fmt: AudioFormat) -> None:
        self.format = fmt
        self.audio = bytearray()

    def feed(self, audio: bytes) -> None:
        self.audio += audio

    async def finish(self) -> str:
        return f"backup heard {len(self.audio) // self.format.bytes_per_sample} samples"

    def abort(self) -> None:
        pass


STT_FAULTS: list[tuple[str, dict[str, Any]]] = [
    ("bad key", {"reject_all_keys": True}),
    ("429 on every try", {"rate_limited_handshakes": 100}),
]


@pytest.mark.parametrize(("fault", "switches"), STT_FAULTS, ids=[f[0] for f in STT_FAULTS])
async def test_each_recognizer_fault_hands_the_utterance_to_the_next(
    fault: str, switches: dict[str, Any]
) -> None:
    async with FakeDeepgram(**switches) as fake:
        cloud = DeepgramRecognizer(fake.api_key, base_url=fake.url, backoff_s=0.01)
        backup = BackupRecognizer()
        stt = FallbackRecognizer(ProviderChain("stt", [cloud, backup]))  # type: ignore[list-item]
        stream = stt.open_stream(PCMU_8K, lambda _: None)
        speech = PCMU_8K.encode(fake.speak("yes please"))
        for i in range(0, len(speech), 160):
            stream.feed(speech[i : i + 160])
        text = await stream.finish()
        await cloud.close()
    assert text == f"backup heard {len(speech)} samples", "the same utterance, not a word lost"
    (replayed,) = backup.streams
    assert replayed.format == PCMU_8K and bytes(replayed.audio) == speech, "replayed untouched"
    assert stt.name == "backup"
