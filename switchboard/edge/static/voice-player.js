// Plays PCM16 chunks as they arrive, one after another, and stops at once on
// cancel (barge-in). window.voiceStats counts what was played (for tests).
export class VoicePlayer {
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
    if (!n) return;
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
  }
  get playing() { return this.sources.size > 0; }
  cancel() {
    if (this.sources.size) this.stats.cancelled += 1;
    this.sources.forEach((s) => { try { s.stop(); } catch {} });
    this.sources.clear();
    this.next = 0;
  }
}
