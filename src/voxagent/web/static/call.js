// One call: GET /api/calls/{id} (with the API key in a header when the server wants one),
// drawn as facts, the recording, the transcript (what barge-ins cut is marked) and each turn's
// waterfall: one bar per stage, from the previous stage's mark to its own, on one millisecond
// scale for the whole call, with the provider that served the stage and the tools the agent
// ran. A live call is read again every 2 s until it ends.
//
// window.callPage holds what was drawn (the record, each turn's bars in ms) for tests.

import { askForKey, forgetKey, keyedFetch } from "./api-key.js";

const STAGES = [
  ["end_of_turn", "End of turn", null],
  ["stt_final", "STT final", "stt"],
  ["agent_first_text", "Agent first text", "llm"],
  ["tts_first_audio", "TTS first audio", "tts"],
  ["first_audio_sent", "First audio sent", null],
];
const PROVIDER_TIMES = [
  ["stt_final_after_turn_ms", "recognizer after the end of turn"],
  ["llm_ttft_ms", "agent: request → first text"],
  ["tts_ttfb_ms", "voice: first sentence → first audio"],
];
const REFRESH_MS = 2000;

const $ = (id) => document.getElementById(id);
const callId = decodeURIComponent(location.pathname.replace(/^\/calls\//, ""));
const page = { callId, record: null, loaded: false, loads: 0, turns: [], error: null };
window.callPage = page;

const el = (tag, props = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "className") node.className = value;
    else node.setAttribute(key, value);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
};
const ms = (v) => (typeof v === "number" ? `${Math.round(v)} ms` : "–");

function status(code, text) {
  const pill = $("call-status");
  pill.dataset.status = code;
  pill.textContent = text;
}

// ------------------------------------------------------------------ facts, recording

function drawFacts(record) {
  const facts = $("facts");
  facts.replaceChildren();
  const started = record.started_at ? new Date(record.started_at) : null;
  const ended = record.ended_at ? new Date(record.ended_at) : null;
  const rows = [
    ["State", record.state],
    ["Channel", [record.mode || record.session?.mode, record.direction].filter(Boolean).join(" · ")],
    ["Persona", [record.persona, record.language].filter(Boolean).join(" · ")],
    ["Outcome", record.outcome],
    ["Hang-up cause", record.hangup_cause],
    ["Started", started ? started.toLocaleString() : null],
    ["Duration", started && ended ? `${((ended - started) / 1000).toFixed(1)} s` : null],
    ["Instance", record.instance],
  ];
  for (const [name, key] of Object.entries(record.counters || {})) {
    const words = name.replaceAll("_", " ");
    if (key) rows.push([words[0].toUpperCase() + words.slice(1), String(key)]);
  }
  for (const [name, value] of rows) {
    if (value === null || value === undefined || value === "") continue;
    facts.append(el("div", {}, el("dt", {}, name), el("dd", {}, String(value))));
  }
}

function drawRecording(record) {
  const audio = $("recording");
  if (!record.recording_url) return;
  if (!audio.getAttribute("src")) audio.src = record.recording_url;
  audio.hidden = false;
  $("recording-hint").hidden = false;
  $("no-recording").hidden = true;
}

// ------------------------------------------------------------------ transcript

function drawTranscript(record) {
  const list = $("transcript");
  list.replaceChildren();
  for (const message of record.transcript || []) {
    const who = message.role === "user" ? "Caller" : "Agent";
    const item = el(
      "li",
      {
        className: `entry ${message.role === "user" ? "user" : "agent"}${message.interrupted ? " interrupted" : ""}`,
        dataset: { role: message.role, interrupted: String(Boolean(message.interrupted)) },
      },
      el("span", { className: "who" }, who),
      el("span", { className: "text" }, message.text || "…"),
      message.interrupted
        ? el("span", { className: "badge cut", title: "the caller talked over the agent: only this much was heard" }, "cut by barge-in")
        : null,
    );
    list.append(item);
  }
  if (!list.children.length) list.append(el("li", { className: "hint" }, "Nothing said yet."));
}

// ------------------------------------------------------------------ turns

/** Each stage's bar: from the previous stage's mark (0: the end of speech) to its own. */
export function bars(turn) {
  const out = [];
  let reached = 0;
  for (const [stage] of STAGES) {
    const end = turn[`${stage}_ms`];
    if (typeof end !== "number") continue;
    const start = Math.min(reached, end); // a speculative answer can start before the final
    out.push({ stage, startMs: start, endMs: end });
    reached = Math.max(reached, end);
  }
  return out;
}

function toolItem(tool) {
  const ok = tool.result && tool.result.ok !== false;
  return el(
    "li",
    { className: `tool ${ok ? "ok" : "failed"}`, dataset: { tool: tool.name } },
    el("details", {},
      el("summary", {}, el("code", {}, tool.name), ` ${ok ? "✓" : "✗"} `, el("span", { className: "hint" }, (tool.result && tool.result.message) || "")),
      el("h4", {}, "Arguments"),
      el("pre", {}, JSON.stringify(tool.arguments ?? {}, null, 2)),
      el("h4", {}, "Result"),
      el("pre", {}, JSON.stringify(tool.result ?? {}, null, 2)),
    ),
  );
}

function drawTurns(record) {
  const box = $("turns");
  box.replaceChildren();
  const turns = record.turns || [];
  page.turns = [];
  let scale = 1;
  for (const turn of turns) for (const bar of bars(turn)) scale = Math.max(scale, bar.endMs);
  const previous = {};
  for (const turn of turns) {
    const drawn = bars(turn);
    page.turns.push({ index: turn.turn, kind: turn.kind, bars: drawn });
    const providers = turn.providers || {};
    const badges = [];
    if (turn.interrupted)
      badges.push(el("span", { className: "badge cut" }, `cut by barge-in${typeof turn.interrupted_at_ms === "number" ? ` at ${ms(turn.interrupted_at_ms)}` : ""}`));
    if (turn.speculative) badges.push(el("span", { className: "badge" }, "speculative"));
    const waterfall = el("ol", { className: "waterfall", "aria-label": `Turn ${turn.turn}: stages in ms` });
    for (const [stage, label, providerStage] of STAGES) {
      const bar = drawn.find((b) => b.stage === stage);
      const track = el("span", { className: "track" });
      if (bar) {
        const piece = el("span", {
          className: "bar",
          dataset: { stage, startMs: String(bar.startMs), endMs: String(bar.endMs) },
          title: `${label}: ${ms(bar.endMs)} (this stage ${ms(bar.endMs - bar.startMs)})`,
        });
        piece.style.left = `${(bar.startMs / scale) * 100}%`;
        piece.style.width = `${((bar.endMs - bar.startMs) / scale) * 100}%`;
        track.append(piece);
      }
      let provider = null;
      if (providerStage && providers[providerStage]) {
        const name = providers[providerStage];
        const before = previous[providerStage];
        provider = el("span", { className: "provider", dataset: { provider: providerStage } }, name);
        if (before && before !== name) {
          provider.append(el("span", { className: "badge switch" }, `switched from ${before}`));
        }
        previous[providerStage] = name;
      }
      waterfall.append(
        el("li", { className: `stage${bar ? "" : " missing"}`, dataset: { stage } },
          el("span", { className: "label" }, label),
          track,
          el("span", { className: "value" }, bar ? ms(bar.endMs) : "–"),
          provider ?? el("span", { className: "provider" }),
        ),
      );
    }
    const own = PROVIDER_TIMES.filter(([key]) => typeof turn[key] === "number").map(
      ([key, label]) => `${label}: ${ms(turn[key])}`,
    );
    const tools = turn.tools || [];
    box.append(
      el("article", {
        className: "turn",
        dataset: { turn: String(turn.turn), kind: turn.kind, interrupted: String(Boolean(turn.interrupted)) },
      },
        el("header", {}, el("h3", {}, `Turn ${turn.turn} · ${turn.kind}`), ...badges),
        turn.user_text ? el("p", { className: "said user" }, el("b", {}, "Caller: "), turn.user_text) : null,
        turn.agent_text ? el("p", { className: "said agent" }, el("b", {}, "Agent: "), turn.agent_text) : null,
        waterfall,
        own.length ? el("p", { className: "hint provider-times" }, `Providers' own time: ${own.join(" · ")}`) : null,
        tools.length ? el("h4", {}, "Tools") : null,
        tools.length ? el("ul", { className: "tools" }, ...tools.map(toolItem)) : null,
      ),
    );
  }
  if (!turns.length) box.append(el("p", { className: "hint" }, "No turn yet."));
  box.dataset.scaleMs = String(scale);
}

// ------------------------------------------------------------------ loading

function draw(record) {
  page.record = record;
  $("call-id").textContent = record.call_id || callId;
  document.title = `voxagent call ${record.call_id || callId}`;
  drawFacts(record);
  drawRecording(record);
  drawTranscript(record);
  drawTurns(record);
  status(record.state === "ended" ? "ended" : "live", record.state === "ended" ? "ended" : `${record.state || "live"} (refreshing)`);
  page.loaded = true;
  page.loads += 1;
}

const sleep = (t) => new Promise((resolve) => setTimeout(resolve, t));

async function load() {
  $("call-id").textContent = callId;
  let endedReads = 0;
  for (;;) {
    let res;
    try {
      res = await keyedFetch(`/api/calls/${encodeURIComponent(callId)}`);
    } catch (err) {
      status("offline", `cannot reach the server (${err.message}); retrying`);
      await sleep(REFRESH_MS);
      continue;
    }
    if (res.status === 401) {
      forgetKey();
      status("auth", "API key needed");
      await askForKey("This server wants an API key.");
      continue;
    }
    if (res.status === 404) {
      page.error = "unknown";
      status("missing", "no call with this id");
      return;
    }
    if (!res.ok) {
      status("error", `the server answered ${res.status}; retrying`);
      await sleep(REFRESH_MS);
      continue;
    }
    draw(await res.json());
    // Ended for good once its record says so (a live call that just ended has no record
    // yet for a moment; a call known only by its session never gets one).
    if (page.record.ended_at || (page.record.state === "ended" && (endedReads += 1) > 5)) return;
    await sleep(REFRESH_MS);
  }
}

load();
