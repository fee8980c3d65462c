// The page's own barge-in detector (client VAD).
//
// Agent audio played from Web Audio buffers is not removed by the browser's echo
// cancellation (it only cancels audio played from a WebRTC stream), so on laptop speakers the
// agent's own voice reaches the microphone. How loud it comes back depends on the room, the
// volume and the microphone, so the detector learns it: while the agent plays, it compares
// the microphone with what is playing (mic level − played level, the echo's coupling in dB)
// and keeps the 90th percentile of the last ~3 s: the echo comes back at most that loud, and
// quieter wherever the voice dipped, so a median sat several dB too low and let the agent's
// speech peaks through. It learns only from levels it held back (a person talking over the
// agent never teaches it that the echo is loud), and only once the agent has played for
// `echoHoldMs` (before that the mic may be quiet only because the echo is on its way). It
// starts at the worst case (0 dB: the echo as loud as what plays) and its estimate falls by at
// most 16 dB a second while it rises at once.
// While the agent is playing, the user "barges in" only when the microphone is clearly louder
// than that echo could be:
//
//   mic RMS > max(threshold, echo reference × 10^((coupling + margin dB) / 20))
//   for at least holdMs in a row
//
// The echo reference is the RMS of what is being played (the output AnalyserNode), held with
// an exponential decay of `echoHoldMs` so that the echo arriving a little late (speaker →
// room → microphone → processing) is still covered. The server applies the same rule to the
// audio it receives (BROWSER_ECHO_MARGIN_DB), so one of the two always catches a real barge-in.
//
// Defaults (each can be set in the page's address, e.g. ?vadThreshold=0.03&vadMargin=9):
//   vadThreshold = 0.02   absolute floor, RMS of the 16 kHz mic signal (full scale = 1)
//   vadMargin    = 6      dB above the learnt echo level
//   vadHoldMs    = 100    sustained for 100 ms
//   echoHoldMs   = 250    decay time of the echo reference
// One barge-in per agent turn (debounced): `reset()` re-arms it when the next turn starts.

const SAMPLES = 300; // mic levels arrive every 10 ms: 3 s
const MIN_SAMPLES = 100;
const QUANTILE = 0.9;
const FALL_DB_PER_MS = 0.016;
const LOWEST_COUPLING_DB = -30;
const PLAYING = 0.005; // RMS above which the agent counts as audible

const db = (rms) => 20 * Math.log10(Math.max(rms, 1e-6));

export class BargeInDetector {
  constructor({ threshold = 0.02, margin = 6, holdMs = 100, echoHoldMs = 250 } = {}) {
    this.threshold = threshold;
    this.margin = margin;
    this.holdMs = holdMs;
    this.echoHoldMs = echoHoldMs;
    this.echoRef = 0;
    this.aboveMs = 0;
    this.fired = false;
    this.coupling = [];
    this.estimateDb = 0;
    this.playingMs = 0;
  }

  /** The echo's learnt coupling in dB (0 until enough has been heard). */
  get couplingDb() {
    return this.estimateDb;
  }

  learn(differenceDb, dtMs) {
    this.coupling.push(differenceDb);
    if (this.coupling.length > SAMPLES) this.coupling.shift();
    let target = 0;
    if (this.coupling.length >= MIN_SAMPLES) {
      const sorted = [...this.coupling].sort((a, b) => a - b);
      target = Math.max(LOWEST_COUPLING_DB, sorted[Math.floor(QUANTILE * (sorted.length - 1))]);
    }
    this.estimateDb = Math.max(target, this.estimateDb - FALL_DB_PER_MS * dtMs);
  }

  /** The level the mic must exceed right now. */
  get limit() {
    return Math.max(this.threshold, this.echoRef * 10 ** ((this.couplingDb + this.margin) / 20));
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
    const limit = this.limit;
    this.playingMs = this.echoRef > PLAYING ? this.playingMs + dtMs : 0;
    if (this.playingMs >= this.echoHoldMs && micRms <= limit) {
      this.learn(db(micRms) - db(this.echoRef), dtMs);
    }
    if (micRms > limit) this.aboveMs += dtMs;
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
