// Load driver for the WebSocket data path: raw `ws` clients speaking Engine.IO v4 /
// Socket.IO v5 by hand (no socket.io-client overhead), so the driver is not the bottleneck.
// Usage: node ws_driver.mjs URL ROOMS CLIENTS_PER_ROOM SENDERS_PER_ROOM RATE_PER_SENDER SECONDS
// Prints one JSON line: sent, received, expected, latency percentiles (ms), driver CPU.
import WebSocket from "ws";

const [url, rooms, perRoom, sendersPerRoom, rate, seconds] = process.argv.slice(2);
const ROOMS = +rooms, PER_ROOM = +perRoom, SENDERS = +sendersPerRoom, RATE = +rate, SECONDS = +seconds;
const wsUrl = url.replace(/^http/, "ws") + "/socket.io/?EIO=4&transport=websocket";
const latencies = [];
let sent = 0, received = 0, errors = 0, connected = 0;
const nowMs = () => performance.timeOrigin + performance.now();

function client(room, index) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl, { perMessageDeflate: false });
    const timer = setTimeout(() => reject(new Error("connect timeout")), 20000);
    let ackId = 0;
    ws.on("message", (data, isBinary) => {
      // membership broadcasts can be large: look at their head only
      const text = data.length > 4096 && data[2] === 0x5b ? data.toString("utf8", 0, 64) : data.toString();
      if (text[0] === "0") ws.send("40");
      else if (text === "2") ws.send("3");
      else if (text.startsWith("40")) {
        ws.send(`42${ackId++}${JSON.stringify(["join-room", `room-${room}`, `u${room}-${index}`])}`);
      } else if (text.startsWith("43")) {
        if (!ws.joined) { ws.joined = true; connected++; clearTimeout(timer); resolve(ws); }
      } else if (text.startsWith('42["receive-message"')) {
        received++;
        const m = JSON.parse(text.slice(2))[1];
        if (m.sentAt) latencies.push(nowMs() - m.sentAt);
      } else if (text.startsWith('42["error"')) errors++;
    });
    ws.on("error", (e) => { errors++; reject(e); });
  });
}

const sockets = [];
for (let r = 0; r < ROOMS; r++) {
  const batch = [];
  for (let i = 0; i < PER_ROOM; i++) batch.push(client(r, i).then((ws) => { ws.room = r; ws.index = i; return ws; }));
  sockets.push(...(await Promise.all(batch)));
}
const senders = sockets.filter((ws) => ws.index < SENDERS);
console.log("ready");  // every client joined: the sending window starts now
const cpu0 = process.cpuUsage();
const t0 = nowMs();
const end = t0 + SECONDS * 1000;
// Open model: every sender has a schedule; a late tick still sends (and its latency shows it).
const interval = 1000 / RATE;
senders.forEach((ws, k) => {
  let next = t0 + (k / senders.length) * interval;
  const tick = () => {
    const now = nowMs();
    while (next <= now && next < end) {
      const msg = { id: `${ws.room}-${ws.index}-${sent}`, userId: `u${ws.room}-${ws.index}`, text: "hello from the driver", sentAt: next };
      ws.send(`42${JSON.stringify(["send-message", `room-${ws.room}`, msg])}`);
      sent++;
      next += interval;
    }
    if (next < end) setTimeout(tick, Math.max(0, next - nowMs()));
  };
  setTimeout(tick, Math.max(0, next - nowMs()));
});
await new Promise((r) => setTimeout(r, SECONDS * 1000 + 1500));
const cpu = process.cpuUsage(cpu0);
latencies.sort((a, b) => a - b);
const pct = (p) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] : null);
console.log(JSON.stringify({
  clients: sockets.length, senders: senders.length, sent, received, expected: sent * PER_ROOM, errors,
  seconds: SECONDS, p50_ms: pct(50), p99_ms: pct(99), max_ms: latencies.at(-1) ?? null,
  driver_cpu_s: (cpu.user + cpu.system) / 1e6,
}));
for (const ws of sockets) ws.terminate();
process.exit(0);
