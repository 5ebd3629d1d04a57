// The tutorial's chat flow, driven by the npm socket.io-client against our server.
//
// Usage: node tests/e2e/node/chat_flow.mjs http://127.0.0.1:PORT [namespace ...]
// (run from the repo root so that node_modules resolves). For each namespace
// (default: "/api/socket" and "/"), two clients with transports ['websocket']
// join a room, chat, type, leave and disconnect; every wait is bounded.
// Prints one JSON object {ok: true, results: {...}} on stdout, or exits 1 with
// {ok: false, error, step} on stdout and the message on stderr.

import { io } from "socket.io-client";

const WAIT_MS = 5000;
const QUIET_MS = 400;

const base = process.argv[2];
const namespaces = process.argv.length > 3 ? process.argv.slice(3) : ["/api/socket", "/"];
if (!base) {
  console.error("usage: node chat_flow.mjs <server url> [namespace ...]");
  process.exit(2);
}

let step = "start";

class FlowError extends Error {}

function check(condition, message, detail) {
  if (!condition) {
    throw new FlowError(`${message}${detail === undefined ? "" : `: ${JSON.stringify(detail)}`}`);
  }
}

// Resolve with the args of the first `event` matching `predicate`, or reject after `ms`.
function waitFor(socket, event, predicate = () => true, ms = WAIT_MS) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.off(event, handler);
      reject(new FlowError(`timeout after ${ms} ms waiting for '${event}' (${step})`));
    }, ms);
    function handler(...args) {
      if (!predicate(...args)) return;
      clearTimeout(timer);
      socket.off(event, handler);
      resolve(args);
    }
    socket.on(event, handler);
  });
}

// Resolve with the events named `event` seen during `ms` (to prove something did NOT arrive).
function collect(socket, event, ms = QUIET_MS) {
  return new Promise((resolve) => {
    const seen = [];
    const handler = (...args) => seen.push(args);
    socket.on(event, handler);
    setTimeout(() => {
      socket.off(event, handler);
      resolve(seen);
    }, ms);
  });
}

function connect(url, auth) {
  const socket = io(url, {
    transports: ["websocket"],
    reconnection: false,
    forceNew: true,
    timeout: WAIT_MS,
    auth,
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.close();
      reject(new FlowError(`connect to ${url} timed out`));
    }, WAIT_MS);
    socket.once("connect", () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once("connect_error", (err) => {
      clearTimeout(timer);
      socket.close();
      reject(new FlowError(`connect_error on ${url}: ${err.message}`));
    });
  });
}

function ack(socket, event, ...args) {
  return socket.timeout(WAIT_MS).emitWithAck(event, ...args);
}

function checkUsers(users, expectedIds, where) {
  check(Array.isArray(users), `${where}: users is not an array`, users);
  const ids = users.map((u) => u.id).sort();
  check(
    JSON.stringify(ids) === JSON.stringify([...expectedIds].sort()),
    `${where}: users are ${JSON.stringify(ids)}, expected ${JSON.stringify(expectedIds)}`,
  );
  for (const u of users) {
    check(typeof u === "object" && u !== null, `${where}: a user is not an object`, u);
    check(typeof u.id === "string" && typeof u.name === "string", `${where}: id/name`, u);
    check(["online", "away", "offline"].includes(u.status), `${where}: status`, u);
    check("lastSeen" in u, `${where}: lastSeen missing`, u);
    check(u.status === "online", `${where}: a present user is not online`, u);
  }
}

async function flow(namespace) {
  const url = namespace === "/" ? base : base + namespace;
  const room = `room-${namespace.replace(/\W/g, "") || "root"}-${process.pid}`;
  const result = { namespace, transport: null };
  step = `${namespace}: connect`;
  const alice = await connect(url, { userId: "alice", name: "Alice" });
  const bob = await connect(url, { userId: "bob", name: "Bob" });
  try {
    result.transport = alice.io.engine.transport.name;
    check(result.transport === "websocket", "transport is not websocket", result.transport);

    step = `${namespace}: alice joins`;
    const a1 = await ack(alice, "join-room", room, "alice");
    check(a1 && a1.ok === true, "join-room ack of alice", a1);
    checkUsers(a1.users, ["alice"], "alice's join ack");
    check(Array.isArray(a1.history) && a1.history.length === 0, "fresh room history", a1.history);

    step = `${namespace}: bob joins`;
    const joined = waitFor(alice, "user-joined", (p) => p && p.userId === "bob");
    const b1 = await ack(bob, "join-room", room, "bob");
    check(b1 && b1.ok === true, "join-room ack of bob", b1);
    checkUsers(b1.users, ["alice", "bob"], "bob's join ack");
    const [joinedPayload] = await joined;
    checkUsers(joinedPayload.users, ["alice", "bob"], "user-joined");
    result.userJoined = joinedPayload;

    step = `${namespace}: send-message`;
    const message = {
      id: `m-${process.pid}-${namespace}`,
      userId: "alice",
      userName: "Alice",
      text: "hello from node ✓",
      timestamp: Date.now(),
    };
    const atAlice = waitFor(alice, "receive-message", (m) => m && m.id === message.id);
    const atBob = waitFor(bob, "receive-message", (m) => m && m.id === message.id);
    const sent = await ack(alice, "send-message", room, message);
    check(sent && sent.ok === true, "send-message ack", sent);
    const [[mAlice], [mBob]] = await Promise.all([atAlice, atBob]);
    for (const [who, m] of [["alice", mAlice], ["bob", mBob]]) {
      for (const key of ["id", "userId", "userName", "text", "timestamp"]) {
        check(m[key] === message[key], `receive-message at ${who}: ${key}`, m);
      }
    }
    check(mAlice.seq === sent.seq && Number.isInteger(mAlice.seq), "seq in message and ack", {
      m: mAlice,
      sent,
    });
    result.message = mBob;

    step = `${namespace}: typing`;
    const typingAtAlice = waitFor(alice, "user-typing", (u) => u === "bob");
    const typingAtBob = collect(bob, "user-typing");
    bob.emit("typing", room, "bob");
    const [typedBy] = await typingAtAlice;
    const echoed = await typingAtBob;
    check(echoed.length === 0, "user-typing came back to its sender", echoed);
    result.typing = typedBy;

    step = `${namespace}: leave-room`;
    const left = waitFor(alice, "user-left", (p) => p && p.userId === "bob");
    const l1 = await ack(bob, "leave-room", room, "bob");
    check(l1 && l1.ok === true, "leave-room ack", l1);
    const [leftPayload] = await left;
    checkUsers(leftPayload.users, ["alice"], "user-left after leave-room");
    result.userLeftOnLeave = leftPayload;

    step = `${namespace}: message after leave`;
    const bobAfterLeave = collect(bob, "receive-message");
    const sent2 = await ack(alice, "send-message", room, { ...message, id: `${message.id}-2` });
    check(sent2 && sent2.ok === true, "second send-message ack", sent2);
    const leaked = await bobAfterLeave;
    check(leaked.length === 0, "a user who left still receives the room's messages", leaked);

    step = `${namespace}: rejoin and disconnect`;
    const rejoined = waitFor(alice, "user-joined", (p) => p && p.userId === "bob");
    const b2 = await ack(bob, "join-room", room, "bob");
    check(b2 && b2.ok === true, "rejoin ack", b2);
    check(
      b2.history.map((m) => m.id).join() === [message.id, `${message.id}-2`].join(),
      "history in the rejoin ack",
      b2.history,
    );
    await rejoined;
    const leftOnDisconnect = waitFor(alice, "user-left", (p) => p && p.userId === "bob");
    bob.disconnect();
    const [gone] = await leftOnDisconnect;
    checkUsers(gone.users, ["alice"], "user-left after disconnect");
    result.userLeftOnDisconnect = gone;
  } finally {
    alice.disconnect();
    bob.disconnect();
  }
  return result;
}

const overall = setTimeout(() => {
  console.log(JSON.stringify({ ok: false, step, error: "whole flow timed out" }));
  console.error(`chat_flow: whole flow timed out at step ${step}`);
  process.exit(1);
}, 30000);

try {
  const results = {};
  for (const namespace of namespaces) {
    results[namespace] = await flow(namespace);
  }
  clearTimeout(overall);
  console.log(JSON.stringify({ ok: true, results }));
  process.exit(0);
} catch (err) {
  clearTimeout(overall);
  console.log(JSON.stringify({ ok: false, step, error: String(err && err.message ? err.message : err) }));
  console.error(`chat_flow failed at step ${step}: ${err && err.stack ? err.stack : err}`);
  process.exit(1);
}
