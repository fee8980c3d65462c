// The microphone: getUserMedia with the browser's echo cancellation, noise suppression and
// gain control on, into the `vox-mic` AudioWorklet (mic-worklet.js), which resamples to 16 kHz
// and hands back Int16 chunks of 40 ms and a level every 10 ms.

export const CHUNK_SAMPLES = 640; // 40 ms at 16 kHz = 1280 bytes
export const LEVEL_SAMPLES = 160; // 10 ms

const loaded = new WeakSet();

export function microphoneProblem() {
  if (!window.isSecureContext) return "the microphone needs HTTPS (or localhost)";
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) return "this browser gives no microphone";
  if (typeof AudioWorkletNode === "undefined") return "this browser has no AudioWorklet";
  return null;
}

export class Microphone {
  /**
   * @param {AudioContext} ctx
   * @param {object} o
   * @param {(pcm: ArrayBuffer) => void} o.onChunk  every 40 ms: 640 Int16 LE samples at 16 kHz
   * @param {(rms: number) => void} o.onLevel       every 10 ms: RMS (0..1) of the 16 kHz signal
   */
  constructor(ctx, { onChunk, onLevel }) {
    this.ctx = ctx;
    this.onChunk = onChunk;
    this.onLevel = onLevel;
    this.stream = null;
    this.source = null;
    this.node = null;
    this.sink = null;
    this.rms = 0;
  }

  get running() {
    return this.node !== null;
  }

  async start() {
    if (this.node) return;
    const problem = microphoneProblem();
    if (problem) throw new Error(problem);
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: {
        echoCancellation: true,
        noiseSuppression: true,
        autoGainControl: true,
        channelCount: 1,
      },
    });
    try {
      if (!loaded.has(this.ctx)) {
        await this.ctx.audioWorklet.addModule(new URL("./mic-worklet.js", import.meta.url));
        loaded.add(this.ctx);
      }
      const node = new AudioWorkletNode(this.ctx, "vox-mic", {
        numberOfInputs: 1,
        numberOfOutputs: 1,
        outputChannelCount: [1],
        processorOptions: { chunkSamples: CHUNK_SAMPLES, levelSamples: LEVEL_SAMPLES },
      });
      node.port.onmessage = ({ data }) => {
        if (data.type === "chunk") this.onChunk(data.pcm);
        else if (data.type === "level") {
          this.rms = data.rms;
          this.onLevel(data.rms);
        }
      };
      // the worklet writes silence; a muted path to the destination keeps it pulled
      const sink = this.ctx.createGain();
      sink.gain.value = 0;
      const source = this.ctx.createMediaStreamSource(stream);
      source.connect(node);
      node.connect(sink);
      sink.connect(this.ctx.destination);
      Object.assign(this, { stream, source, node, sink });
    } catch (err) {
      for (const track of stream.getTracks()) track.stop();
      throw err;
    }
  }

  stop() {
    if (this.stream) for (const track of this.stream.getTracks()) track.stop();
    if (this.source) this.source.disconnect();
    if (this.node) {
      this.node.port.onmessage = null;
      this.node.port.postMessage("stop");
      this.node.disconnect();
    }
    if (this.sink) this.sink.disconnect();
    this.stream = this.source = this.node = this.sink = null;
    this.rms = 0;
  }
}
