// The page's own barge-in detector (client VAD).
//
// Agent audio played from Web Audio buffers is not removed by the browser's echo
// cancellation (it only cancels audio played from a WebRTC stream), so on laptop speakers the
// agent's own voice reaches the microphone. While the agent is playing, the user "barges in"
// only when the microphone is clearly louder than that echo could be:
//
//   mic RMS > max(threshold, echo reference × margin)   for at least holdMs in a row
//
// The echo reference is the RMS of what is being played (the output AnalyserNode), held with
// an exponential decay of `echoHoldMs` so that the echo arriving a little late (speaker →
// room → microphone → processing) is still covered.
//
// Defaults (each can be set in the page's address, e.g. ?vadThreshold=0.03&vadMargin=3):
//   vadThreshold = 0.02   absolute floor, RMS of the 16 kHz mic signal (full scale = 1)
//   vadMargin    = 2      the mic must be 2× (+6 dB) louder than the played audio
//   vadHoldMs    = 100    sustained for 100 ms
//   echoHoldMs   = 250    decay time of the echo reference
// One barge-in per agent turn (debounced): `reset()` re-arms it when the next turn starts.

export class BargeInDetector {
  constructor({ threshold = 0.02, margin = 2, holdMs = 100, echoHoldMs = 250 } = {}) {
    this.threshold = threshold;
    this.margin = margin;
    this.holdMs = holdMs;
    this.echoHoldMs = echoHoldMs;
    this.echoRef = 0;
    this.aboveMs = 0;
    this.fired = false;
  }

  /** The level the mic must exceed right now. */
  get limit() {
    return Math.max(this.threshold, this.echoRef * this.margin);
  }

  /**
   * One mic level (every `dtMs`): returns true exactly once per turn, when the user has been
   * louder than the limit for `holdMs` while the agent was playing.
   */
  feed(micRms, playbackRms, agentPlaying, dtMs) {
    this.echoRef = Math.max(playbackRms, this.echoRef * Math.exp(-dtMs / this.echoHoldMs));
    if (!agentPlaying || this.fired) {
      this.aboveMs = 0;
      return false;
    }
    if (micRms > this.limit) this.aboveMs += dtMs;
    else this.aboveMs = 0;
    if (this.aboveMs >= this.holdMs) {
      this.fired = true;
      this.aboveMs = 0;
      return true;
    }
    return false;
  }

  /** A new agent turn: one more barge-in allowed. */
  reset() {
    this.fired = false;
    this.aboveMs = 0;
  }
}
