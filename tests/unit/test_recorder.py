"""The call recording: caller left, agent right, on the caller's clock."""

from __future__ import annotations

import io
import wave

import numpy as np

from voxagent.audio.format import PCMU_8K, AudioFormat, Encoding
from voxagent.audio.g711 import ulaw_encode
from voxagent.conversation.recorder import CallRecorder

PCM_8K = AudioFormat(Encoding.PCM16, 8000)


def frame(value: int, n: int = 160) -> bytes:
    return np.full(n, value, dtype=np.int16).tobytes()


def test_agent_audio_lands_where_the_caller_clock_stands() -> None:
    rec = CallRecorder(PCM_8K)
    for _ in range(5):
        rec.caller(frame(1))
    rec.agent(frame(7))  # sent after 100 ms of caller audio
    rec.agent(frame(8))  # sent ahead of real time: right after the previous frame
    rec.caller(frame(1))
    stereo = rec.stereo()
    assert stereo.shape == (1120, 2)
    assert (stereo[:960, 0] == 1).all()
    assert (stereo[:800, 1] == 0).all()
    assert (stereo[800:960, 1] == 7).all() and (stereo[960:1120, 1] == 8).all()
    assert rec.duration_ms == 140


def test_a_barge_in_drops_agent_audio_the_caller_never_heard() -> None:
    rec = CallRecorder(PCM_8K)
    for _ in range(4):
        rec.agent(frame(5))  # 80 ms sent ahead of the caller's clock
    rec.caller(frame(1))  # 20 ms later the caller talks over it
    rec.cut_agent()
    rec.caller(frame(1))
    rec.agent(frame(6))  # the next answer starts at the caller's clock
    stereo = rec.stereo()
    assert (stereo[:160, 1] == 5).all()
    assert (stereo[160:320, 1] == 0).all()
    assert (stereo[320:480, 1] == 6).all()
    assert len(stereo) == 480


def test_the_wav_is_stereo_16_bit_at_the_call_rate() -> None:
    rec = CallRecorder(PCM_8K)
    rec.caller(frame(3, 8000))
    with wave.open(io.BytesIO(rec.wav())) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (2, 2, 8000)
        assert wav.getnframes() == 8000


def test_a_phone_call_is_kept_as_its_own_bytes_and_decoded_for_the_wav() -> None:
    rec = CallRecorder(PCMU_8K)
    tone = (np.sin(np.arange(1600) / 3) * 8000).astype(np.int16)
    rec.caller(ulaw_encode(tone))
    rec.agent(ulaw_encode(tone[:160]))
    stereo = rec.stereo()
    assert stereo.shape == (1760, 2)
    assert np.abs(stereo[:1600, 0].astype(int) - tone).max() < 300  # μ-law step size
    assert (stereo[:1600, 1] == 0).all()  # the agent spoke after the caller's 200 ms
    assert np.abs(stereo[1600:, 1]).max() > 1000
    assert rec.duration_ms == 220


def test_a_long_recording_lives_on_disk_not_in_memory() -> None:
    import tracemalloc

    rec = CallRecorder(PCMU_8K)
    frame_bytes = b"\x55" * 160
    tracemalloc.start()
    before, _ = tracemalloc.get_traced_memory()
    for i in range(50 * 60 * 5):  # five minutes of caller audio, the agent talking half of it
        rec.caller(frame_bytes)
        if i % 2:
            rec.agent(frame_bytes)
    after, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert after - before < 200_000  # 2.4 MB of audio went to the files
    assert rec.duration_ms == 5 * 60 * 1000 + 20  # the last agent frame is at the end
    assert rec.stereo().shape == (8000 * 60 * 5 + 160, 2)
    rec.close()
