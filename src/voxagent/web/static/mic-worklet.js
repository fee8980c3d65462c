// AudioWorklet processor: the microphone, resampled to 16 kHz mono Int16 little-endian.
//
// The AudioContext runs at the device rate (usually 48 kHz or 44.1 kHz). Dropping samples
// would fold everything above 8 kHz back into the speech band, so each output sample is
// computed by a windowed-sinc low-pass filter evaluated at the exact (fractional) input
// position: a polyphase resampler whose table holds PHASES sub-sample shifts of one
// Kaiser-windowed sinc.
//   cutoff       7.6 kHz (below the 8 kHz Nyquist frequency of the output)
//   taps         2·HALF, HALF = ceil(20 · input rate / 16 kHz): 120 taps at 48 kHz, 112 at 44.1 kHz
//   window       Kaiser, β = 8 (stop band ≈ 80 dB, transition band ≈ 2 kHz: everything that
//                would alias below ≈ 7.4 kHz is attenuated by ≈ 80 dB)
//   phases       256, nearest phase (48 kHz → 16 kHz is an exact 3:1 and uses phase 0 only)
// Each phase is normalized to unity gain at DC.
//
// Messages to the main thread:
//   {type: "chunk", pcm: ArrayBuffer}  every CHUNK output samples (640 = 40 ms = 1280 bytes)
//   {type: "level", rms}               every LEVEL output samples (160 = 10 ms), RMS of the
//                                      16 kHz signal in 0..1 (for the page's barge-in VAD)
// Options (processorOptions): {chunkSamples, levelSamples}. The message "stop" ends it.

const OUT_RATE = 16000;
const CUTOFF_HZ = 7600;
const KAISER_BETA = 8;
const PHASES = 256;

function besselI0(x) {
  // Power series of the modified Bessel function of the first kind, order 0.
  let sum = 1;
  let term = 1;
  const q = (x * x) / 4;
  for (let k = 1; k < 50; k++) {
    term *= q / (k * k);
    sum += term;
    if (term < sum * 1e-12) break;
  }
  return sum;
}

class Resampler {
  constructor(inRate) {
    this.step = inRate / OUT_RATE; // input samples per output sample
    const cutoff = Math.min(CUTOFF_HZ, 0.475 * Math.min(inRate, OUT_RATE * 2)) / inRate; // cycles/sample
    this.half = Math.ceil(20 * Math.max(1, this.step));
    const taps = 2 * this.half;
    this.taps = taps;
    this.table = new Float32Array((PHASES + 1) * taps);
    const i0b = besselI0(KAISER_BETA);
    for (let p = 0; p <= PHASES; p++) {
      const frac = p / PHASES;
      let sum = 0;
      for (let k = 0; k < taps; k++) {
        // distance (in input samples) between the output position and input tap k
        const d = frac + this.half - 1 - k;
        const x = 2 * cutoff * d;
        const sinc = x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
        const r = d / this.half;
        const w = Math.abs(r) >= 1 ? 0 : besselI0(KAISER_BETA * Math.sqrt(1 - r * r)) / i0b;
        const h = 2 * cutoff * sinc * w;
        this.table[p * taps + k] = h;
        sum += h;
      }
      for (let k = 0; k < taps; k++) this.table[p * taps + k] /= sum;
    }
    // input history: starts with `half` zeros so the first output sample has its left taps
    this.buf = new Float32Array(8192);
    this.len = this.half;
    this.pos = this.half; // position of the next output sample, in input samples, in `buf`
  }

  // Feeds input samples; calls emit(sample) for every output sample that is ready.
  push(input, emit) {
    if (this.len + input.length > this.buf.length) {
      // drop what no future output sample needs
      const drop = Math.max(0, Math.floor(this.pos) - this.half);
      this.buf.copyWithin(0, drop, this.len);
      this.len -= drop;
      this.pos -= drop;
      if (this.len + input.length > this.buf.length) {
        const bigger = new Float32Array((this.len + input.length) * 2);
        bigger.set(this.buf.subarray(0, this.len));
        this.buf = bigger;
      }
    }
    this.buf.set(input, this.len);
    this.len += input.length;
    const { buf, table, taps, half, step } = this;
    let pos = this.pos;
    while (Math.floor(pos) + half < this.len) {
      let i0 = Math.floor(pos);
      let p = Math.round((pos - i0) * PHASES);
      if (p === PHASES) {
        p = 0;
        i0 += 1;
      }
      const start = i0 - half + 1;
      const off = p * taps;
      let acc = 0;
      for (let k = 0; k < taps; k++) acc += buf[start + k] * table[off + k];
      emit(acc);
      pos += step;
    }
    this.pos = pos;
  }
}

class MicProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const opts = (options && options.processorOptions) || {};
    this.chunkSamples = opts.chunkSamples || 640;
    this.levelSamples = opts.levelSamples || 160;
    this.resampler = new Resampler(sampleRate);
    this.chunk = new Int16Array(this.chunkSamples);
    this.filled = 0;
    this.levelSum = 0;
    this.levelCount = 0;
    this.mono = new Float32Array(128);
    this.alive = true;
    this.port.onmessage = ({ data }) => {
      if (data === "stop") this.alive = false;
    };
    this.emit = (s) => {
      this.levelSum += s * s;
      if (++this.levelCount === this.levelSamples) {
        this.port.postMessage({ type: "level", rms: Math.sqrt(this.levelSum / this.levelCount) });
        this.levelSum = 0;
        this.levelCount = 0;
      }
      const c = s >= 1 ? 32767 : s <= -1 ? -32768 : Math.round(s * 32767);
      this.chunk[this.filled++] = c;
      if (this.filled === this.chunkSamples) {
        // Int16Array in the platform's order: every browser that runs Web Audio is little-endian
        const pcm = this.chunk.buffer;
        this.port.postMessage({ type: "chunk", pcm }, [pcm]);
        this.chunk = new Int16Array(this.chunkSamples);
        this.filled = 0;
      }
    };
  }

  process(inputs) {
    const input = inputs[0];
    if (input && input.length > 0 && input[0].length > 0) {
      const n = input[0].length;
      let mono = input[0];
      if (input.length > 1) {
        if (this.mono.length !== n) this.mono = new Float32Array(n);
        mono = this.mono;
        mono.fill(0);
        for (const ch of input) for (let i = 0; i < n; i++) mono[i] += ch[i] / input.length;
      }
      this.resampler.push(mono, this.emit);
    }
    return this.alive; // runs until the page says "stop"
  }
}

registerProcessor("vox-mic", MicProcessor);
