// The dashboard's only way to the server: the public GraphQL API (POST with the session's CSRF
// header) and its subscriptions (graphql-transport-ws over a same-origin WebSocket, on which
// the browser sends the session cookie itself).

export class GraphQLError extends Error {
  constructor(message, code, data) {
    super(message);
    this.code = code || null;
    this.data = data || null;
  }
}

export class Api {
  constructor() {
    this.csrf = null;
    this.onSignedOut = () => {};
  }

  async _session(method, body) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (this.csrf) headers["X-CSRF-Token"] = this.csrf;
    const response = await fetch("/dashboard/session", {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const answer = await response.json().catch(() => ({}));
    return { ok: response.ok, answer };
  }

  /** The session the cookie holds, or null. */
  async current() {
    const { ok, answer } = await this._session("GET");
    this.csrf = ok ? answer.csrfToken : null;
    return ok ? answer : null;
  }

  async signIn(token) {
    const { ok, answer } = await this._session("POST", { token });
    if (!ok) throw new GraphQLError(answer.error || "signing in failed", "UNAUTHENTICATED");
    this.csrf = answer.csrfToken;
    return answer;
  }

  async signOut() {
    await this._session("DELETE").catch(() => {});
    this.csrf = null;
  }

  async query(query, variables = {}) {
    const response = await fetch("/graphql", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": this.csrf || "" },
      body: JSON.stringify({ query, variables }),
    });
    let body;
    try {
      body = await response.json();
    } catch {
      throw new GraphQLError(`the server answered HTTP ${response.status}`);
    }
    if (body.errors && body.errors.length) {
      const code = (body.errors[0].extensions || {}).code;
      if (code === "UNAUTHENTICATED") this.onSignedOut();
      throw new GraphQLError(body.errors.map((e) => e.message).join("; "), code, body.data);
    }
    return body.data;
  }

  /** Download an output file (a REST route that takes the same cookie and CSRF header). */
  async download(url, fileName) {
    const response = await fetch(url, { credentials: "same-origin", headers: { "X-CSRF-Token": this.csrf || "" } });
    if (!response.ok) throw new GraphQLError(`download failed: HTTP ${response.status}`);
    const link = document.createElement("a");
    link.href = URL.createObjectURL(await response.blob());
    link.download = fileName;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
  }
}

// A small graphql-transport-ws client: one socket, opened on the first subscription, closed
// when the last ends; reconnects with backoff and subscribes again.
export class Subscriptions {
  constructor(url, onStateChange = () => {}) {
    this.url = url;
    this.onStateChange = onStateChange;
    this.socket = null;
    this.acked = false;
    this.nextId = 1;
    this.active = new Map(); // id -> {payload, sink}
    this.retry = 0;
  }

  subscribe(query, variables, sink) {
    const id = String(this.nextId++);
    this.active.set(id, { payload: { query, variables }, sink });
    if (!this.socket) this._open();
    else if (this.acked) {
      this._send({ id, type: "subscribe", payload: { query, variables } });
      sink.started?.();
    }
    return () => {
      if (!this.active.delete(id)) return;
      if (this.acked) this._send({ id, type: "complete" });
      if (this.active.size === 0) this.close();
    };
  }

  close() {
    const socket = this.socket;
    this.socket = null;
    this.acked = false;
    if (socket) socket.close(1000, "done");
    this.onStateChange("closed");
  }

  _send(message) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }

  _open() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${scheme}//${location.host}${this.url}`, "graphql-transport-ws");
    this.socket = socket;
    this.onStateChange("connecting");
    socket.onopen = () => socket.send(JSON.stringify({ type: "connection_init", payload: {} }));
    socket.onmessage = (event) => {
      if (socket !== this.socket) return;
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      const entry = message.id ? this.active.get(message.id) : null;
      if (message.type === "connection_ack") {
        this.acked = true;
        this.retry = 0;
        this.onStateChange("live");
        for (const [id, { payload, sink }] of this.active) {
          this._send({ id, type: "subscribe", payload });
          sink.started?.();
        }
      } else if (message.type === "ping") {
        this._send({ type: "pong" });
      } else if (message.type === "next" && entry) {
        const { data, errors } = message.payload || {};
        if (errors && errors.length) entry.sink.error?.(errors);
        if (data) entry.sink.next(data);
      } else if (message.type === "error" && entry) {
        this.active.delete(message.id);
        entry.sink.error?.(message.payload);
      } else if (message.type === "complete" && entry) {
        this.active.delete(message.id);
        entry.sink.complete?.();
      }
    };
    socket.onclose = (event) => {
      if (socket !== this.socket) return;
      this.socket = null;
      this.acked = false;
      if (this.active.size === 0) return this.onStateChange("closed");
      this.onStateChange("reconnecting");
      const delay = Math.min(30000, 500 * 2 ** this.retry++);
      if (event.code === 4403 || event.code === 4401) return this.onStateChange("refused");
      setTimeout(() => {
        if (!this.socket && this.active.size) this._open();
      }, delay);
    };
  }
}
