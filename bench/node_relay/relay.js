// Reference server for the ECSA benchmark: a minimal socket.io 4.x relay.
// A client joins the room named in its handshake auth ({session}); every `edit` it
// sends is acknowledged and forwarded to the rest of that room. Nothing else.
// Usage: node relay.js PORT
"use strict";

const http = require("http");
const { Server } = require("socket.io");

const port = Number(process.argv[2] || 5100);
const server = http.createServer((req, res) => { res.writeHead(200); res.end("ok"); });
// Same ping and message limits as the ECSA server, so the comparison is like for like.
const io = new Server(server, { pingInterval: 5000, pingTimeout: 5000, maxHttpBufferSize: 256 * 1024 });

io.on("connection", (socket) => {
  const room = String((socket.handshake.auth || {}).session || "lobby");
  socket.join(room);
  socket.on("edit", (data, ack) => {
    socket.to(room).emit("edit", data);
    if (typeof ack === "function") ack({ ok: true });
  });
});

server.listen(port, "127.0.0.1", () => console.log(`node relay on 127.0.0.1:${port}`));
