// <voice-mic>: a microphone for any page, in one script tag.
//
// Inside a page that talks to the edge itself (the edge's own page), it is a
// button: while on it emits "pcm" events (detail: an ArrayBuffer of 16 kHz mono
// PCM16, ~100 ms each), "state" ({on}) and "error" (a message).
//
// With a server, it is the whole assistant (seed 001's mic for any website):
//   <script src="https://edge.example/static/voice-mic.js"></script>
//   <voice-mic server="https://edge.example" token="…"></voice-mic>
// It opens its own WebSocket to the edge (whose SWITCHBOARD_EDGE_ALLOWED_ORIGINS
// must name this page's origin), streams the microphone, plays the spoken answer
// and shows what it heard and answered. It emits "transcript" ({text, final}),
// "answer" ({text, final}: the answer as it streams), "response" ({text}: the
// whole answer), "audio" ({answer_id, index, last, seconds}: a piece of the spoken
// answer, as it starts playing), "state" ({on, status}: idle, listening,
// thinking, speaking) and "error" ({message}).
const WORKLET = `
class Pcm16 extends AudioWorkletProcessor {
  constructor() { super(); this.buf = new Int16Array(1600); this.n = 0; }
  process(inputs) {
    const ch = inputs[0] && inputs[0][0];
    if (ch) for (let i = 0; i < ch.length; i++) {
      const v = Math.max(-1, Math.min(1, ch[i]));
      this.buf[this.n++] = v < 0 ? v * 0x8000 : v * 0x7fff;
      if (this.n === this.buf.length) { this.port.postMessage(this.buf.buffer.slice(0)); this.n = 0; }
    }
    return true;
  }
}
registerProcessor("pcm16", Pcm16);`;

// Plays PCM16 chunks one after another; stops at once on cancel (barge-in).
class VoicePlayer {
  constructor() { this.ctx = null; this.next = 0; this.sources = new Set(); this.stats = { chunks: 0, seconds: 0, cancelled: 0 }; }
  unlock() {
    // browsers start audio only after a user gesture: call this from one (the mic button)
    if (!this.ctx) this.ctx = new AudioContext();
    if (this.ctx.state === "suspended") this.ctx.resume();
  }
  play(pcmBase64Url, sampleRate) {
    this.unlock();
    const bin = atob(pcmBase64Url.replace(/-/g, "+").replace(/_/g, "/"));
    const n = bin.length >> 1;
    if (!n) return 0;
    const buffer = this.ctx.createBuffer(1, n, sampleRate);
    const data = buffer.getChannelData(0);
    for (let i = 0; i < n; i++) {
      let v = bin.charCodeAt(2 * i) | (bin.charCodeAt(2 * i + 1) << 8);
      if (v >= 0x8000) v -= 0x10000;
      data[i] = v / 0x8000;
    }
    const src = this.ctx.createBufferSource();
    src.buffer = buffer;
    src.connect(this.ctx.destination);
    const at = Math.max(this.ctx.currentTime + 0.02, this.next);
    src.start(at);
    this.next = at + buffer.duration;
    this.sources.add(src);
    src.onended = () => this.sources.delete(src);
    this.stats.chunks += 1;
    this.stats.seconds += buffer.duration;
    return buffer.duration;
  }
  get playing() { return this.sources.size > 0; }
  cancel() {
    if (this.sources.size) this.stats.cancelled += 1;
    this.sources.forEach((s) => { try { s.stop(); } catch {} });
    this.sources.clear();
    this.next = 0;
  }
}
window.VoicePlayer = VoicePlayer;

const STYLE = `
  :host { display: inline-block; font: 15px/1.4 system-ui, sans-serif; }
  button { font: inherit; padding: .3rem .8rem; border-radius: 1rem; border: 1px solid #226; background: #fff; color: #226; cursor: pointer; }
  button[aria-pressed=true] { background: #226; color: #fff; }
  .status { color: #555; font-size: 13px; margin-left: .4rem; }
  .heard { font-style: italic; margin-top: .3rem; }
  .said { margin-top: .2rem; }
  .error { color: #b00020; font-size: 13px; }
  :host(:not([server])) .status, :host(:not([server])) .heard, :host(:not([server])) .said { display: none; }`;

class VoiceMic extends HTMLElement {
  connectedCallback() {
    if (this.shadowRoot) return;
    const root = this.attachShadow({ mode: "open" });
    root.innerHTML = `<style>${STYLE}</style><button type="button" part="button" aria-pressed="false">● Start talking</button>` +
      `<span class="status" part="status" aria-live="polite"></span><div class="heard" part="transcript"></div>` +
      `<div class="said" part="response" aria-live="polite"></div><div class="error" part="error" role="alert"></div>`;
    this.button = root.querySelector("button");
    this.statusLine = root.querySelector(".status");
    this.heard = root.querySelector(".heard");
    this.said = root.querySelector(".said");
    this.errorLine = root.querySelector(".error");
    this.button.onclick = () => (this.ctx ? this.stop() : this.start());
    this.player = new VoicePlayer();
    this.answers = new Map(); // answer_id -> text so far
  }
  disconnectedCallback() { this.stop(); if (this.ws) this.ws.close(); this.ws = null; }
  get on() { return Boolean(this.ctx); }
  emit(type, detail) { this.dispatchEvent(new CustomEvent(type, { detail })); }
  fail(message) {
    this.errorLine.textContent = message;
    this.emit("error", this.server ? { message } : message);
  }
  status(status) {
    this.statusLine.textContent = status === "idle" ? "" : status + "…";
    this.emit("state", { on: this.on, status });
  }
  get server() { return this.getAttribute("server"); }
  set server(v) { if (v == null) this.removeAttribute("server"); else this.setAttribute("server", v); }
  get token() { return this.getAttribute("token"); }
  set token(v) { if (v == null) this.removeAttribute("token"); else this.setAttribute("token", v); }
  async start() {
    this.errorLine.textContent = "";
    if (this.server) { this.player.unlock(); this.connect(); }
    try {
      this.stream = await navigator.mediaDevices.getUserMedia({
        audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true },
      });
    } catch (err) {
      this.fail(`microphone unavailable: ${err.message || err.name}`);
      return;
    }
    this.ctx = new AudioContext({ sampleRate: 16000 }); // the browser resamples the mic to 16 kHz
    const url = URL.createObjectURL(new Blob([WORKLET], { type: "text/javascript" }));
    await this.ctx.audioWorklet.addModule(url);
    this.node = new AudioWorkletNode(this.ctx, "pcm16");
    this.node.port.onmessage = (m) => {
      if (!this.server) this.emit("pcm", m.data);
      else if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(m.data);
    };
    this.source = this.ctx.createMediaStreamSource(this.stream);
    this.source.connect(this.node);
    this.button.textContent = "■ Stop talking";
    this.button.setAttribute("aria-pressed", "true");
    this.status("listening");
  }
  stop() {
    if (this.source) this.source.disconnect();
    if (this.stream) this.stream.getTracks().forEach((t) => t.stop());
    if (this.ctx) this.ctx.close();
    this.ctx = this.stream = this.source = this.node = null;
    if (!this.button) return;
    this.button.textContent = "● Start talking";
    this.button.setAttribute("aria-pressed", "false");
    this.status("idle");
  }
  connect() {
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) return;
    const base = new URL(this.server, location.href);
    base.protocol = base.protocol === "https:" ? "wss:" : "ws:";
    base.pathname = base.pathname.replace(/\/$/, "") + "/ws";
    const token = this.token;
    if (token) base.searchParams.set("token", token);
    this.ws = new WebSocket(base);
    this.ws.onmessage = (m) => this.frame(JSON.parse(m.data));
    this.ws.onclose = (e) => {
      this.ws = null;
      const why = { 4403: "this page's origin is not allowed by the voice server", 4401: "missing or wrong token" }[e.code];
      if (why || e.code !== 1000) this.fail(why || `connection to the voice server closed (${e.code}${e.reason ? " " + e.reason : ""})`);
      this.stop();
    };
  }
  frame(ev) {
    if (ev.type === "error") { this.fail(ev.message); return; }
    if (ev.type === "voice.transcript") {
      this.heard.textContent = ev.text + (ev.is_final ? "" : " …");
      this.emit("transcript", { text: ev.text, final: ev.is_final });
      if (ev.is_final) { this.said.textContent = ""; this.status("thinking"); }
    } else if (ev.type === "voice.answer.delta") {
      const text = (this.answers.get(ev.answer_id) || "") + ev.text;
      this.answers.set(ev.answer_id, text);
      this.said.textContent = text;
      this.emit("answer", { text, final: false });
    } else if (ev.type === "voice.answer") {
      this.answers.delete(ev.answer_id);
      if (ev.text) this.said.textContent = ev.text;
      this.emit("answer", { text: ev.text, final: true });
      this.emit("response", { text: ev.text, finish_reason: ev.finish_reason });
      if (!this.player.playing) this.status(this.on ? "listening" : "idle");
    } else if (ev.type === "voice.speech.audio" && ev.pcm) {
      const seconds = this.player.play(ev.pcm, ev.sample_rate);
      this.status("speaking");
      this.emit("audio", { answer_id: ev.answer_id, index: ev.index, last: ev.last, seconds });
      const left = Math.max(0, this.player.next - this.player.ctx.currentTime);
      if (ev.last) setTimeout(() => { if (!this.player.playing) this.status(this.on ? "listening" : "idle"); }, left * 1000 + 100);
    } else if (ev.type === "voice.cancel") {
      this.player.cancel(); // barge-in: the user spoke over the answer
    }
  }
}
customElements.define("voice-mic", VoiceMic);
