"""Resampling keeps the signal (frequency, level) and streaming matches one-shot."""

from __future__ import annotations

import numpy as np
import pytest

from voxagent.audio.resample import StreamResampler, float_to_int16, resample

FRAME_8K = 160  # 20 ms at 8 kHz


def sine(freq: float, rate: int, seconds: float = 1.0, amplitude: float = 10_000) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return np.rint(amplitude * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def peak_hz(pcm: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(pcm.astype(np.float64) * np.hanning(len(pcm))))
    return float(np.fft.rfftfreq(len(pcm), 1 / rate)[np.argmax(spectrum)])


def rms(pcm: np.ndarray) -> float:
    return float(np.sqrt(np.mean(pcm.astype(np.float64) ** 2)))


def test_one_shot_8k_16k_8k_keeps_a_440hz_sine() -> None:
    x = sine(440, 8000)
    up = resample(x, 8000, 16000)
    assert up.dtype == np.int16
    assert len(up) == 16000
    assert abs(peak_hz(up, 16000) - 440) <= 1.0
    down = resample(up, 16000, 8000)
    assert len(down) == 8000
    assert abs(peak_hz(down, 8000) - 440) <= 1.0
    edge = 400  # ignore filter edge effects at both ends
    assert rms(down[edge:-edge]) == pytest.approx(rms(x[edge:-edge]), rel=0.02)
    assert np.max(np.abs(down[edge:-edge].astype(int) - x[edge:-edge])) < 200


def stream_through(resampler: StreamResampler, pcm: np.ndarray, piece: int) -> np.ndarray:
    parts = [resampler.process(pcm[i : i + piece]) for i in range(0, len(pcm), piece)]
    parts.append(resampler.flush())
    return np.concatenate(parts)


def test_streaming_20ms_pieces_matches_one_shot() -> None:
    x = sine(440, 8000)
    streamed = stream_through(StreamResampler(8000, 16000), x, FRAME_8K)
    one_shot = resample(x, 8000, 16000)
    assert streamed.dtype == np.int16
    assert abs(len(streamed) - len(one_shot)) <= 4
    n = min(len(streamed), len(one_shot))
    # Same filter, same alignment: differences are only libsoxr's int16 dither.
    assert np.max(np.abs(streamed[:n].astype(int) - one_shot[:n])) <= 4


def test_streaming_round_trip_keeps_the_sine() -> None:
    x = sine(440, 8000)
    up = StreamResampler(8000, 16000)
    down = StreamResampler(16000, 8000)
    out = [down.process(up.process(x[i : i + FRAME_8K])) for i in range(0, len(x), FRAME_8K)]
    out.append(down.process(up.flush()))
    out.append(down.flush())
    y = np.concatenate(out)
    assert abs(len(y) - len(x)) <= 4
    assert abs(peak_hz(y[: len(x)], 8000) - 440) <= 1.0
    assert rms(y[400:-400]) == pytest.approx(rms(x[400:-400]), rel=0.02)


def test_flush_resets_for_the_next_stream() -> None:
    resampler = StreamResampler(22050, 8000)
    x = sine(300, 22050, seconds=0.5)
    first = stream_through(resampler, x, 441)
    second = stream_through(resampler, x, 441)
    assert abs(len(first) - 4000) <= 4
    assert len(first) == len(second)
    assert np.max(np.abs(first.astype(int) - second)) <= 4


def test_passthrough_when_rates_match() -> None:
    resampler = StreamResampler(8000, 8000)
    assert resampler.passthrough
    x = sine(440, 8000, seconds=0.02)
    assert resampler.process(x) is x
    assert resampler.flush().shape == (0,)
    copy = resample(x, 8000, 8000)
    assert np.array_equal(copy, x)
    assert copy is not x


def test_process_accepts_strided_views_and_empty_chunks() -> None:
    resampler = StreamResampler(16000, 8000)
    x = sine(440, 16000, seconds=0.2)
    assert resampler.process(x[:0]).shape == (0,)
    out = stream_through(resampler, x[::2], 160)  # 8 kHz content in a strided view
    assert out.dtype == np.int16


def test_rejects_wrong_input() -> None:
    with pytest.raises(TypeError, match="int16"):
        StreamResampler(8000, 16000).process(np.zeros(160, dtype=np.float32))
    with pytest.raises(ValueError, match="mono"):
        StreamResampler(8000, 16000).process(np.zeros((160, 2), dtype=np.int16))
    with pytest.raises(ValueError, match="positive"):
        StreamResampler(0, 16000)


def test_one_shot_handles_stereo() -> None:
    x = np.stack([sine(440, 8000), sine(1000, 8000)], axis=1)
    y = resample(x, 8000, 16000)
    assert y.shape == (16000, 2)
    assert abs(peak_hz(y[:, 1], 16000) - 1000) <= 1.0


def test_float_to_int16_scales_rounds_and_clips() -> None:
    x = np.array([-2.0, -1.0, -0.25, 0.0, 0.25, 1.0, 1.5], dtype=np.float32)
    assert float_to_int16(x).tolist() == [-32767, -32767, -8192, 0, 8192, 32767, 32767]
    assert float_to_int16(x).dtype == np.int16
