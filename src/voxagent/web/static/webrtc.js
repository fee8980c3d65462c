// WebRTC audio for a running session: the microphone goes out on a peer connection's track and
// the agent's voice comes back on one, so the browser's echo canceller covers it (audio played
// from Web Audio buffers is not covered). Socket.IO stays the event channel; the `events` data
// channel carries the same events, and the page's barge-in and playback timing go over it.
//
//   start()   GET /api/webrtc/config (ICE servers) → offer → POST /api/webrtc/offer → answer;
//             our ICE candidates trickle to POST /api/webrtc/ice (an empty one ends them)
//   failure   not connected within `connectTimeoutMs`, or ICE failed / disconnected past
//             `graceMs`: a NEW peer connection (`restart` with the old pc_id: aiortc's ICE
//             restart is unreliable), `backoffMs.length` more tries with exponential backoff;
//             then onGiveUp() and the page stays on WebSocket audio
//
// The remote stream plays through an <audio> element (Chromium is silent for remote WebRTC
// audio that only feeds Web Audio); an AnalyserNode taps the same stream for the avatar and
// the level meter. Every second the page reports its jitter-buffer delay on the data channel
// (getStats: jitterBufferDelay / jitterBufferEmittedCount), which the server subtracts from
// what it sent to know what was heard.

import { analyserRms } from "./audio-out.js";

export class WebRTCAudio {
  constructor({ ctx, audioEl, token, sessionId, micStream, onStatus, onEvent, onGiveUp, relayOnly = false,
                connectTimeoutMs = 5000, graceMs = 2000, backoffMs = [500, 1000, 2000, 4000, 8000] }) {
    Object.assign(this, { ctx, audioEl, token, sessionId, micStream, onStatus, onEvent, onGiveUp,
                          relayOnly, connectTimeoutMs, graceMs, backoffMs });
    this.pc = null;
    this.pcId = null;
    this.channel = null;
    this.analyser = null;
    this.window = null;
    this.attempts = 0;
    this.connectedAt = null;
    this.connectMs = null;
    this.closed = false;
    this.rebuilds = 0;
    this.maxRms = 0;
    this.lastRms = 0;
    this.candidateTypes = new Set();
    this._timers = [];
    this._jitterTimer = 0;
  }

  get connected() {
    return Boolean(this.pc) && this.pc.connectionState === "connected";
  }

  async _api(method, path, body) {
    const res = await fetch(path, {
      method,
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${this.token}` },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
    if (!res.ok) throw new Error(`${path} answered ${res.status}: ${(data && (data.detail || data.code)) || text}`);
    return data;
  }

  async start() {
    const started = performance.now();
    const config = await this._api("GET", "/api/webrtc/config");
    if (this.closed) return;
    const old = this.pcId;
    this._teardown();
    const pc = new RTCPeerConnection({
      iceServers: config.iceServers || [],
      iceTransportPolicy: this.relayOnly ? "relay" : "all",
    });
    this.pc = pc;
    for (const track of this.micStream ? this.micStream.getAudioTracks() : []) pc.addTrack(track, this.micStream);
    if (!this.micStream) pc.addTransceiver("audio", { direction: "recvonly" });
    const channel = pc.createDataChannel("events");
    this.channel = channel;
    channel.onmessage = ({ data }) => {
      try {
        const m = JSON.parse(data);
        if (m && typeof m.event === "string") this.onEvent(m.event, m.data);
      } catch { /* ignore what is not ours */ }
    };
    pc.ontrack = ({ streams, track }) => this._play(streams[0] || new MediaStream([track]));
    const early = [];
    pc.onicecandidate = ({ candidate }) => {
      const c = candidate ? candidate.toJSON() : { candidate: "" };
      if (candidate && candidate.type) this.candidateTypes.add(candidate.type);
      if (this.pcId && this.pc === pc) this._sendCandidates([c]);
      else early.push(c);
    };
    pc.onconnectionstatechange = () => this._stateChanged(pc, started);
    await pc.setLocalDescription(await pc.createOffer());
    const body = { sdp: pc.localDescription.sdp, type: "offer", session_id: this.sessionId };
    if (old) Object.assign(body, { restart: true, pc_id: old });
    const answer = await this._api("POST", "/api/webrtc/offer", body);
    if (this.pc !== pc) return;
    this.pcId = answer.pc_id;
    await pc.setRemoteDescription({ type: answer.type, sdp: answer.sdp });
    if (early.length) this._sendCandidates(early.splice(0));
    this._after(this.connectTimeoutMs, () => {
      if (this.pc === pc && !this.connected) this._failed("did not connect in time");
    });
    this.onStatus("connecting", "WebRTC: connecting…");
  }

  _sendCandidates(candidates) {
    this._api("POST", "/api/webrtc/ice", { pc_id: this.pcId, candidates }).catch(() => {});
  }

  _play(stream) {
    this.audioEl.srcObject = stream;
    this.audioEl.muted = false;
    const playing = this.audioEl.play();
    if (playing && playing.catch) playing.catch(() => this.onStatus("blocked", "tap the page to hear the agent"));
    if (this.ctx) {
      const source = this.ctx.createMediaStreamSource(stream);
      this.analyser = this.ctx.createAnalyser();
      this.analyser.fftSize = 1024;
      this.analyser.smoothingTimeConstant = 0;
      this.window = new Float32Array(this.analyser.fftSize);
      source.connect(this.analyser); // a tap: the <audio> element plays it
    }
  }

  _stateChanged(pc, started) {
    if (this.pc !== pc) return;
    const state = pc.connectionState;
    if (state === "connected") {
      this.attempts = 0;
      this.connectedAt = performance.now();
      if (this.connectMs === null) this.connectMs = this.connectedAt - started;
      this._clearTimers();
      this._reportJitter();
      this.onStatus("connected", "WebRTC: connected (echo-cancelled audio)");
    } else if (state === "failed") {
      this._failed("ICE failed");
    } else if (state === "disconnected") {
      this.onStatus("connecting", "WebRTC: disconnected, waiting…");
      this._after(this.graceMs, () => {
        if (this.pc === pc && pc.connectionState !== "connected") this._failed("disconnected");
      });
    }
  }

  _failed(why) {
    if (this.closed) return;
    this._teardown();
    if (this.attempts >= this.backoffMs.length) {
      this.onStatus("failed", `WebRTC: ${why}; using WebSocket audio`);
      this.onGiveUp(why);
      return;
    }
    const wait = this.backoffMs[this.attempts];
    this.attempts += 1;
    this.rebuilds += 1;
    this.onStatus("connecting", `WebRTC: ${why}; new connection in ${wait} ms (try ${this.attempts})`);
    this._after(wait, () => this.start().catch((err) => this._failed(err.message)));
  }

  /** Sends an event on the data channel; false when it is not open. */
  send(event, data) {
    if (!this.channel || this.channel.readyState !== "open") return false;
    this.channel.send(JSON.stringify({ event, data: data || {} }));
    return true;
  }

  /** Silences the agent at once (barge-in): what the jitter buffer holds is not heard. */
  silence(ms) {
    this.audioEl.muted = true;
    this._after(ms, () => { this.audioEl.muted = false; });
  }

  /** RMS of what is being played (0 while muted after a barge-in). */
  rms() {
    return this.audioEl.muted ? 0 : this.streamRms();
  }

  /** RMS of the agent's stream as it arrives, muted or not (what the server still sends). */
  streamRms() {
    if (!this.analyser) return 0;
    const rms = analyserRms(this.analyser, this.window);
    this.lastRms = rms;
    if (rms > this.maxRms) this.maxRms = rms;
    return rms;
  }

  async _reportJitter() {
    clearTimeout(this._jitterTimer);
    if (!this.connected) return;
    try {
      const stats = await this.pc.getStats();
      stats.forEach((s) => {
        if (s.type === "inbound-rtp" && s.kind === "audio" && s.jitterBufferEmittedCount > 0) {
          this.send("jitter", { ms: (1000 * s.jitterBufferDelay) / s.jitterBufferEmittedCount });
        }
      });
    } catch { /* a closing connection */ }
    this._jitterTimer = setTimeout(() => this._reportJitter(), 1000);
  }

  _after(ms, fn) {
    this._timers.push(setTimeout(fn, ms));
  }

  _clearTimers() {
    for (const t of this._timers) clearTimeout(t);
    this._timers = [];
  }

  _teardown() {
    this._clearTimers();
    clearTimeout(this._jitterTimer);
    if (this.pc) {
      this.pc.onconnectionstatechange = this.pc.onicecandidate = this.pc.ontrack = null;
      try { this.pc.close(); } catch { /* already */ }
    }
    this.pc = null;
    this.channel = null;
    this.analyser = null;
  }

  close() {
    this.closed = true;
    this._teardown();
    this.audioEl.srcObject = null;
  }
}

/** The pre-call check: which ICE candidate types this network gives (host, srflx, relay),
 *  whether a STUN server answered, and the round trip to our server. */
export async function networkCheck(iceServers, { timeoutMs = 4000 } = {}) {
  const t0 = performance.now();
  await fetch("/health", { cache: "no-store" }).catch(() => {});
  const rttMs = performance.now() - t0;
  const types = new Set();
  const pc = new RTCPeerConnection({ iceServers });
  pc.createDataChannel("check");
  const done = new Promise((resolve) => {
    pc.onicecandidate = ({ candidate }) => {
      if (!candidate) resolve();
      else if (candidate.type) types.add(candidate.type);
    };
    setTimeout(resolve, timeoutMs);
  });
  await pc.setLocalDescription(await pc.createOffer());
  await done;
  pc.close();
  return { stun_ok: types.has("srflx"), rtt_ms: Math.round(rttMs), candidate_types: [...types] };
}
