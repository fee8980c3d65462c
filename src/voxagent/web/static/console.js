// The voxagent console: talk to an agent over the `/sandra` Socket.IO namespace.
//
//   connection.js  token + socket + our own reconnection (5 tries, exponential backoff)
//   audio-in.js    microphone → AudioWorklet (mic-worklet.js) → 16 kHz Int16 chunks of 40 ms
//   audio-out.js   agent audio → scheduled AudioBuffers → AnalyserNode → speakers
//   vad.js         the page's own barge-in (mic clearly louder than the agent's echo)
//   avatar.js      the mouth follows the output's RMS
//   webrtc.js      the audio over a peer connection (default), Socket.IO audio as fallback
//   transcript.js  the conversation as it happens
//
// Settings come from the page's address (?vadThreshold=0.03&mouthGain=8…): see SETTINGS.
// `window.voxConsole` has read-only hooks for tests (see the end of this file).

import { Connection } from "./connection.js";
import { Microphone, microphoneProblem } from "./audio-in.js";
import { Player } from "./audio-out.js";
import { Avatar } from "./avatar.js";
import { BargeInDetector } from "./vad.js";
import { Transcript } from "./transcript.js";
import { WebRTCAudio, networkCheck } from "./webrtc.js";

const SETTINGS = [
  // name, default, meaning
  ["vadThreshold", 0.02, "barge-in: the mic's RMS must exceed this (16 kHz signal, full scale 1)"],
  ["vadMargin", 6, "barge-in: … and be this many dB above the agent's echo (its level as learnt in the mic)"],
  ["vadHoldMs", 100, "barge-in: … for at least this many ms while the agent plays"],
  ["echoHoldMs", 250, "barge-in: decay (ms) of the played level used as echo reference"],
  ["bargeIn", 1, "1: the page's own barge-in is on; 0: off (the server's VAD still interrupts)"],
  ["mouthGain", 6, "avatar: mouth opening = output RMS × gain (at most 1)"],
  ["mouthSmoothing", 0.5, "avatar: share of the previous opening kept per 60 Hz frame (0 … 0.99)"],
  ["mouthGate", 0.004, "avatar: output RMS below this is silence (mouth at rest)"],
  ["jitterMs", 30, "playback: cushion (ms) before a chunk that starts an empty queue"],
  ["playbackReportMs", 100, "playback reports are sent at most this often (ms)"],
  ["pingMs", 15000, "a ping every this many ms (round trip shown); 0: none"],
  ["relayOnly", 0, "WebRTC: 1 uses TURN relays only (iceTransportPolicy relay: checks a TURN server)"],
  ["webrtcTries", 5, "WebRTC: new peer connections tried (exponential backoff) before falling back to WebSocket audio"],
  ["webrtcTimeoutMs", 5000, "WebRTC: not connected after this many ms → a new try (5 tries), then WebSocket audio"],
  ["bargeMuteMs", 500, "WebRTC: after a barge-in, the agent's track is muted this long (its jitter buffer)"],
];
const BACKOFF_MS = [500, 1000, 2000, 4000, 8000];
const RESUME_TIMEOUT_MS = 5000;
const LEVEL_MS = 10; // the worklet reports the mic level every 10 ms
const MAX_REPORTS_PER_MINUTE = 60; // the server allows 100
const PERSONA_NAMES = { sandra: "Sandra", maria: "María" };
const USER_ID = /^[A-Za-z0-9_.@-]{1,64}$/; // what POST /api/sandra/token accepts
const VALID_STATES = new Set(["listening", "user_speaking", "thinking", "speaking"]);

const $ = (id) => document.getElementById(id);

function readSettings(search) {
  const params = new URLSearchParams(search);
  const cfg = {};
  for (const [name, def] of SETTINGS) {
    const raw = params.get(name);
    const value = raw === null || raw === "" ? NaN : Number(raw);
    if (raw !== null && !Number.isFinite(value)) console.warn(`voxagent console: ?${name}=${raw} is not a number`);
    cfg[name] = Number.isFinite(value) && value >= 0 ? value : def;
  }
  cfg.persona = params.get("persona");
  cfg.language = params.get("language");
  cfg.userId = params.get("userId") || params.get("user_id");
  cfg.transport = params.get("transport");
  return cfg;
}

const config = readSettings(location.search);

const ui = {
  form: $("connect-form"),
  apiKey: $("api-key"),
  userId: $("user-id"),
  persona: $("persona"),
  language: $("language"),
  transport: $("transport"),
  transportStatus: $("transport-status"),
  networkCheck: $("network-check"),
  networkResult: $("network-result"),
  remoteAudio: $("remote-audio"),
  start: $("start"),
  end: $("end"),
  formMessage: $("form-message"),
  micMessage: $("mic-message"),
  status: $("connection-status"),
  state: $("agent-state"),
  avatar: $("avatar"),
  mouth: $("mouth"),
  micLevel: $("mic-level"),
  outLevel: $("out-level"),
  transcript: $("transcript"),
  textForm: $("text-form"),
  textInput: $("text-input"),
  textSend: $("text-send"),
  latencyRows: $("latency-rows"),
  timing: {
    token: $("timing-token"),
    connect: $("timing-connect"),
    first_audio: $("timing-first-audio"),
    rtt: $("timing-rtt"),
    underruns: $("timing-underruns"),
    chunks: $("timing-chunks"),
  },
  settings: $("settings-list"),
};

const S = {
  ctx: null,
  player: null,
  mic: null,
  busy: false,
  sessionId: null,
  sessionActive: false,
  awaitingStart: false,
  afterFailedResume: false,
  resuming: false,
  pendingResume: false, // the server shut down with our session kept: resume after reconnecting
  resumeTimer: 0,
  endTimer: 0,
  persona: null,
  language: null,
  state: "idle",
  statusCode: "idle",
  statusText: "not connected",
  seq: 0,
  chunksSent: 0,
  chunksReceived: 0,
  lastSentSeq: null,
  turn: null, // the server's turn number, from transcript_final / agent_text
  newTurnPending: true, // the next agent audio chunk starts a new agent turn
  turnFirstAudioPending: false,
  dropAudio: false, // after our own barge-in, until the server acknowledges it
  dropAudioTimer: 0,
  micRms: 0,
  lastSpeechAt: null, // performance.now() of the user's last speech (or typed text) sent
  userTurnSeen: false, // a final transcript or typed text since the agent last started speaking
  startEmittedAt: null,
  firstAudioReported: false,
  bargeIns: 0,
  bargeSentAt: null,
  bargeInAcks: 0,
  lastBargeInAckMs: null,
  playbackReports: 0,
  lastPlaybackReported: null,
  reportedPlayedChunks: 0,
  lastPlaybackReportAt: 0,
  rttMs: null,
  rttReported: true,
  timings: [], // {name, ms, sent}
  pendingReports: [],
  reportTimes: [],
  latencyRows: new Map(), // turn → {turn, stt_final_ms, first_audio_sent_ms, response_ms, page_ms, interrupted, tr}
  events: {},
  resumes: 0,
  failedResumes: 0,
  rtcMaxRms: 0, // the loudest agent audio heard over earlier peer connections
  rtc: null, // WebRTCAudio while the session's audio goes (or tries to go) over WebRTC
  transport: "webrtc",
  transportNote: "",
  webrtcFallbacks: 0,
  lastAckAt: 0,
  networkReport: null,
  dataChannelEvents: {},
  silenceAfterBargeMs: null, // barge-in sent → the agent's audio measured silent at the page
  bargeAt: null,
};

const transcript = new Transcript(ui.transcript);
const avatar = new Avatar(ui.mouth, {
  gain: config.mouthGain,
  smoothing: config.mouthSmoothing,
  gate: config.mouthGate,
});
const detector = new BargeInDetector({
  threshold: config.vadThreshold,
  margin: config.vadMargin,
  holdMs: config.vadHoldMs,
  echoHoldMs: config.echoHoldMs,
});

const conn = new Connection({
  credentials: () => ({
    apiKey: ui.apiKey.value.trim(),
    userId: ui.userId.value.trim(),
    persona: ui.persona.value,
    language: ui.language.value,
  }),
  onEvent: (name, payload) => onServerEvent(name, payload),
  onStatus: (code, text) => onConnectionStatus(code, text),
  onTiming: (name, ms) => reportTiming(name, ms),
  onReconnected: () => onReconnected(),
  backoffMs: BACKOFF_MS,
});

// ---------------------------------------------------------------- the form

function randomGuest() {
  const bytes = new Uint8Array(2);
  crypto.getRandomValues(bytes);
  return `guest-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

function stored(key) {
  try {
    return sessionStorage.getItem(key);
  } catch {
    return null;
  }
}

function store(key, value) {
  try {
    if (value) sessionStorage.setItem(key, value);
    else sessionStorage.removeItem(key);
  } catch {
    /* private mode */
  }
}

function choose(select, value) {
  if (!value) return;
  if (![...select.options].some((o) => o.value === value)) select.add(new Option(value, value));
  select.value = value;
}

function initForm() {
  ui.apiKey.value = stored("vox.apiKey") || "";
  ui.userId.value = config.userId || stored("vox.userId") || randomGuest();
  choose(ui.persona, config.persona || stored("vox.persona") || "sandra");
  const browserLang = (navigator.language || "en").toLowerCase().startsWith("es") ? "es" : "en";
  choose(ui.language, config.language || stored("vox.language") || browserLang);
  choose(ui.transport, config.transport || stored("vox.transport") || (window.RTCPeerConnection ? "webrtc" : "websocket"));
  for (const [name, def, meaning] of SETTINGS) {
    const dt = document.createElement("dt");
    dt.textContent = `${name}=${config[name]}`;
    const dd = document.createElement("dd");
    dd.textContent = `${meaning}${config[name] !== def ? ` (default ${def})` : ""}`;
    ui.settings.append(dt, dd);
  }
}

function saveForm() {
  store("vox.apiKey", ui.apiKey.value.trim());
  store("vox.userId", ui.userId.value.trim());
  store("vox.persona", ui.persona.value);
  store("vox.language", ui.language.value);
  store("vox.transport", ui.transport.value);
}

function setControls() {
  const live = S.sessionActive || S.busy || S.awaitingStart || S.resuming || S.pendingResume;
  ui.start.disabled = live;
  ui.end.disabled = !(S.sessionActive || S.awaitingStart || S.resuming || S.pendingResume);
  for (const el of [ui.apiKey, ui.userId, ui.persona, ui.language, ui.transport]) el.disabled = live;
  const canType = S.sessionActive && !S.resuming;
  ui.textInput.disabled = !canType;
  ui.textSend.disabled = !canType;
  ui.start.textContent = S.busy ? "Starting…" : "Start";
}

function formMessage(text) {
  ui.formMessage.textContent = text || "";
}

function micMessage(text, info = false) {
  ui.micMessage.textContent = text || "";
  ui.micMessage.classList.toggle("is-info", info);
}

// ---------------------------------------------------------------- audio

/** Creates or resumes the AudioContext: called from a user gesture (mobile autoplay rules). */
function ensureAudio() {
  if (!S.ctx) {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) {
      micMessage("this browser cannot play audio (no Web Audio)");
      return;
    }
    S.ctx = new Ctx({ latencyHint: "interactive" });
    S.player = new Player(S.ctx, { jitterMs: config.jitterMs });
  }
  if (S.ctx.state !== "running") S.ctx.resume().catch(() => {});
}

function resumeAudioOnGesture() {
  if (S.ctx && S.ctx.state !== "running" && S.ctx.state !== "closed") S.ctx.resume().catch(() => {});
}

async function startMic() {
  if (!S.ctx) return;
  if (!S.mic) S.mic = new Microphone(S.ctx, { onChunk: onMicChunk, onLevel: onMicLevel });
  if (S.mic.running) return;
  const problem = microphoneProblem();
  if (problem) {
    micMessage(`No microphone: ${problem}. You can type instead.`);
    return;
  }
  try {
    await S.mic.start();
    micMessage("");
  } catch (err) {
    const why = err && err.name === "NotAllowedError" ? "permission denied" : err.message || String(err);
    micMessage(`No microphone (${why}). You can type instead.`);
  }
}

function stopMic() {
  if (S.mic) S.mic.stop();
  S.micRms = 0;
}

function onMicChunk(pcm) {
  if (!S.sessionActive || S.resuming || !conn.connected) return;
  if (S.rtc && S.rtc.connected) return; // the microphone goes out on the peer connection
  if (conn.emit("audio", { seq: S.seq, pcm })) {
    S.lastSentSeq = S.seq;
    S.seq += 1;
    S.chunksSent += 1;
  }
}

function onMicLevel(rms) {
  S.micRms = rms;
  const { playing, rms: outRms } = output();
  if (!S.sessionActive) return;
  if (!playing && rms > config.vadThreshold) S.lastSpeechAt = performance.now();
  if (config.bargeIn && detector.feed(rms, outRms, playing, LEVEL_MS)) bargeIn();
}

/** The page heard the user over the agent: stop at once and tell the server. */
function bargeIn() {
  const player = S.player;
  const playedMs = player ? player.playedMs() : 0;
  flushPlayback(true);
  if (player) player.stopAll();
  if (S.rtc && S.rtc.connected) S.rtc.silence(config.bargeMuteMs);
  avatar.rest();
  S.dropAudio = true;
  clearTimeout(S.dropAudioTimer);
  S.dropAudioTimer = setTimeout(() => (S.dropAudio = false), 2000);
  S.bargeIns += 1;
  S.bargeSentAt = performance.now();
  S.bargeAt = S.bargeSentAt;
  S.silenceAfterBargeMs = null;
  S.lastSpeechAt = performance.now();
  const payload = { played_ms: Math.round(playedMs) };
  if (!(S.rtc && S.rtc.send("barge_in", payload))) conn.emit("barge_in", payload);
  transcript.markInterrupted(null, null);
}

function beginAgentTurn() {
  S.newTurnPending = false;
  S.turnFirstAudioPending = true;
  if (S.player) S.player.beginTurn();
  detector.reset();
}

function onAgentAudio(p) {
  S.chunksReceived += 1;
  if (!S.player || S.dropAudio || !p || p.pcm == null) return;
  if (S.newTurnPending) beginAgentTurn();
  const r = S.player.enqueue(p.seq, p.sentence, p.pcm);
  if (!r) return;
  if (r.underrunMs > 0) reportTiming("underrun", r.underrunMs);
  if (S.turnFirstAudioPending) {
    S.turnFirstAudioPending = false;
    if (S.userTurnSeen && S.lastSpeechAt != null) {
      const ms = r.heardAt - S.lastSpeechAt;
      latencyRow(S.turn ?? 0, { page_ms: ms });
      reportTiming("response", ms);
    }
    S.userTurnSeen = false;
    S.lastSpeechAt = null;
    if (!S.firstAudioReported && S.startEmittedAt != null) {
      S.firstAudioReported = true;
      reportTiming("first_audio", r.heardAt - S.startEmittedAt);
    }
  }
}

/** Tells the server which chunk was played last (at most every playbackReportMs). */
function flushPlayback(force = false) {
  const player = S.player;
  if (!player || !S.sessionActive || S.resuming) return;
  const seq = player.tick();
  if (seq == null || player.playedChunks === S.reportedPlayedChunks) return;
  const now = performance.now();
  if (!force && now - S.lastPlaybackReportAt < config.playbackReportMs) return;
  if (conn.emit("playback", { chunk: seq })) {
    S.playbackReports += 1;
    S.lastPlaybackReported = seq;
    S.reportedPlayedChunks = player.playedChunks;
    S.lastPlaybackReportAt = now;
  }
}

function stopPlayback() {
  if (S.player) S.player.stopAll();
  avatar.rest();
}

/** What the agent's voice is doing now, whichever way it comes: {playing, rms}. */
function output() {
  if (S.rtc && S.rtc.connected) {
    const rms = S.rtc.rms();
    return { playing: S.state === "speaking" || rms > config.mouthGate, rms };
  }
  const player = S.player;
  return { playing: player ? player.playing : false, rms: player ? player.rms() : 0 };
}

// ---------------------------------------------------------------- WebRTC

function transportNote(text) {
  S.transportNote = text || "";
  ui.transportStatus.textContent = S.transportNote;
}

/** The session runs: move its audio to a peer connection (Socket.IO carries it until then). */
function startWebRTC() {
  if (S.transport !== "webrtc" || !S.sessionId || !window.RTCPeerConnection) return;
  if (S.rtc) S.rtc.close();
  const rtc = new WebRTCAudio({
    ctx: S.ctx,
    audioEl: ui.remoteAudio,
    token: conn.token,
    sessionId: S.sessionId,
    micStream: S.mic && S.mic.stream,
    connectTimeoutMs: config.webrtcTimeoutMs,
    relayOnly: Boolean(config.relayOnly),
    backoffMs: BACKOFF_MS.slice(0, Math.max(0, Math.round(config.webrtcTries) - 1)),
    onStatus: (code, text) => transportNote(text),
    onEvent: (name, payload) => onDataChannelEvent(name, payload),
    onGiveUp: (why) => {
      if (S.rtc !== rtc) return;
      S.rtc = null;
      S.rtcMaxRms = Math.max(S.rtcMaxRms, rtc.maxRms);
      S.webrtcFallbacks += 1;
      rtc.close();
      transportNote(`WebRTC could not connect (${why}): using WebSocket audio.`);
      transcript.system("WebRTC could not connect: the audio goes over the WebSocket instead.");
    },
  });
  S.rtc = rtc;
  rtc.start().catch((err) => rtc._failed(err.message || String(err)));
}

function stopWebRTC() {
  if (S.rtc) {
    S.rtcMaxRms = Math.max(S.rtcMaxRms, S.rtc.maxRms);
    S.rtc.close();
  }
  S.rtc = null;
}

/** The data channel repeats the server's events; the page takes the barge-in acknowledgement
 *  from whichever way it comes first (the rest it reads from Socket.IO). */
function onDataChannelEvent(name, payload) {
  S.dataChannelEvents[name] = (S.dataChannelEvents[name] || 0) + 1;
  if (name === "barge_in_ack") onServerEvent(name, payload);
}

async function onNetworkCheck() {
  ui.networkResult.textContent = "checking the network…";
  try {
    let iceServers = [];
    if (conn.token) {
      const res = await fetch("/api/webrtc/config", { headers: { Authorization: `Bearer ${conn.token}` } });
      if (res.ok) iceServers = (await res.json()).iceServers || [];
    } else {
      iceServers = [{ urls: ["stun:stun.l.google.com:19302"] }];
    }
    const report = await networkCheck(iceServers);
    S.networkReport = report;
    const types = report.candidate_types.length ? report.candidate_types.join(", ") : "none";
    ui.networkResult.textContent =
      `server round trip ${report.rtt_ms} ms · STUN ${report.stun_ok ? "reachable" : "not reachable"} · candidates: ${types}` +
      (report.candidate_types.includes("relay") ? " (TURN works)" : "");
    if (conn.connected) conn.emit("network_report", report);
  } catch (err) {
    ui.networkResult.textContent = `network check failed: ${err.message || err}`;
  }
}

// ---------------------------------------------------------------- timings

function fmtMs(ms) {
  return ms == null || !Number.isFinite(ms) ? "–" : `${Math.round(ms)} ms`;
}

/** Records one of the page's timings and reports it with `latency {name, ms}`. */
function reportTiming(name, ms) {
  const value = Math.min(Math.max(Math.round(ms * 10) / 10, 0), 600_000);
  const entry = { name, ms: value, sent: false };
  S.timings.push(entry);
  if (S.timings.length > 500) S.timings.shift();
  if (ui.timing[name]) ui.timing[name].textContent = fmtMs(value);
  if (name === "underrun") ui.timing.underruns.textContent = String(S.player ? S.player.underruns : 0);
  S.pendingReports.push(entry);
  if (S.pendingReports.length > 20) S.pendingReports.shift();
  flushReports();
}

function flushReports() {
  if (!S.sessionActive || S.resuming || !conn.connected) return;
  const now = performance.now();
  S.reportTimes = S.reportTimes.filter((t) => now - t < 60_000);
  while (S.pendingReports.length && S.reportTimes.length < MAX_REPORTS_PER_MINUTE) {
    const entry = S.pendingReports.shift();
    if (conn.emit("latency", { name: entry.name, ms: entry.ms })) {
      entry.sent = true;
      S.reportTimes.push(now);
    }
  }
}

function clearLatencyRows() {
  S.latencyRows.clear();
  ui.latencyRows.replaceChildren();
}

function latencyRow(turn, values) {
  let row = S.latencyRows.get(turn);
  if (!row) {
    const tr = document.createElement("tr");
    tr.dataset.turn = String(turn);
    row = { turn, stt_final_ms: null, first_audio_sent_ms: null, response_ms: null, page_ms: null, interrupted: false, tr };
    S.latencyRows.set(turn, row);
    // rows in turn order, whatever order their numbers arrive in
    const next = [...S.latencyRows.values()].filter((r) => r.turn > turn).sort((a, b) => a.turn - b.turn)[0];
    ui.latencyRows.insertBefore(tr, next ? next.tr : null);
  }
  for (const [k, v] of Object.entries(values)) if (v !== undefined) row[k] = v;
  const cells = [
    String(turn),
    fmtMs(row.stt_final_ms),
    fmtMs(row.first_audio_sent_ms),
    fmtMs(row.response_ms),
    fmtMs(row.page_ms),
  ];
  row.tr.replaceChildren(
    ...cells.map((text, i) => {
      const cell = document.createElement(i === 0 ? "th" : "td");
      if (i === 0) cell.scope = "row";
      cell.textContent = text;
      return cell;
    }),
  );
  row.tr.classList.toggle("is-interrupted", Boolean(row.interrupted));
}

const num = (v) => (typeof v === "number" && Number.isFinite(v) ? v : null);

// ---------------------------------------------------------------- the session

function setAgentState(state) {
  S.state = state;
  ui.state.textContent = state.replace("_", " ");
  ui.state.dataset.state = state;
  ui.avatar.dataset.state = state;
}

/** Both directions' chunk numbers start at 0 again (a session started or resumed). */
function newConversation() {
  S.seq = 0;
  S.lastSentSeq = null;
  S.newTurnPending = true;
  S.dropAudio = false;
  if (S.player) {
    S.player.reset();
    S.reportedPlayedChunks = S.player.playedChunks;
  }
  avatar.rest();
}

function emitStart() {
  S.awaitingStart = true;
  S.startEmittedAt = performance.now();
  S.firstAudioReported = false;
  S.newTurnPending = true;
  S.persona = ui.persona.value;
  S.language = ui.language.value;
  conn.emit("start", { persona: S.persona, language: S.language, sample_rate: 16000 });
  setControls();
}

function emitResume() {
  S.resuming = true;
  S.pendingResume = false;
  clearTimeout(S.resumeTimer);
  S.resumeTimer = setTimeout(() => resumeFailed("no answer"), RESUME_TIMEOUT_MS);
  conn.emit("resume", { session_id: S.sessionId });
  setControls();
}

function resumeFailed(why) {
  clearTimeout(S.resumeTimer);
  S.resuming = false;
  S.sessionActive = false;
  S.sessionId = null;
  S.afterFailedResume = true;
  S.failedResumes += 1;
  stopPlayback();
  transcript.system(`The session could not be resumed (${why}): starting a new one.`);
  if (conn.connected) emitStart();
}

async function onStart(event) {
  event.preventDefault();
  if (S.busy || S.sessionActive || S.awaitingStart || S.resuming) return;
  if (!ui.userId.value.trim()) ui.userId.value = randomGuest();
  if (!USER_ID.test(ui.userId.value.trim())) {
    formMessage("The user id may hold letters, digits and _ . @ - (at most 64).");
    ui.userId.focus();
    return;
  }
  ensureAudio(); // synchronously inside the click: the autoplay rules want a gesture
  S.transport = ui.transport.value === "websocket" ? "websocket" : "webrtc";
  transportNote(S.transport === "webrtc" ? "" : "Audio over the WebSocket.");
  // iOS Safari plays a remote stream only if play() was called from the tap itself
  const unlocked = ui.remoteAudio.play();
  if (unlocked && unlocked.catch) unlocked.catch(() => {});
  S.busy = true;
  formMessage("");
  saveForm();
  setControls();
  const mic = startMic();
  try {
    if (!conn.connected) await conn.open();
  } catch (err) {
    formMessage(err.message);
    await mic;
    stopMic();
    S.busy = false;
    setControls();
    if (err.code === "auth") ui.apiKey.focus();
    return;
  }
  await mic;
  S.busy = false;
  if (S.sessionId) emitResume(); // a session left by a failed reconnection
  else emitStart();
  setControls();
}

function onEnd() {
  if (S.pendingResume) {
    sessionEnded("client_ended");
    return;
  }
  if (!(S.sessionActive || S.awaitingStart || S.resuming)) return;
  conn.emit("end", {});
  stopMic();
  stopPlayback();
  clearTimeout(S.endTimer);
  S.endTimer = setTimeout(() => {
    if (S.sessionActive || S.awaitingStart) sessionEnded("client_ended");
  }, 3000);
}

function sessionEnded(reason) {
  clearTimeout(S.endTimer);
  clearTimeout(S.resumeTimer);
  transcript.agentDone(null);
  if (S.sessionActive || S.awaitingStart) transcript.system(`Session ended (${reason}).`);
  S.sessionActive = false;
  S.awaitingStart = false;
  S.resuming = false;
  S.pendingResume = false;
  S.sessionId = null;
  stopWebRTC();
  stopMic();
  stopPlayback();
  setAgentState("idle");
  setControls();
}

function onConnectionStatus(code, text) {
  S.statusCode = code;
  S.statusText = text;
  ui.status.dataset.status = code;
  ui.status.textContent = text;
  if (code === "disconnected") {
    // reconnection gave up (or we closed): the session may be resumed with Start
    clearTimeout(S.resumeTimer);
    S.resuming = false;
    S.awaitingStart = false;
    if (S.sessionActive || S.pendingResume) {
      transcript.system("Connection lost. Press Start to try again (the session is resumed if it still exists).");
    }
    S.sessionActive = false;
    S.pendingResume = false;
    stopWebRTC();
    stopMic();
    stopPlayback();
    setAgentState("idle");
    setControls();
  } else if (code === "reconnecting") {
    S.rttReported = false;
  }
}

function onReconnected() {
  S.rttReported = false;
  if (S.sessionId && (S.sessionActive || S.resuming || S.pendingResume)) {
    onConnectionStatus("reconnecting", "reconnected, resuming the session…");
    emitResume();
  } else if (S.awaitingStart) {
    emitStart(); // the start was lost with the old socket
  }
  ping();
}

function onServerEvent(name, p) {
  S.events[name] = (S.events[name] || 0) + 1;
  const payload = p && typeof p === "object" ? p : {};
  switch (name) {
    case "session_started":
      if (!S.awaitingStart) {
        // not ours: another tab of this user started one (the room sees its events)
        if (payload.session_id !== S.sessionId) transcript.system("A session started in another tab.");
        break;
      }
      S.sessionId = payload.session_id || null;
      S.sessionActive = true;
      S.awaitingStart = false;
      newConversation();
      S.userTurnSeen = false;
      S.turn = null;
      clearLatencyRows(); // a new session counts its turns from the start
      transcript.setAgentName(PERSONA_NAMES[payload.persona] || payload.persona || "Agent");
      transcript.system(`Session started: ${payload.persona || S.persona}, ${payload.language || S.language}.`);
      if (S.afterFailedResume) {
        S.afterFailedResume = false;
        onConnectionStatus("new-session", "reconnected: the session could not be resumed, a new one started");
      }
      setAgentState("listening");
      setControls();
      flushReports();
      startWebRTC();
      break;
    case "session_resumed":
      if (!S.resuming) break;
      clearTimeout(S.resumeTimer);
      S.resuming = false;
      S.sessionActive = true;
      S.sessionId = payload.session_id || S.sessionId;
      S.resumes += 1;
      newConversation(); // the server restarts both directions' chunk numbers on resume
      if (transcript.entries.length === 0) transcript.history(payload.history);
      else transcript.system("Session resumed.");
      onConnectionStatus("resumed", "reconnected, session resumed");
      if (S.mic && !S.mic.running) startMic();
      setControls();
      flushReports();
      startWebRTC();
      break;
    case "state":
      if (VALID_STATES.has(payload.state)) {
        setAgentState(payload.state);
        // "listening": the agent is done (its audio played out); the next audio is a new turn.
        // ("thinking" may come between two sentences of one answer: not a boundary.)
        if (payload.state === "listening") {
          S.newTurnPending = true;
          S.dropAudio = false;
          transcript.agentDone(null);
        }
      }
      break;
    case "transcript_interim":
      if (payload.text) transcript.userInterim(String(payload.text));
      break;
    case "transcript_final":
      transcript.userFinal(String(payload.text ?? ""), payload.turn ?? null);
      if (payload.turn != null) S.turn = payload.turn;
      S.newTurnPending = true;
      S.userTurnSeen = true;
      break;
    case "agent_text":
      if (payload.turn != null) S.turn = payload.turn;
      if (payload.text) transcript.agentText(String(payload.text), payload.turn ?? null);
      break;
    case "audio":
      onAgentAudio(payload);
      break;
    case "audio_end":
      if (S.player) S.player.sentenceEnded(payload.sentence);
      break;
    case "barge_in_ack":
      if (performance.now() - S.lastAckAt < 1000 && S.bargeSentAt == null) break; // seen already
      S.lastAckAt = performance.now();
      S.bargeInAcks += 1;
      if (S.bargeSentAt != null) {
        S.lastBargeInAckMs = performance.now() - S.bargeSentAt;
        S.bargeSentAt = null;
      }
      flushPlayback(true);
      stopPlayback();
      S.dropAudio = false;
      clearTimeout(S.dropAudioTimer);
      S.newTurnPending = true;
      transcript.markInterrupted(payload.turn ?? null, payload.heard);
      if (payload.turn != null) latencyRow(payload.turn, { interrupted: true });
      break;
    case "tool_call":
      transcript.tool(String(payload.name ?? "?"), payload.arguments);
      break;
    case "tool_result":
      transcript.toolResult(String(payload.name ?? "?"), payload.ok !== false, payload.result);
      break;
    case "metrics":
      latencyRow(payload.turn ?? 0, {
        stt_final_ms: num(payload.stt_final_ms),
        first_audio_sent_ms: num(payload.first_audio_sent_ms),
        response_ms: num(payload.response_ms),
        interrupted: Boolean(payload.interrupted),
      });
      break;
    case "session_ended":
      if (payload.reason === "server_shutdown" && S.sessionId && S.sessionActive) {
        // the server keeps it resumable: reconnect (the socket drops soon) and resume it
        S.sessionActive = false;
        S.pendingResume = true;
        stopPlayback();
        setAgentState("idle");
        transcript.system("The server is restarting: the page reconnects and resumes the conversation.");
        setControls();
      } else {
        sessionEnded(payload.reason || "ended");
      }
      break;
    case "webrtc_state":
      if (payload.state === "closed" && S.rtc && payload.pc_id === S.rtc.pcId && S.sessionActive) {
        S.rtc._failed(`closed by the server (${payload.reason || "?"})`);
      }
      break;
    case "network_report_ack":
      break;
    case "pong":
      if (typeof payload.t === "number") {
        S.rttMs = performance.now() - payload.t;
        ui.timing.rtt.textContent = fmtMs(S.rttMs);
        if (!S.rttReported) {
          S.rttReported = true;
          reportTiming("network_check", S.rttMs);
        }
      }
      break;
    case "error":
      if (S.resuming && ["unknown_session", "no_session", "bad_payload"].includes(payload.code)) {
        resumeFailed(payload.code === "unknown_session" ? "unknown session" : payload.code);
      } else {
        transcript.error(`${payload.code || "error"}: ${payload.message || ""}`.trim());
        if (S.awaitingStart && (payload.code === "busy" || payload.code === "bad_payload")) {
          S.awaitingStart = false;
          setControls();
        }
      }
      break;
    default:
      break;
  }
}

function ping() {
  if (conn.connected) conn.emit("ping", { t: performance.now() });
}

function onSendText(event) {
  event.preventDefault();
  const text = ui.textInput.value.trim().slice(0, 500);
  if (!text || !S.sessionActive) return;
  if (!conn.emit("text", { text })) return;
  transcript.userTyped(text);
  S.lastSpeechAt = performance.now();
  S.userTurnSeen = true;
  S.newTurnPending = true;
  ui.textInput.value = "";
  ui.textInput.focus();
}

// ---------------------------------------------------------------- display loop

let lastFrame = performance.now();
let shownChunks = "";
function frame(now) {
  const dt = now - lastFrame;
  lastFrame = now;
  const { playing, rms } = output();
  avatar.update(rms, dt, playing);
  if (S.bargeAt != null && S.rtc && S.rtc.streamRms() < config.mouthGate) {
    S.silenceAfterBargeMs = performance.now() - S.bargeAt;
    S.bargeAt = null;
  }
  ui.outLevel.value = rms;
  ui.micLevel.value = S.mic && S.mic.running ? S.micRms : 0;
  const chunks = `${S.chunksSent} / ${S.chunksReceived}`;
  if (chunks !== shownChunks) {
    shownChunks = chunks;
    ui.timing.chunks.textContent = chunks;
  }
  requestAnimationFrame(frame);
}

// ---------------------------------------------------------------- test hooks

function hooks() {
  const h = {};
  const get = (name, fn) => Object.defineProperty(h, name, { get: fn, enumerable: true });
  get("outputRms", () => output().rms);
  get("maxOutputRms", () => Math.max(S.player ? S.player.maxRms : 0, S.rtcMaxRms || 0, S.rtc ? S.rtc.maxRms : 0));
  get("transport", () => (S.rtc && S.rtc.connected ? "webrtc" : "websocket"));
  get("transportChoice", () => S.transport);
  get("transportNote", () => S.transportNote);
  get("webrtcConnected", () => Boolean(S.rtc && S.rtc.connected));
  get("webrtcConnectMs", () => (S.rtc ? S.rtc.connectMs : null));
  get("webrtcRebuilds", () => (S.rtc ? S.rtc.rebuilds : 0));
  get("webrtcPcId", () => (S.rtc ? S.rtc.pcId : null));
  get("webrtcFallbacks", () => S.webrtcFallbacks);
  get("dataChannelEvents", () => ({ ...S.dataChannelEvents }));
  get("silenceAfterBargeMs", () => S.silenceAfterBargeMs);
  get("networkReport", () => (S.networkReport ? { ...S.networkReport } : null));
  get("mouthOpen", () => avatar.open);
  get("maxMouthOpen", () => avatar.maxOpen);
  get("micRms", () => S.micRms);
  get("playing", () => output().playing);
  get("playedMs", () => (S.player ? S.player.playedMs() : 0));
  get("state", () => S.state);
  get("sessionId", () => S.sessionId);
  get("sessionActive", () => S.sessionActive);
  get("connectionStatus", () => S.statusCode);
  get("connectionText", () => S.statusText);
  get("connected", () => conn.connected);
  get("reconnects", () => conn.reconnects);
  get("resumes", () => S.resumes);
  get("failedResumes", () => S.failedResumes);
  get("transcript", () => transcript.snapshot());
  get("latencies", () =>
    [...S.latencyRows.values()].map(({ tr, ...row }) => ({ ...row })),
  );
  get("pageTimings", () => S.timings.map((t) => ({ ...t })));
  get("audioChunksSent", () => S.chunksSent);
  get("audioChunksReceived", () => S.chunksReceived);
  get("lastSentSeq", () => S.lastSentSeq);
  get("playbackReports", () => S.playbackReports);
  get("lastPlaybackReported", () => S.lastPlaybackReported);
  get("chunksPlayed", () => (S.player ? S.player.playedChunks : 0));
  get("underruns", () => (S.player ? S.player.underruns : 0));
  get("bargeIns", () => S.bargeIns);
  get("bargeInAcks", () => S.bargeInAcks);
  get("lastBargeInAckMs", () => S.lastBargeInAckMs);
  get("rttMs", () => S.rttMs);
  get("events", () => ({ ...S.events }));
  get("audioContextState", () => (S.ctx ? S.ctx.state : "none"));
  get("sampleRate", () => (S.ctx ? S.ctx.sampleRate : null));
  get("config", () => ({ ...config }));
  return Object.freeze(h);
}

// ---------------------------------------------------------------- start-up

initForm();
setControls();
setAgentState("idle");
ui.form.addEventListener("submit", onStart);
ui.end.addEventListener("click", onEnd);
ui.textForm.addEventListener("submit", onSendText);
ui.networkCheck.addEventListener("click", onNetworkCheck);
for (const type of ["pointerdown", "keydown", "touchend"]) {
  document.addEventListener(type, resumeAudioOnGesture, { capture: true, passive: true });
}
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") resumeAudioOnGesture();
});
setInterval(() => flushPlayback(false), Math.max(20, Math.min(config.playbackReportMs, 100) / 2));
if (config.pingMs > 0) setInterval(ping, Math.max(1000, config.pingMs));
requestAnimationFrame(frame);
Object.defineProperty(window, "voxConsole", { value: hooks(), writable: false, configurable: false });
