"""WAV files round-trip exactly; anything but 16-bit PCM is refused clearly."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from voxagent.audio.wav import read_wav, write_wav


def noise(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(-32768, 32768, size=shape, dtype=np.int16)


def test_mono_round_trip(tmp_path: Path) -> None:
    pcm = noise((8000,))
    path = tmp_path / "mono.wav"
    write_wav(path, pcm, 8000)
    back, rate = read_wav(path)
    assert rate == 8000
    assert back.dtype == np.int16
    assert back.shape == (8000,)
    assert np.array_equal(back, pcm)
    back[0] = 1  # returned samples are writable, not a view of the file buffer


def test_stereo_round_trip(tmp_path: Path) -> None:
    pcm = noise((4410, 2), seed=1)
    path = str(tmp_path / "stereo.wav")  # plain str paths work too
    write_wav(path, pcm, 44100)
    back, rate = read_wav(path)
    assert rate == 44100
    assert back.shape == (4410, 2)
    assert np.array_equal(back, pcm)
    with wave.open(path) as wav:
        assert (wav.getnchannels(), wav.getsampwidth()) == (2, 2)


def test_empty_round_trip(tmp_path: Path) -> None:
    write_wav(tmp_path / "empty.wav", np.zeros(0, dtype=np.int16), 16000)
    back, rate = read_wav(tmp_path / "empty.wav")
    assert (back.shape, rate) == ((0,), 16000)


def test_non_contiguous_input_is_written_correctly(tmp_path: Path) -> None:
    stereo = noise((1000, 2), seed=2)
    write_wav(tmp_path / "left.wav", stereo[:, 0], 8000)
    back, _ = read_wav(tmp_path / "left.wav")
    assert np.array_equal(back, stereo[:, 0])


def test_read_rejects_8_bit(tmp_path: Path) -> None:
    path = tmp_path / "8bit.wav"
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(1)
        wav.setframerate(8000)
        wav.writeframes(bytes(100))
    with pytest.raises(ValueError, match="16-bit"):
        read_wav(path)


def test_read_rejects_non_pcm(tmp_path: Path) -> None:
    path = tmp_path / "float.wav"
    fmt = (3).to_bytes(2, "little") + (1).to_bytes(2, "little") + (8000).to_bytes(4, "little")
    fmt += (32000).to_bytes(4, "little") + (4).to_bytes(2, "little") + (32).to_bytes(2, "little")
    data = bytes(16)
    body = b"WAVE" + b"fmt " + len(fmt).to_bytes(4, "little") + fmt
    body += b"data" + len(data).to_bytes(4, "little") + data
    path.write_bytes(b"RIFF" + len(body).to_bytes(4, "little") + body)
    with pytest.raises(ValueError, match="16-bit PCM"):
        read_wav(path)


@pytest.mark.parametrize(
    ("pcm", "match"),
    [
        (np.zeros(10, dtype=np.float32), "int16"),
        (np.zeros((2, 2, 2), dtype=np.int16), "shape"),
    ],
)
def test_write_rejects_bad_input(tmp_path: Path, pcm: np.ndarray, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        write_wav(tmp_path / "bad.wav", pcm, 8000)
