"""Signal level measurement for meters, logs and silence checks."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

__all__ = ["SILENCE_FLOOR_DBFS", "rms_dbfs"]

SILENCE_FLOOR_DBFS = -120.0
"""Reported for digital silence (and empty input) instead of -inf, so values stay
finite for JSON, Prometheus histograms and arithmetic."""

_FULL_SCALE = 32768.0


def rms_dbfs(pcm: npt.NDArray[np.int16]) -> float:
    """RMS level of int16 samples in dB relative to full scale (a full-scale square is 0 dBFS).

    One float dot product; about a microsecond for a 20 ms frame.
    """
    if pcm.size == 0:
        return SILENCE_FLOOR_DBFS
    x = pcm.reshape(-1).astype(np.float64)
    mean_square = float(np.dot(x, x)) / x.size
    if mean_square <= 0.0:
        return SILENCE_FLOOR_DBFS
    return max(SILENCE_FLOOR_DBFS, 10.0 * math.log10(mean_square / (_FULL_SCALE * _FULL_SCALE)))
