// Plays a MIDI file in the browser: @tonejs/midi parses it, Tone.js synthesizes
// it (both from npm, served under /static/vendor/). `stats` is for tests.
export class MusicPlayer {
  constructor() {
    this.stats = { scheduled: 0, playing: false, error: "" };
    this.synth = null;
    this.timer = null;
  }

  get available() { return Boolean(window.Tone && window.Midi); }

  async play(bytes, onEnd) {
    this.stop();
    if (!this.available) throw new Error("playback unavailable: the edge has no browser libraries (run npm ci in edge/)");
    const midi = new window.Midi(bytes);
    await window.Tone.start();
    const synth = new window.Tone.PolySynth(window.Tone.Synth, { envelope: { attack: 0.01, release: 0.4 } }).toDestination();
    synth.volume.value = -12;
    const now = window.Tone.now() + 0.1;
    let scheduled = 0;
    for (const track of midi.tracks) {
      for (const note of track.notes) {
        synth.triggerAttackRelease(note.name, Math.max(0.05, note.duration), now + note.time, note.velocity);
        scheduled += 1;
      }
    }
    this.synth = synth;
    this.stats.scheduled = scheduled;
    this.stats.playing = true;
    this.timer = setTimeout(() => { this.stop(); if (onEnd) onEnd(); }, (midi.duration + 0.6) * 1000);
    return { notes: scheduled, seconds: midi.duration };
  }

  stop() {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.synth) { this.synth.releaseAll(); this.synth.dispose(); }
    this.synth = null;
    this.stats.playing = false;
  }
}
