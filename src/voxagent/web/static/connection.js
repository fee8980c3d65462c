// The Socket.IO connection to the `/sandra` namespace: a token from POST /api/sandra/token,
// then one socket at a time, and our own reconnection (the client's built-in one is off, so
// each attempt can fetch a fresh token: the old one may have expired, or the server restarted
// with a new signing secret).

import { io } from "./vendor/socket.io.esm.min.js";

export const NAMESPACE = "/sandra";
export const SOCKET_PATH = "/socket.io";
export const TOKEN_URL = "/api/sandra/token";

/** An error with a message fit for the page; `code` is "auth", "rate_limited", "token", "connect". */
export class ConnectionError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class Connection {
  /**
   * @param {object} o
   * @param {() => {apiKey: string, userId: string, persona: string, language: string}} o.credentials
   * @param {(name: string, payload: any) => void} o.onEvent   every server event
   * @param {(code: string, text: string) => void} o.onStatus   connection status changes
   * @param {(name: string, ms: number) => void} o.onTiming     the page's own timings (token, connect)
   * @param {() => void} o.onReconnected                         a new socket replaced a dropped one
   * @param {number[]} o.backoffMs  waits before each reconnection attempt (its length is the number of tries)
   */
  constructor({ credentials, onEvent, onStatus, onTiming, onReconnected, backoffMs }) {
    this.credentials = credentials;
    this.onEvent = onEvent;
    this.onStatus = onStatus;
    this.onTiming = onTiming;
    this.onReconnected = onReconnected;
    this.backoffMs = backoffMs;
    this.socket = null;
    this.token = null;
    this.tokenExpiresAt = 0;
    this.tokenFor = "";
    this.closing = false;
    this.reconnecting = false;
    this.reconnects = 0;
  }

  get connected() {
    return Boolean(this.socket && this.socket.connected);
  }

  /** Connects (first time, or again after `close`). Throws a ConnectionError. */
  async open() {
    this.closing = false;
    this.onStatus("connecting", "connecting…");
    try {
      const cached = this._hasToken();
      const token = await this._token(false);
      try {
        this._adopt(await this._connectOnce(token));
      } catch (err) {
        // a kept token refused: the server restarted (new secret) or revoked it; ask again once
        if (!cached || err.code !== "connect") throw err;
        this._adopt(await this._connectOnce(await this._token(true)));
      }
    } catch (err) {
      this.onStatus("disconnected", `disconnected: ${err.message}`);
      throw err;
    }
    this.onStatus("connected", "connected");
  }

  /** Closes on purpose: no reconnection. */
  close() {
    this.closing = true;
    if (this.socket) {
      this.socket.off();
      this.socket.offAny();
      this.socket.disconnect();
      this.socket = null;
    }
    this.onStatus("disconnected", "disconnected");
  }

  /** Emits if connected; returns whether it was sent. */
  emit(name, payload) {
    if (!this.connected) return false;
    this.socket.emit(name, payload);
    return true;
  }

  _tokenKey() {
    const c = this.credentials();
    return `${c.userId}|${c.persona}|${c.language}|${c.apiKey}`;
  }

  /** A token for the current credentials that is still valid for at least 30 s. */
  _hasToken() {
    return Boolean(this.token) && this.tokenFor === this._tokenKey() && Date.now() < this.tokenExpiresAt - 30_000;
  }

  async _token(fresh) {
    const c = this.credentials();
    const key = this._tokenKey();
    if (!fresh && this._hasToken()) return this.token;
    const headers = { "Content-Type": "application/json" };
    if (c.apiKey) headers.Authorization = `Bearer ${c.apiKey}`;
    const t0 = performance.now();
    let res;
    try {
      res = await fetch(TOKEN_URL, {
        method: "POST",
        headers,
        body: JSON.stringify({ user_id: c.userId, persona: c.persona, language: c.language }),
        cache: "no-store",
      });
    } catch (err) {
      throw new ConnectionError("token", `the server cannot be reached (${err.message})`);
    }
    if (res.status === 401 || res.status === 403) {
      throw new ConnectionError(
        "auth",
        c.apiKey ? "the API key was refused" : "this server needs an API key",
      );
    }
    if (res.status === 429) {
      const after = res.headers.get("Retry-After");
      throw new ConnectionError("rate_limited", `too many tokens asked for${after ? `: retry in ${after} s` : ""}`);
    }
    if (!res.ok) {
      let detail = "";
      try {
        const body = await res.json();
        detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail ?? "");
      } catch {
        /* not JSON */
      }
      throw new ConnectionError("token", `the token endpoint answered ${res.status}${detail ? `: ${detail}` : ""}`);
    }
    const body = await res.json();
    if (!body || typeof body.token !== "string") throw new ConnectionError("token", "no token in the answer");
    this.onTiming("token", performance.now() - t0);
    this.token = body.token;
    this.tokenFor = key;
    const ttl = Number(body.expires_in) > 0 ? Number(body.expires_in) : 900;
    this.tokenExpiresAt = Date.now() + ttl * 1000;
    return this.token;
  }

  _connectOnce(token) {
    return new Promise((resolve, reject) => {
      const t0 = performance.now();
      const socket = io(NAMESPACE, {
        path: SOCKET_PATH,
        transports: ["websocket"],
        auth: { token },
        reconnection: false,
        forceNew: true,
        timeout: 10_000,
      });
      socket.once("connect", () => {
        socket.off("connect_error");
        this.onTiming("connect", performance.now() - t0);
        resolve(socket);
      });
      socket.once("connect_error", (err) => {
        socket.off();
        socket.close();
        // the server's reason for a refusal (expired, forged or missing token) is the message
        const why = (err && (err.data?.message || err.message)) || "refused";
        reject(new ConnectionError("connect", `connection refused: ${why}`));
      });
    });
  }

  _adopt(socket) {
    if (this.socket && this.socket !== socket) {
      this.socket.off();
      this.socket.offAny();
      this.socket.close();
    }
    this.socket = socket;
    socket.onAny((name, payload) => this.onEvent(name, payload));
    socket.on("disconnect", (reason) => {
      if (this.socket !== socket) return;
      if (this.closing || reason === "io client disconnect") {
        this.onStatus("disconnected", "disconnected");
        return;
      }
      this._reconnect(reason);
    });
  }

  async _reconnect(reason) {
    if (this.reconnecting) return;
    this.reconnecting = true;
    const tries = this.backoffMs.length;
    let fresh = false;
    let last = reason;
    try {
      for (let i = 0; i < tries; i++) {
        this.onStatus("reconnecting", `reconnecting (${i + 1}/${tries})…`);
        await sleep(this.backoffMs[i]);
        if (this.closing) return;
        try {
          const token = await this._token(fresh);
          const socket = await this._connectOnce(token);
          if (this.closing) {
            socket.close();
            return;
          }
          this._adopt(socket);
          this.reconnects += 1;
          this.onStatus("connected", "reconnected");
          this.onReconnected();
          return;
        } catch (err) {
          last = err.message;
          // refused or unreachable: the next attempt asks for a new token (after a server
          // restart the old one is signed with a secret the server no longer has)
          fresh = true;
          if (err.code === "auth") break;
        }
      }
      this.socket = null;
      this.onStatus("disconnected", `disconnected (${last})`);
    } finally {
      this.reconnecting = false;
    }
  }
}
