// The chat page: posts the conversation to /v1/chat/completions with "stream": true, reads the server-sent
// events as they come and shows each token coloured by how it was made (speculation.depth: 0 the base model's
// own token, d a draft token accepted at depth d), with tau and tokens/s, by any method the server loaded.
"use strict";
const $ = id => document.getElementById(id);
const messages = [];
const deepest = 5; // depths beyond share the last colour

for (let d = 0; d <= deepest; d++) {
  const item = document.createElement("li");
  item.className = "d" + d;
  item.textContent = d === 0 ? "base model" : d === deepest ? `draft depth ${d}+` : `draft depth ${d}`;
  $("legend").append(item);
}

fetch("/v1/models").then(r => r.json()).then(list => {
  const model = list.data[0];
  $("model").textContent = model.id;
  for (const method of model.speculation.methods) {
    const option = document.createElement("option");
    option.textContent = method;
    $("method").append(option);
  }
});

function turn(role, text) {
  const div = document.createElement("div");
  div.className = "turn " + role;
  div.textContent = text;
  $("conversation").append(div);
  return div;
}

function showStats(tau, perSecond) {
  $("tau").textContent = tau.toFixed(2);
  $("speed").textContent = perSecond.toFixed(1);
}

async function send(prompt) {
  messages.push({ role: "user", content: prompt });
  turn("user", prompt);
  const answer = turn("assistant", "");
  $("send").disabled = true;
  let text = "", tokens = 0, steps = 0, previous = -1, first = 0;
  try {
    const response = await fetch("/v1/chat/completions", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ messages, stream: true, temperature: 0, method: $("method").value }),
    });
    if (!response.ok) throw new Error((await response.json()).error.message);
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (!event.startsWith("data: ") || event === "data: [DONE]") continue;
        const chunk = JSON.parse(event.slice(6));
        const spec = chunk.speculation;
        if (spec && spec.depth !== undefined) {
          const span = document.createElement("span");
          span.className = "token d" + Math.min(spec.depth, deepest);
          span.title = spec.depth === 0 ? "base model" : "draft depth " + spec.depth;
          span.textContent = chunk.choices[0].delta.content;
          answer.append(span);
          text += span.textContent;
          // A step (one base forward) starts with its first accepted draft token, or with its own token when it
          // accepted none; the first token is the prefill's. The final chunk gives the server's exact figures.
          if (tokens === 0) first = performance.now();
          else if (spec.depth === 1 || (spec.depth === 0 && previous === 0)) steps++;
          tokens++;
          previous = spec.depth;
          const seconds = (performance.now() - first) / 1000;
          if (steps > 0 && seconds > 0) showStats(tokens / steps, tokens / seconds);
        } else if (spec && spec.tau !== undefined) {
          showStats(spec.tau, chunk.timings.predicted_per_second);
        }
      }
    }
    messages.push({ role: "assistant", content: text });
  } catch (e) {
    messages.pop();
    answer.classList.add("error");
    answer.textContent = e.message;
  } finally {
    answer.dataset.done = "true";
    $("send").disabled = false;
  }
}

$("ask").addEventListener("submit", e => {
  e.preventDefault();
  const prompt = $("prompt").value.trim();
  if (!prompt || $("send").disabled) return;
  $("prompt").value = "";
  send(prompt);
});
$("prompt").addEventListener("keydown", e => {
  if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("ask").requestSubmit(); }
});
