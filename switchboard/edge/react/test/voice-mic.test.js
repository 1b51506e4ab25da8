// The wrapper in a DOM (jsdom) with the real <voice-mic> element from the edge's
// static folder: props become attributes, the element's events reach the handlers.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { JSDOM } from "jsdom";

const dom = new JSDOM("<!doctype html><html><head></head><body><div id=root></div></body></html>", {
  url: "https://shop.example/",
  runScripts: "outside-only",
});
const { window } = dom;
for (const name of ["window", "document", "HTMLElement", "customElements", "CustomEvent", "navigator"]) {
  Object.defineProperty(globalThis, name, { value: window[name] ?? window, configurable: true });
}
globalThis.IS_REACT_ACT_ENVIRONMENT = true;

const React = await import("react");
const { createRoot } = await import("react-dom/client");
const { act } = React;
const { VoiceMic, loadElement } = await import("../dist/VoiceMic.js");

test("loads the element from the edge once when the page has none", () => {
  const script = loadElement("https://edge.example:8000");
  assert.equal(script.src, "https://edge.example:8000/static/voice-mic.js");
  assert.equal(loadElement("https://edge.example:8000/"), script);
  script.remove();
});

test("props become the element's attributes, its events reach the handlers", async () => {
  window.eval(readFileSync(new URL("../../static/voice-mic.js", import.meta.url), "utf8"));
  const seen = [];
  const root = createRoot(document.getElementById("root"));
  await act(async () => {
    root.render(
      React.createElement(VoiceMic, {
        server: "https://edge.example",
        token: "t0ken",
        className: "mic",
        onTranscript: (d) => seen.push(["transcript", d]),
        onResponse: (d) => seen.push(["response", d]),
        onError: (d) => seen.push(["error", d]),
      }),
    );
  });
  const el = document.querySelector("voice-mic");
  assert.equal(el.getAttribute("server"), "https://edge.example");
  assert.equal(el.getAttribute("token"), "t0ken");
  assert.equal(el.className, "mic");
  assert.match(el.shadowRoot.querySelector("button").textContent, /Start talking/);
  assert.equal(document.querySelectorAll("script[data-voice-mic]").length, 0); // defined already
  // what the element says when the edge sends frames
  el.frame({ type: "voice.transcript", text: "what is a worker", is_final: true });
  el.frame({ type: "voice.answer", answer_id: "a1", text: "A worker is a process.", finish_reason: "stop" });
  el.frame({ type: "error", code: "rate_limited", message: "slow down" });
  assert.deepEqual(JSON.parse(JSON.stringify(seen)), [ // details made in the page's realm
    ["transcript", { text: "what is a worker", final: true }],
    ["response", { text: "A worker is a process.", finish_reason: "stop" }],
    ["error", { message: "slow down" }],
  ]);
  assert.equal(el.shadowRoot.querySelector(".said").textContent, "A worker is a process.");
  await act(async () => root.unmount());
  el.dispatchEvent(new CustomEvent("transcript", { detail: { text: "late" } }));
  assert.equal(seen.length, 3); // no handler after unmount
});
