// VoiceMic: the <voice-mic> web component of a Switchboard edge as a React
// component (seed 001). The element itself comes from the edge, so the mic,
// the stream and the player are the same everywhere:
//
//   <VoiceMic server="https://edge.example" token="…"
//             onTranscript={({ text, final }) => …} onResponse={({ text }) => …}
//             onError={({ message }) => …} />
//
// The edge must allow this page's origin (SWITCHBOARD_EDGE_ALLOWED_ORIGINS).
import { createElement, useEffect, useRef } from "react";

const EVENTS = {
  transcript: "onTranscript",
  answer: "onAnswer",
  response: "onResponse",
  audio: "onAudio",
  state: "onState",
  error: "onError",
};

/** Adds the edge's voice-mic.js to the page once, unless <voice-mic> is defined already. */
export function loadElement(server, doc = document) {
  if (doc.defaultView.customElements.get("voice-mic")) return null;
  const src = new URL("static/voice-mic.js", server.replace(/\/?$/, "/")).href;
  const found = [...doc.querySelectorAll("script[data-voice-mic]")].find((s) => s.src === src);
  if (found) return found;
  const script = doc.createElement("script");
  script.src = src;
  script.dataset.voiceMic = "";
  doc.head.append(script);
  return script;
}

export function VoiceMic({ server, token, className, style, ...handlers }) {
  const ref = useRef(null);
  const latest = useRef(handlers);
  latest.current = handlers;
  useEffect(() => {
    loadElement(server, ref.current.ownerDocument);
  }, [server]);
  useEffect(() => {
    const el = ref.current;
    const removers = Object.entries(EVENTS).map(([type, prop]) => {
      const listener = (e) => latest.current[prop]?.(e.detail);
      el.addEventListener(type, listener);
      return () => el.removeEventListener(type, listener);
    });
    return () => removers.forEach((remove) => remove());
  }, []);
  return createElement("voice-mic", { ref, server, token, className, style });
}

export default VoiceMic;
