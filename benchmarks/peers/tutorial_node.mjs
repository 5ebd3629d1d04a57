// The tutorial's socket.io server (its app/api/socket/route.ts handlers), on npm socket.io 4.8,
// so that rtlab can load-test exactly what a user of the tutorial built.
//
// Usage: node tutorial_node.mjs PORT [HOST]       (prints "listening PORT" once ready)
//
// The handlers are the tutorial's, unchanged in behaviour: no acks; `receive-message` to the
// whole room, sender included; `user-typing`, `user-joined` and `user-left` to the others;
// `userRooms` is never cleaned on disconnect (the tutorial leaks it). The tutorial's editor
// emits `join-document`, `document-change` and `cursor-update`, which its route handler
// forgot: they are added here the way its chat events work (the document is a room, changes
// and cursors are relayed as sent to the other members), so the editor's client logic runs.
// GET on any other path answers like the tutorial's route: "WebSocket server running".
import http from "node:http";
import { Server } from "socket.io";

const port = Number(process.argv[2] || 3000);
const host = process.argv[3] || "127.0.0.1";

const httpServer = http.createServer((req, res) => {
  res.writeHead(200, { "content-type": "text/plain" });
  res.end("WebSocket server running");
});
const io = new Server(httpServer, { cors: { origin: "*", methods: ["GET", "POST"] } });

const userRooms = new Map();

io.on("connection", (socket) => {
  // Join room
  socket.on("join-room", (roomId, userId) => {
    socket.join(roomId);
    if (!userRooms.has(roomId)) {
      userRooms.set(roomId, new Set());
    }
    userRooms.get(roomId).add(userId);
    // Notify others
    socket.to(roomId).emit("user-joined", {
      userId,
      users: Array.from(userRooms.get(roomId)),
    });
  });

  // Leave room
  socket.on("leave-room", (roomId, userId) => {
    socket.leave(roomId);
    userRooms.get(roomId)?.delete(userId);
    socket.to(roomId).emit("user-left", {
      userId,
      users: Array.from(userRooms.get(roomId) || []),
    });
  });

  // Send message
  socket.on("send-message", (roomId, message) => {
    io.to(roomId).emit("receive-message", message);
  });

  // Typing indicator
  socket.on("typing", (roomId, userId) => {
    socket.to(roomId).emit("user-typing", userId);
  });

  // The tutorial's editor (CollaborativeEditor.tsx): the document is a room
  socket.on("join-document", (documentId, userId) => {
    socket.join(documentId);
  });
  socket.on("leave-document", (documentId, userId) => {
    socket.leave(documentId);
  });
  socket.on("document-change", (documentId, change) => {
    socket.to(documentId).emit("document-change", change);
  });
  socket.on("cursor-update", (documentId, data) => {
    socket.to(documentId).emit("cursor-update", data);
  });

  // Disconnect: the tutorial only logs it (and so forgets nothing)
  socket.on("disconnect", () => {});
});

httpServer.listen(port, host, () => {
  console.log(`listening ${httpServer.address().port}`);
});

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    io.close();
    process.exit(0);
  });
}
