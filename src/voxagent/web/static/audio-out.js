// Playback of the agent's audio: each chunk (Int16 LE mono, 16 kHz) becomes a 16 kHz
// AudioBuffer (the browser resamples it to the context's rate) scheduled right where the
// previous one ends, so chunks play back to back with no gap. When the queue has run dry the
// next chunk starts `jitterMs` from now (a small cushion against network jitter).
//
// Output path: sources → gain → AnalyserNode → destination. The analyser gives the RMS of
// what is actually being played (the avatar's mouth, the barge-in echo reference, tests).

export const SAMPLE_RATE = 16000;

/** Int16 little-endian PCM (ArrayBuffer or typed array) as Float32 samples in -1..1. */
export function pcmToFloat32(pcm) {
  let bytes;
  if (pcm instanceof ArrayBuffer) bytes = new Uint8Array(pcm);
  else if (ArrayBuffer.isView(pcm)) bytes = new Uint8Array(pcm.buffer, pcm.byteOffset, pcm.byteLength);
  else return new Float32Array(0);
  const n = bytes.byteLength >> 1;
  const view = new DataView(bytes.buffer, bytes.byteOffset, n * 2);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = view.getInt16(2 * i, true) / 32768;
  return out;
}

/** RMS (0..1) of an AnalyserNode's current window (`window`: a Float32Array of its fftSize). */
export function analyserRms(analyser, window) {
  analyser.getFloatTimeDomainData(window);
  let sum = 0;
  for (let i = 0; i < window.length; i++) sum += window[i] * window[i];
  return Math.sqrt(sum / window.length);
}

export class Player {
  constructor(ctx, { jitterMs = 30 } = {}) {
    this.ctx = ctx;
    this.jitter = Math.max(0, jitterMs) / 1000;
    this.gain = ctx.createGain();
    this.analyser = ctx.createAnalyser();
    this.analyser.fftSize = 1024; // ≈ 21 ms at 48 kHz
    this.analyser.smoothingTimeConstant = 0;
    this.gain.connect(this.analyser);
    this.analyser.connect(ctx.destination);
    this.window = new Float32Array(this.analyser.fftSize);
    this.queue = []; // {src, seq, sentence, start, end}, in play order
    this.endTime = 0; // context time at which the last scheduled chunk ends
    this.openSentence = null; // sentence of the last chunk, until its audio_end
    this.lastPlayedSeq = null; // seq of the last chunk that played to its end
    this.playedChunks = 0; // chunks played to their end (all turns)
    this.turnPlayedSec = 0; // seconds played to the end in this agent turn
    this.underruns = 0;
    this.maxRms = 0;
    this.lastRms = 0;
  }

  /**
   * Schedules one chunk. Returns null for an empty chunk, else
   * {startAt (context time), heardAt (performance.now() time it will be heard), underrunMs}
   * where underrunMs > 0 means the queue had run dry in the middle of a sentence.
   */
  enqueue(seq, sentence, pcm) {
    const samples = pcmToFloat32(pcm);
    if (samples.length === 0) return null;
    const { ctx } = this;
    const buffer = ctx.createBuffer(1, samples.length, SAMPLE_RATE);
    buffer.copyToChannel(samples, 0);
    const src = ctx.createBufferSource();
    src.buffer = buffer;
    src.connect(this.gain);
    const now = ctx.currentTime;
    this.tick();
    let underrunMs = 0;
    let start = this.endTime;
    if (this.endTime <= now) {
      if (this.endTime > 0 && this.openSentence !== null && this.openSentence === sentence) {
        underrunMs = (now - this.endTime) * 1000;
        this.underruns += 1;
      }
      start = now + this.jitter;
    }
    src.start(start);
    const end = start + buffer.duration;
    this.endTime = end;
    this.openSentence = sentence;
    const item = { src, seq, sentence, start, end };
    this.queue.push(item);
    src.onended = () => src.disconnect();
    const outputLatency = Number(ctx.outputLatency) || Number(ctx.baseLatency) || 0;
    const heardAt = performance.now() + (start - now + outputLatency) * 1000;
    return { startAt: start, heardAt, underrunMs };
  }

  /** The server sent the last chunk of `sentence` (a pause after it is no underrun). */
  sentenceEnded(sentence) {
    if (this.openSentence === sentence) this.openSentence = null;
  }

  /** Moves chunks whose end has passed to "played". Returns the last played seq (or null). */
  tick() {
    const now = this.ctx.currentTime;
    while (this.queue.length && this.queue[0].end <= now) {
      const item = this.queue.shift();
      this.lastPlayedSeq = item.seq;
      this.playedChunks += 1;
      this.turnPlayedSec += item.end - item.start;
    }
    return this.lastPlayedSeq;
  }

  /** Agent audio is playing or scheduled. */
  get playing() {
    this.tick();
    return this.queue.length > 0;
  }

  /** Milliseconds of this agent turn's audio that have been heard so far. */
  playedMs() {
    this.tick();
    let sec = this.turnPlayedSec;
    const head = this.queue[0];
    if (head) sec += Math.min(Math.max(this.ctx.currentTime - head.start, 0), head.end - head.start);
    return sec * 1000;
  }

  beginTurn() {
    this.turnPlayedSec = 0;
  }

  /** Stops everything queued at once (barge-in). */
  stopAll() {
    this.tick();
    for (const { src } of this.queue) {
      src.onended = null;
      try {
        src.stop();
      } catch {
        /* never started */
      }
      src.disconnect();
    }
    this.queue = [];
    this.endTime = 0;
    this.openSentence = null;
  }

  /** A new conversation on this page (start or resume): the server numbers chunks from 0 again. */
  reset() {
    this.stopAll();
    this.lastPlayedSeq = null;
    this.turnPlayedSec = 0;
  }

  /** RMS (0..1) of what the output is playing right now, from the AnalyserNode. */
  rms() {
    const rms = analyserRms(this.analyser, this.window);
    this.lastRms = rms;
    if (rms > this.maxRms) this.maxRms = rms;
    return rms;
  }
}
