// The live dashboard: reads GET /api/metrics/stream (Server-Sent Events) with fetch(), so the
// API key goes in a header (EventSource cannot send one), and draws each event: tiles, three
// uPlot time series that grow by one point per event, the stage table and the recent calls.
//
// For tests and the curious: window.dashboardCharts.{response,stages,active}.data holds each
// chart's series ([x (unix s), y1, y2, …]); window.dashboardState the last event and counts.

import { askForKey, forgetKey, keyedFetch } from "./api-key.js";

// ?window=<seconds> (60–86400) sets the window the percentiles, errors and barge-ins cover.
const WINDOW_S = Number(new URLSearchParams(location.search).get("window")) || null;
const STREAM_URL = `/api/metrics/stream${WINDOW_S ? `?window_s=${Math.round(WINDOW_S)}` : ""}`;
const MAX_POINTS = 1800; // an hour at one event every 2 s
const STAGES = [
  ["stt_final", "STT final", "#2b8a3e"],
  ["agent_first_text", "Agent first text", "#1971c2"],
  ["tts_first_audio", "TTS first audio", "#e8590c"],
  ["first_audio_sent", "First audio sent", "#862e9c"],
];
const CHANNELS = [
  ["media_stream", "Phone (media stream)", "#1971c2"],
  ["webhook", "Phone (webhook)", "#e8590c"],
  ["browser", "Browser", "#2b8a3e"],
];

const $ = (id) => document.getElementById(id);

const state = {
  events: 0,
  problems: 0,
  last: null,
  status: "connecting",
  reconnects: 0,
};
window.dashboardState = state;

// ------------------------------------------------------------------ charts

function chart(id, series, yLabel) {
  const el = $(id);
  const data = [[], ...series.map(() => [])];
  const plot = new window.uPlot(
    {
      width: Math.max(320, el.clientWidth || 640),
      height: 220,
      scales: { x: { time: true } },
      axes: [{}, { label: yLabel, size: 60 }],
      series: [
        { label: "time" },
        ...series.map(([, label, color]) => ({
          label,
          stroke: color,
          width: 2,
          spanGaps: true,
          points: { show: true, size: 5 },
        })),
      ],
    },
    data,
    el,
  );
  return { names: series.map(([name]) => name), data, plot };
}

const charts = {
  response: chart(
    "chart-response",
    [
      ["p50", "p50", "#2b8a3e"],
      ["p95", "p95", "#e8590c"],
      ["p99", "p99", "#c92a2a"],
    ],
    "ms",
  ),
  stages: chart("chart-stages", STAGES, "ms"),
  active: chart("chart-active", [["total", "All", "#343a40"], ...CHANNELS], "calls"),
};
window.dashboardCharts = charts;

function addPoint(which, x, values) {
  const { data, plot } = charts[which];
  const xs = data[0];
  const replace = xs.length > 0 && xs[xs.length - 1] === x;
  if (!replace) {
    xs.push(x);
    values.forEach((v, i) => data[i + 1].push(v));
  } else {
    values.forEach((v, i) => {
      data[i + 1][data[i + 1].length - 1] = v;
    });
  }
  if (xs.length > MAX_POINTS) for (const series of data) series.shift();
  plot.setData(data);
}

function resize() {
  for (const { plot } of Object.values(charts)) {
    const width = plot.root.parentElement.clientWidth;
    if (width > 0) plot.setSize({ width: Math.max(320, width), height: 220 });
  }
}
window.addEventListener("resize", resize);

// ------------------------------------------------------------------ drawing

const ms = (v) => (v === null || v === undefined ? "–" : `${Math.round(v)} ms`);
const pct = (v) => (v === null || v === undefined ? "–" : `${(v * 100).toFixed(1)} %`);

function setText(id, text) {
  $(id).textContent = String(text);
}

function fillList(id, entries, empty) {
  const list = $(id);
  list.replaceChildren();
  for (const [name, value] of entries) {
    const li = document.createElement("li");
    const key = document.createElement("span");
    key.textContent = name;
    const val = document.createElement("strong");
    val.textContent = String(value);
    li.append(key, val);
    list.append(li);
  }
  if (!entries.length && empty) {
    const li = document.createElement("li");
    li.className = "hint";
    li.textContent = empty;
    list.append(li);
  }
}

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  row.append(td);
  return td;
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const m = Math.floor(seconds / 60);
  const s = Math.round(seconds % 60);
  return m ? `${m} min ${s} s` : `${s} s`;
}

function drawRecent(rows) {
  const body = $("recent-rows");
  body.replaceChildren();
  for (const call of rows) {
    const tr = document.createElement("tr");
    tr.dataset.callId = call.call_id;
    if (call.live) tr.classList.add("live");
    const started = new Date(call.started_at);
    const time = document.createElement("time");
    time.dateTime = call.started_at;
    time.textContent = started.toLocaleString();
    cell(tr, "").append(time);
    cell(tr, `${call.channel || "?"} · ${call.direction}`);
    cell(tr, call.persona || "–");
    cell(tr, duration(call.duration_s), "num");
    cell(tr, String(call.turns), "num");
    cell(tr, call.live ? "live" : call.outcome || "–", `outcome outcome-${(call.outcome || "live").split(":")[0]}`);
    cell(tr, ms(call.p95_ms), "num");
    const link = document.createElement("a");
    link.href = `/calls/${encodeURIComponent(call.call_id)}`;
    link.textContent = "details";
    link.title = call.call_id;
    cell(tr, "").append(link);
    body.append(tr);
  }
  if (!rows.length) {
    const tr = document.createElement("tr");
    cell(tr, "No calls yet.", "hint").colSpan = 8;
    body.append(tr);
  }
}

function drawStages(stages) {
  const body = $("stage-rows");
  body.replaceChildren();
  for (const [name, label] of STAGES) {
    const s = stages[name] || {};
    const tr = document.createElement("tr");
    tr.dataset.stage = name;
    const th = document.createElement("th");
    th.scope = "row";
    th.textContent = label;
    tr.append(th);
    cell(tr, ms(s.p50), "num");
    cell(tr, ms(s.p95), "num");
    cell(tr, ms(s.p99), "num");
    cell(tr, String(s.count ?? 0), "num");
    body.append(tr);
  }
}

function draw(event) {
  state.events += 1;
  state.last = event;
  const x = Date.parse(event.at) / 1000;
  const numbers = event.dashboard || { realtime: {}, last1h: {} };
  const response = event.latency.response;

  setText("updated-at", new Date(event.at).toLocaleTimeString());
  $("updated-at").dateTime = event.at;
  setText("instance", event.instance || "–");
  setText("window", `${Math.round(event.window_s / 60)} min`);

  setText("active-total", event.active.total);
  fillList(
    "active-by-channel",
    Object.entries(event.active.by_channel),
    "nobody on the line",
  );
  setText("p50", ms(response.p50));
  setText("p95", ms(response.p95));
  setText("p99", ms(response.p99));
  setText("answers", response.count);
  setText("error-rate", pct(event.errors.rate));
  setText("failed-calls", event.errors.failed_calls);
  setText("ended-calls", event.calls.ended);
  setText("switches", event.errors.switches);
  fillList("switches-by-kind", Object.entries(event.errors.switches_by_kind), "");
  setText("barge-ins", event.barge_ins.count);
  setText("turns-cut", event.barge_ins.turns_cut);
  setText("calls-with-barge-ins", event.barge_ins.calls_with);
  const hour = numbers.last1h || {};
  setText("total-calls", hour.totalCalls ?? "–");
  setText("success-rate", pct(hour.successRate));
  setText("avg-duration", duration(hour.avgDuration));
  setText("errors-count", hour.errorsCount ?? "–");
  const client = event.client || {};
  setText("client-token", ms((client.token || {}).p50));
  setText("client-connect", ms((client.connect || {}).p50));
  setText("client-first-audio", ms((client.first_audio_heard || {}).p95));
  setText("client-underruns", client.underruns ?? "–");
  const memory = (numbers.realtime || {}).memoryAvg;
  setText("memory", memory === null || memory === undefined ? "–" : `${Math.round(memory)} MB`);

  addPoint("response", x, [response.p50, response.p95, response.p99]);
  addPoint(
    "stages",
    x,
    STAGES.map(([name]) => (event.latency.stages[name] || {}).p95 ?? null),
  );
  addPoint("active", x, [
    event.active.total,
    ...CHANNELS.map(([name]) => event.active.by_channel[name] || 0),
  ]);
  drawStages(event.latency.stages);
  drawRecent(event.recent);
}

// ------------------------------------------------------------------ the stream

function status(code, text) {
  state.status = code;
  const pill = $("stream-status");
  pill.dataset.status = code;
  pill.textContent = text;
}

/** Split a Server-Sent Events buffer into complete events; returns [events, rest]. */
export function parseEvents(buffer) {
  const events = [];
  const normalized = buffer.replace(/\r\n?/g, "\n");
  const blocks = normalized.split("\n\n");
  const rest = blocks.pop();
  for (const block of blocks) {
    const event = { event: "message", data: [], id: null, retry: null };
    for (const line of block.split("\n")) {
      if (!line || line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") event.event = value;
      else if (field === "data") event.data.push(value);
      else if (field === "id") event.id = value;
      else if (field === "retry") event.retry = Number(value);
    }
    events.push(event);
  }
  return [events, rest];
}

let retryMs = 2000;

async function followOnce() {
  const res = await keyedFetch(STREAM_URL, { headers: { Accept: "text/event-stream" } });
  if (res.status === 401) {
    forgetKey();
    status("auth", "API key needed");
    await askForKey(state.events ? "The key was refused." : "This server wants an API key.");
    return "key";
  }
  if (res.status === 422) throw new Error("?window= must be 60 to 86400 seconds");
  if (!res.ok || !res.body) throw new Error(`the stream answered ${res.status}`);
  status("live", "live");
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    const [events, rest] = parseEvents(buffer);
    buffer = rest;
    for (const event of events) {
      if (event.retry) retryMs = Math.min(Math.max(event.retry, 500), 10000);
      if (!event.data.length) continue;
      const body = JSON.parse(event.data.join("\n"));
      if (event.event === "dashboard") draw(body);
      else if (event.event === "problem") {
        state.problems += 1;
        status("problem", body.detail || "the server could not read the calls");
      }
    }
  }
}

async function follow() {
  for (;;) {
    try {
      if ((await followOnce()) === "key") continue; // a new key: try it at once
      if (state.status === "live") status("reconnecting", "reconnecting…");
    } catch (err) {
      status("offline", `disconnected (${err.message}); retrying`);
    }
    state.reconnects += 1;
    await new Promise((resolve) => setTimeout(resolve, retryMs));
  }
}

resize();
follow();
