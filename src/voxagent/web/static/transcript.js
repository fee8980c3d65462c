// The live transcript: the user's interim words (grey) and final words (black), the agent's
// lines as they stream, tool calls and results, and notes (session started, errors…).
//
// Each line is an <li class="entry"> in #transcript with data-role (user | agent | tool |
// system | error), data-final ("true"/"false"), data-turn (when known) and, for an agent line
// cut by a barge-in, data-interrupted="true" and the class "is-interrupted".

const NAMES = { user: "You", agent: "Agent", tool: "Tool", system: "", error: "Error" };

export class Transcript {
  constructor(list) {
    this.list = list;
    this.entries = []; // {role, text, final, turn, interrupted, heard, typed, el}
    this.agentName = "Agent";
    this.interim = null; // the user's line being recognized (grey), until its final transcript
  }

  /** Plain copies for tests and debugging. */
  snapshot() {
    return this.entries.map(({ el, at, ...rest }) => ({ ...rest }));
  }

  clear() {
    this.entries = [];
    this.interim = null;
    this.list.replaceChildren();
  }

  setAgentName(name) {
    this.agentName = name;
  }

  userInterim(text) {
    if (this.interim) this._set(this.interim, { text });
    else this.interim = this._add({ role: "user", text, final: false });
  }

  userFinal(text, turn) {
    // a typed line waiting for the server's echo of it, or the interim line, becomes final
    const now = Date.now();
    const typed = this.entries.find(
      (e) => e.role === "user" && e.typed && e.turn == null && e.text === text && now - e.at < 15_000,
    );
    if (typed) return this._set(typed, { turn });
    const line = this.interim;
    this.interim = null;
    if (line) return this._set(line, { text, final: true, turn });
    return this._add({ role: "user", text, final: true, turn });
  }

  userTyped(text) {
    if (this.interim) {
      this._remove(this.interim);
      this.interim = null;
    }
    return this._add({ role: "user", text, final: true, typed: true, turn: null, at: Date.now() });
  }

  /**
   * Agent text as it streams: pieces are appended to the current line (a piece that repeats
   * the line so far, i.e. the text so far rather than a delta, replaces it).
   */
  agentText(text, turn) {
    // the same line while nothing came in between (a tool call starts a new line after it)
    const last = this.entries[this.entries.length - 1];
    const line =
      last && last.role === "agent" && !last.interrupted && (turn == null || last.turn === turn) ? last : null;
    if (!line) return this._add({ role: "agent", text, final: false, turn: turn ?? null });
    let merged;
    if (text.startsWith(line.text)) merged = text;
    else if (/\s$/.test(line.text) || /^[\s.,;:!?)]/.test(text) || line.text === "") merged = line.text + text;
    else merged = `${line.text} ${text}`;
    return this._set(line, { text: merged });
  }

  /** The agent finished speaking this turn's text (its audio was all sent). */
  agentDone(turn) {
    const line = this.entries.findLast((e) => e.role === "agent" && (turn == null || e.turn === turn));
    if (line) this._set(line, { final: true });
  }

  /** A barge-in cut the agent: the line of `turn` (or the last agent line) is marked. */
  markInterrupted(turn, heard) {
    let line = turn == null ? null : this.entries.findLast((e) => e.role === "agent" && e.turn === turn);
    if (!line) line = this._last("agent");
    if (!line) return;
    const patch = { interrupted: true, final: true };
    if (typeof heard === "string") patch.heard = heard;
    this._set(line, patch);
  }

  tool(name, args) {
    return this._add({ role: "tool", text: `${name}(${compact(args)})`, final: true, tool: name });
  }

  toolResult(name, ok, result) {
    return this._add({
      role: "tool",
      text: `${name} ${ok ? "→" : "failed:"} ${compact(result)}`,
      final: true,
      tool: name,
      ok: Boolean(ok),
    });
  }

  system(text) {
    return this._add({ role: "system", text, final: true });
  }

  error(text) {
    return this._add({ role: "error", text, final: true });
  }

  /** A resumed session's history: [{role, text, interrupted}]. */
  history(items) {
    for (const item of items || []) {
      const role = item.role === "assistant" || item.role === "agent" ? "agent" : item.role === "user" ? "user" : "system";
      this._add({ role, text: String(item.text ?? ""), final: true, interrupted: Boolean(item.interrupted) });
    }
  }

  _last(role) {
    return this.entries.findLast((e) => e.role === role) || null;
  }

  _add(fields) {
    const entry = { interrupted: false, turn: null, ...fields };
    const el = document.createElement("li");
    entry.el = el;
    this.entries.push(entry);
    this._render(entry);
    const stick = this._nearBottom();
    this.list.append(el);
    if (stick) this._scroll();
    return entry;
  }

  _set(entry, patch) {
    Object.assign(entry, patch);
    const stick = this._nearBottom();
    this._render(entry);
    if (stick) this._scroll();
    return entry;
  }

  _remove(entry) {
    this.entries.splice(this.entries.indexOf(entry), 1);
    entry.el.remove();
  }

  _render(entry) {
    const { el } = entry;
    el.className = `entry entry--${entry.role}`;
    el.classList.toggle("is-interim", !entry.final);
    el.classList.toggle("is-interrupted", entry.interrupted);
    if (entry.role === "tool" && entry.ok === false) el.classList.add("is-failed");
    el.dataset.role = entry.role;
    el.dataset.final = String(entry.final);
    if (entry.turn != null) el.dataset.turn = String(entry.turn);
    else delete el.dataset.turn;
    if (entry.interrupted) el.dataset.interrupted = "true";
    else delete el.dataset.interrupted;
    const parts = [];
    const who = entry.role === "agent" ? this.agentName : NAMES[entry.role];
    if (who) parts.push(span("who", who));
    parts.push(span("text", entry.text));
    if (entry.typed) parts.push(span("tag", "typed"));
    if (entry.interrupted) {
      parts.push(span("tag tag--cut", "interrupted"));
      if (entry.heard) parts.push(span("heard", `heard: “${entry.heard}”`));
    }
    el.replaceChildren(...parts);
  }

  _nearBottom() {
    const box = this.list.parentElement;
    return !box || box.scrollHeight - box.scrollTop - box.clientHeight < 48;
  }

  _scroll() {
    const box = this.list.parentElement;
    if (box) box.scrollTop = box.scrollHeight;
  }
}

function span(cls, text) {
  const s = document.createElement("span");
  s.className = cls;
  s.textContent = text;
  return s;
}

function compact(value) {
  if (value == null) return "";
  if (typeof value === "string") return value;
  try {
    const text = JSON.stringify(value);
    return text.length > 300 ? `${text.slice(0, 299)}…` : text;
  } catch {
    return String(value);
  }
}
