// Follow a service's configuration from Node.js (20+, no packages): the hub's event stream,
// GET /api/v1/events, is Server-Sent Events, read here with fetch and a small parser.
//
//   HUB_URL=http://127.0.0.1:7000 SERVICE=api-gateway node follow-config.mjs
//
// Prints one JSON line per configuration change (service, version, revision, config) and
// reconnects with Last-Event-ID when the connection drops, so nothing is missed; on a "reset"
// event (the hub could not replay what was missed) it reads the configuration again, and so too
// on a change of the global document (service "_global"), which every service's merges under its own.
// CENTRAL_HUB_API_KEY is sent as a Bearer token when set; COUNT=n stops after n changes.

const hub = (process.env.HUB_URL || "http://127.0.0.1:7000").replace(/\/$/, "");
const service = process.env.SERVICE || "api-gateway";
const count = Number(process.env.COUNT || 0);
const headers = { Accept: "text/event-stream" };
if (process.env.CENTRAL_HUB_API_KEY) headers.Authorization = `Bearer ${process.env.CENTRAL_HUB_API_KEY}`;

let lastId = null;
let seen = 0;

async function readConfig() {
  const resp = await fetch(`${hub}/api/v1/config/${encodeURIComponent(service)}`, { headers });
  if (resp.status === 404) return;
  const doc = await resp.json();
  print({ service, version: doc.version, revision: doc.revision, config: doc.config, via: "read" });
}

function print(line) {
  console.log(JSON.stringify(line));
}

// one SSE message: "field: value" lines up to a blank line
function* messages(buffer) {
  let end;
  while ((end = buffer.text.indexOf("\n\n")) !== -1) {
    const block = buffer.text.slice(0, end);
    buffer.text = buffer.text.slice(end + 2);
    const message = { event: "message", data: "", id: null };
    for (const line of block.split("\n")) {
      if (line.startsWith(":")) continue; // a keep-alive comment
      const colon = line.indexOf(":");
      const field = colon === -1 ? line : line.slice(0, colon);
      const value = colon === -1 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "data") message.data += (message.data ? "\n" : "") + value;
      else if (field === "event") message.event = value;
      else if (field === "id") message.id = value;
    }
    if (message.data) yield message;
  }
}

async function follow() {
  const url = new URL(`${hub}/api/v1/events`);
  url.searchParams.set("service", service);
  url.searchParams.set("kind", "config");
  const resp = await fetch(url, { headers: lastId ? { ...headers, "Last-Event-ID": lastId } : headers });
  if (!resp.ok) throw new Error(`events: ${resp.status} ${await resp.text()}`);
  const decoder = new TextDecoder();
  const buffer = { text: "" };
  let connected = false;
  for await (const chunk of resp.body) {
    if (!connected) {
      connected = true; // the hub's first bytes: from here on no change is missed
      print({ connected: true, resumed_after: lastId });
    }
    buffer.text += decoder.decode(chunk, { stream: true });
    for (const message of messages(buffer)) {
      if (message.id) lastId = message.id;
      if (message.event === "reset") {
        await readConfig();
        continue;
      }
      const change = JSON.parse(message.data);
      if (change.service === "_global") await readConfig();
      else print({ service: change.service, version: change.version, revision: change.revision, config: change.config });
      if (count && ++seen >= count) return true;
    }
  }
  return false;
}

await readConfig();
for (;;) {
  try {
    if (await follow()) break;
  } catch (err) {
    console.error(`stream interrupted (${err.message}); reconnecting`);
  }
  await new Promise((resolve) => setTimeout(resolve, 1000));
}
