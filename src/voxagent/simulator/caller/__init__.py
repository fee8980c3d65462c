"""A simulated phone caller that plays Telnyx's side of a media stream against our server.

It lets people develop and load-test an agent without a phone number, and it is the engine
of the end-to-end tests. The caller connects to ``WS /stream/media`` exactly as Telnyx
would (``connected``, ``start``, then one 20 ms ``media`` frame at a time, paced by the
wall clock), speaks a script synthesized with Piper, listens to the agent through a model
of Telnyx's playout buffer (marks echoed when the audio before them has played, ``clear``
drops what is queued), and transcribes what it heard with PocketSphinx (in a child
process: the binding holds the GIL and would stall the 20 ms send clock).

Layout: the pure pieces know nothing about sockets or clocks and are unit-tested with plain
data: ``playout`` (:class:`Playout`, :class:`FrameClock`, frame slicing) and ``results``
(:class:`SimulationResult`, barge-in arithmetic, the printed dialogue). ``script`` renders
the utterances before dialling, ``recognizer`` runs PocketSphinx in its child process,
``session`` is the thin asyncio layer that drives one call on its socket, and ``simulate``
places the call (:func:`simulate_call`). ``resume`` (pure) says where the script goes on when
a call's stream ends and a new one begins (:func:`resume_line`; ``simulate_call(resumed=True)``
plays the caller on such a later stream).

Cost: benchmarks run tens of callers in one process, so everything per frame is a slice
lookup plus one JSON/base64 build. Utterances are encoded to G.711 once, before dialling,
and pre-cut into 160-byte frames; line noise is a pre-encoded loop of frames.
"""

from voxagent.simulator.caller.playout import (
    Cleared,
    FrameClock,
    Playout,
    line_noise_frames,
    split_frames,
)
from voxagent.simulator.caller.results import (
    BargeInResult,
    SimulationResult,
    Turn,
    measure_barge_in,
    percentile,
)
from voxagent.simulator.caller.resume import RESUME_WAIT_S, resume_line
from voxagent.simulator.caller.script import DEFAULT_SCRIPT, SpeechRenderer, trim_silence
from voxagent.simulator.caller.simulate import simulate_call

__all__ = [
    "DEFAULT_SCRIPT",
    "RESUME_WAIT_S",
    "BargeInResult",
    "Cleared",
    "FrameClock",
    "Playout",
    "SimulationResult",
    "SpeechRenderer",
    "Turn",
    "line_noise_frames",
    "measure_barge_in",
    "percentile",
    "resume_line",
    "simulate_call",
    "split_frames",
    "trim_silence",
]
