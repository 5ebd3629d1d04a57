// rtlab demo page: the tutorial's chat flow and the live `server` dashboard, over socket.io-client.
(() => {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(location.search);
  const userId = params.get("user") || `guest-${Math.random().toString(36).slice(2, 7)}`;
  $("user-name").value = params.get("name") || userId;
  $("room-id").value = params.get("room") || "lobby";
  const socket = io("/", { transports: ["websocket"], auth: { userId, name: $("user-name").value } });
  let room = null;
  const typingTimers = new Map();

  const status = (online) => {
    $("status").textContent = online ? `online as ${userId}` : "offline";
    $("status").className = `status ${online ? "online" : "offline"}`;
  };
  socket.on("connect", () => {
    status(true);
    socket.emit("subscribe-dashboard", "server", (ack) => ack && ack.metrics && showMetrics(ack.metrics));
    join(room || params.get("room") || "lobby");
  });
  socket.on("disconnect", () => status(false));

  // ---------------------------------------------------------------- chat
  const addLine = (html, cls) => {
    const li = document.createElement("li");
    if (cls) li.className = cls;
    li.innerHTML = html;
    $("messages").appendChild(li);
    $("messages").scrollTop = $("messages").scrollHeight;
  };
  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  const showMessage = (m) => addLine(`<span class="who">${esc(m.userName || m.userId)}</span>${esc(m.text)}`);
  const showUsers = (users) => {
    $("presence").innerHTML = users.map((u) => `<li class="${esc(u.status)}" data-user="${esc(u.id)}">${esc(u.name || u.id)}</li>`).join("");
  };

  function join(roomId) {
    socket.emit("join-room", roomId, userId, (ack) => {
      if (!ack || !ack.ok) { addLine(`could not join: ${esc(ack && ack.error && ack.error.message)}`, "sys"); return; }
      room = roomId;
      $("room-name").textContent = roomId;
      $("messages").innerHTML = "";
      (ack.history || []).forEach(showMessage);
      showUsers(ack.users || []);
      $("message").disabled = false;
      $("send").disabled = false;
      $("message").focus();
    });
  }
  $("join-form").addEventListener("submit", (e) => { e.preventDefault(); join($("room-id").value.trim() || "lobby"); });
  $("send-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = $("message").value.trim();
    if (!text || !room) return;
    socket.emit("send-message", room, { id: `${userId}-${Date.now()}`, userId, userName: $("user-name").value, text, timestamp: Date.now() });
    $("message").value = "";
  });
  let lastTyping = 0;
  $("message").addEventListener("input", () => {
    if (room && Date.now() - lastTyping > 1000) { lastTyping = Date.now(); socket.emit("typing", room, userId); }
  });
  socket.on("receive-message", showMessage);
  socket.on("user-joined", ({ userId: who, users }) => { addLine(`${esc(who)} joined`, "sys"); showUsers(users); });
  socket.on("user-left", ({ userId: who, users }) => { addLine(`${esc(who)} left`, "sys"); showUsers(users); });
  socket.on("presence-update", ({ userId: who, status: st }) => {
    const li = document.querySelector(`#presence li[data-user="${CSS.escape(who)}"]`);
    if (li) li.className = st;
  });
  socket.on("user-typing", (who) => {
    clearTimeout(typingTimers.get(who));
    typingTimers.set(who, setTimeout(() => { typingTimers.delete(who); renderTyping(); }, 2500));
    renderTyping();
  });
  const renderTyping = () => {
    const who = [...typingTimers.keys()];
    $("typing").textContent = who.length ? `${who.join(", ")} ${who.length > 1 ? "are" : "is"} typing…` : "";
  };
  document.addEventListener("visibilitychange", () => {
    if (room) socket.emit("presence-update", { roomId: room, userId, status: document.hidden ? "away" : "online" });
  });

  // ----------------------------------------------------------- dashboard
  const history = [];
  const sum = (o) => Object.values(o || {}).reduce((a, b) => a + b, 0);
  function showMetrics(m) {
    $("m-connections").textContent = m.connections;
    $("m-in").textContent = Math.round(sum(m.events_in_per_s));
    $("m-out").textContent = Math.round(m.deliveries_per_s);
    $("m-p99").textContent = m.handling_p99_ms == null ? "–" : `${m.handling_p99_ms.toFixed(2)} ms`;
    history.push({ c: m.connections, e: sum(m.events_in_per_s) });
    if (history.length > 120) history.shift();
    draw();
  }
  socket.on("dashboard-update", (u) => u && u.metrics && showMetrics(u.metrics));
  function draw() {
    const cv = $("chart"), ctx = cv.getContext("2d"), w = cv.width, h = cv.height, pad = 28;
    ctx.clearRect(0, 0, w, h);
    ctx.strokeStyle = "#1f2937"; ctx.lineWidth = 1;
    for (let i = 0; i <= 4; i++) { const y = pad / 2 + ((h - pad) * i) / 4; ctx.beginPath(); ctx.moveTo(pad, y); ctx.lineTo(w - pad, y); ctx.stroke(); }
    const series = (key, color, max) => {
      ctx.strokeStyle = color; ctx.lineWidth = 2; ctx.beginPath();
      history.forEach((p, i) => {
        const x = pad + ((w - 2 * pad) * i) / Math.max(1, 119), y = h - pad / 2 - ((h - pad) * p[key]) / max;
        i ? ctx.lineTo(x, y) : ctx.moveTo(x, y);
      });
      ctx.stroke();
      return max;
    };
    const maxC = Math.max(1, ...history.map((p) => p.c)) * 1.2, maxE = Math.max(1, ...history.map((p) => p.e)) * 1.2;
    series("c", "#38bdf8", maxC); series("e", "#f59e0b", maxE);
    ctx.fillStyle = "#94a3b8"; ctx.font = "11px system-ui";
    ctx.fillText(`${Math.round(maxC)}`, 2, pad / 2 + 4); ctx.fillText(`${Math.round(maxE)}/s`, w - pad + 2, pad / 2 + 4);
  }
  window.rtlabDemo = { socket, userId, join };
})();
