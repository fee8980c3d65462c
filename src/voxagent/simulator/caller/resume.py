"""Where the caller's script goes on when its media stream ends and a new one begins.

A call can outlive its stream: the server hands the call to another instance between turns
(``streaming_stop``, then ``streaming_start`` elsewhere), or its instance dies and a survivor
streams the call to itself. A person on such a call goes on where the conversation was: with
the next line when the agent had answered the last one, else with the same line again (the
agent's answer was cut off, or the person was cut off mid-sentence). Pure, so the rule is
unit-tested with plain numbers.
"""

from __future__ import annotations

__all__ = ["ANSWERED_QUIET_S", "PLANNED_SLACK_S", "PLANNED_STOP", "RESUME_WAIT_S", "resume_line"]

ANSWERED_QUIET_S = 0.3
"""When a stream dropped, the agent's reply counts as complete only if the caller had heard
nothing from it for this long (a shorter gap may be a pause between two sentences)."""
PLANNED_SLACK_S = 0.3
"""When a stream was stopped on purpose, the server chose a moment between turns by its own
clock: a reply with no more than this left to play out counts as heard."""
PLANNED_STOP = "streaming_stop"
"""The close reason on the simulated party's socket when the network ended the stream because
it was told to (``streaming_stop``), as opposed to a dropped stream."""
RESUME_WAIT_S = 2.0
"""On a resumed stream the agent may say nothing (a planned hand-over): after this much
silence the caller goes on with its script."""


def resume_line(
    last_line: int | None,
    *,
    mid_utterance: bool,
    reply_frames: int,
    quiet_s: float,
    unplayed_s: float,
    planned: bool,
) -> int:
    """The script line a next stream starts from, given how this one ended.

    ``last_line``: the script index of the last utterance the caller began (``None``: it
    said nothing). ``mid_utterance``: the stream ended while it was saying it.
    ``reply_frames``: agent audio frames received after it. ``quiet_s``: how long the
    agent's audio had been silent (played out) when the stream ended, 0 while still playing;
    ``unplayed_s``: how much of it was still queued then. ``planned``: the stream was
    stopped on purpose (:data:`PLANNED_STOP`), not dropped.
    """
    if last_line is None:
        return 0
    if mid_utterance or reply_frames <= 0:
        return last_line
    # A stop was timed by the server between turns; a drop can fall between two sentences.
    answered = unplayed_s <= PLANNED_SLACK_S if planned else quiet_s >= ANSWERED_QUIET_S
    return last_line + 1 if answered else last_line
