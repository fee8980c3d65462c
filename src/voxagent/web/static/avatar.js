// The avatar's mouth follows the RMS of the agent audio being played (from the output's
// AnalyserNode), once per displayed frame, with exponential smoothing:
//   target  = min(1, rms × gain)            (0 below `gate`, or when nothing is playing)
//   opening = target + (opening − target) × smoothing^(frame time / 16.7 ms)
// so `smoothing` is the share of the previous opening kept per 60 Hz frame, whatever the
// display rate (0: follows instantly; 0.9: very smooth). At rest the opening is exactly 0.
// The opening (0..1) is drawn as the mouth ellipse's `ry` and kept in its `data-open`.

export const REST_RY = 1.5; // a closed mouth: a line
export const OPEN_RY = 14; // wide open

export class Avatar {
  /**
   * @param {SVGEllipseElement} mouth
   * @param {{gain: number, smoothing: number, gate: number}} o
   */
  constructor(mouth, { gain = 6, smoothing = 0.5, gate = 0.004 } = {}) {
    this.mouth = mouth;
    this.gain = gain;
    this.smoothing = Math.min(Math.max(smoothing, 0), 0.99);
    this.gate = gate;
    this.open = 0;
    this.maxOpen = 0;
    this.drawn = -1;
    this.draw();
  }

  /** One display frame: `rms` of the output, `dtMs` since the last frame, `active` = audio playing. */
  update(rms, dtMs, active) {
    const target = active && rms > this.gate ? Math.min(1, rms * this.gain) : 0;
    const keep = this.smoothing ** (Math.min(Math.max(dtMs, 0), 250) / (1000 / 60));
    this.open = target + (this.open - target) * keep;
    if (target === 0 && this.open < 0.01) this.open = 0;
    if (this.open > this.maxOpen) this.maxOpen = this.open;
    this.draw();
  }

  /** Closes the mouth at once (barge-in, end). */
  rest() {
    this.open = 0;
    this.draw();
  }

  draw() {
    const value = Math.round(this.open * 1000) / 1000;
    if (value === this.drawn) return;
    this.drawn = value;
    this.mouth.setAttribute("ry", (REST_RY + value * (OPEN_RY - REST_RY)).toFixed(2));
    this.mouth.setAttribute("data-open", value.toFixed(3));
  }
}
