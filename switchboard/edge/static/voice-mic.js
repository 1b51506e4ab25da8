// <voice-mic>: a reusable microphone button. While on, it emits "audio" events
// whose detail is an ArrayBuffer of 16 kHz mono PCM16 (about 100 ms each), and
// "state" events ({on: bool}); "error" events carry a plain message.
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

class VoiceMic extends HTMLElement {
  connectedCallback() {
    this.button = document.createElement("button");
    this.button.type = "button";
    this.button.textContent = "● Start talking";
    this.button.onclick = () => (this.ctx ? this.stop() : this.start());
    this.append(this.button);
  }
  get on() { return Boolean(this.ctx); }
  async start() {
    try {
      this.stream = await navigator.mediaDevices.getUserMedia({
        audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true },
      });
    } catch (err) {
      this.dispatchEvent(new CustomEvent("error", { detail: `microphone unavailable: ${err.message || err.name}` }));
      return;
    }
    this.ctx = new AudioContext({ sampleRate: 16000 }); // the browser resamples the mic to 16 kHz
    const url = URL.createObjectURL(new Blob([WORKLET], { type: "text/javascript" }));
    await this.ctx.audioWorklet.addModule(url);
    this.node = new AudioWorkletNode(this.ctx, "pcm16");
    this.node.port.onmessage = (m) => this.dispatchEvent(new CustomEvent("audio", { detail: m.data }));
    this.source = this.ctx.createMediaStreamSource(this.stream);
    this.source.connect(this.node);
    this.button.textContent = "■ Stop talking";
    this.dispatchEvent(new CustomEvent("state", { detail: { on: true } }));
  }
  stop() {
    if (this.source) this.source.disconnect();
    if (this.stream) this.stream.getTracks().forEach((t) => t.stop());
    if (this.ctx) this.ctx.close();
    this.ctx = this.stream = this.source = this.node = null;
    this.button.textContent = "● Start talking";
    this.dispatchEvent(new CustomEvent("state", { detail: { on: false } }));
  }
}
customElements.define("voice-mic", VoiceMic);
