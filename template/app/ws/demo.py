"""The development demo page: open /ws/demo, create an item, watch the event arrive."""

DEMO_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>WebSocket demo</title>
<style nonce="{nonce}">
  body { font: 14px system-ui, sans-serif; margin: 2rem; max-width: 60rem; }
  input { width: 28rem; }
  #log { background: #111; color: #eee; padding: 1rem; height: 24rem; overflow: auto;
         white-space: pre-wrap; font-family: ui-monospace, monospace; }
</style>
</head>
<body>
<h1>WebSocket demo</h1>
<p>Connects to <code>/ws</code> with a ticket from <code>POST /api/ws/tickets</code>,
subscribes to your item events and shows them live. Development only.</p>
<p><label>Access token (only if the API needs one):
  <input id="token" type="password" autocomplete="off"></label></p>
<p><button id="connect">Connect</button> <button id="create">Create an item</button></p>
<div id="log"></div>
<script nonce="{nonce}">
const log = (line) => {
  const view = document.getElementById("log");
  view.textContent += line + "\\n";
  view.scrollTop = view.scrollHeight;
};
const headers = () => {
  const token = document.getElementById("token").value.trim();
  return token ? {"Authorization": "Bearer " + token} : {};
};
let socket = null;
let retry = 500;

async function connect() {
  if (socket && socket.readyState <= WebSocket.OPEN) return;
  const answer = await fetch("/api/ws/tickets", {method: "POST", headers: headers()});
  if (!answer.ok) { log("ticket refused: HTTP " + answer.status); return; }
  const {ticket} = await answer.json();
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const url = scheme + "//" + location.host + "/ws?ticket=" + encodeURIComponent(ticket);
  socket = new WebSocket(url);
  socket.onmessage = (message) => {
    const data = JSON.parse(message.data);
    if (data.type === "ping") { socket.send(JSON.stringify({type: "pong"})); return; }
    log("<- " + message.data);
    if (data.type === "welcome") {
      retry = 500;
      const channels = data.user ? ["items", "items:user:" + data.user] : ["items"];
      for (const channel of channels) {
        socket.send(JSON.stringify({type: "subscribe", channel: channel}));
      }
    }
  };
  socket.onclose = (event) => {
    log("closed " + event.code + " " + event.reason + "; reconnecting in " + retry + " ms");
    // Reconnect with exponential backoff and jitter, as every client should.
    setTimeout(connect, retry + Math.random() * retry);
    retry = Math.min(retry * 2, 30000);
  };
}

async function createItem() {
  const body = {name: "Demo item " + new Date().toISOString(), price: "1.00"};
  const answer = await fetch("/api/items", {
    method: "POST",
    headers: {"Content-Type": "application/json", ...headers()},
    body: JSON.stringify(body),
  });
  log("POST /api/items -> HTTP " + answer.status);
}

document.getElementById("connect").addEventListener("click", connect);
document.getElementById("create").addEventListener("click", createItem);
</script>
</body>
</html>
"""
