/**
 * The baseline: a bare Bun.serve with the same topic fan-out as the app and no app logic (no auth,
 * no validation, no rate limit, no database). Each socket subscribes to its user's topic on open;
 * `join-chat` subscribes it to the chat's topic; `typing` is published to the chat's topic except
 * to the sender, in the app's frame shape. Started with PORT=<port>.
 */
interface SocketData {
  userId: string;
}

const port = Number(process.env.PORT ?? 0);

const server = Bun.serve<SocketData>({
  hostname: "127.0.0.1",
  port,
  fetch(request, srv) {
    const url = new URL(request.url);
    if (url.pathname === "/health") return Response.json({ status: "ok" });
    if (url.pathname === "/ws") {
      const userId = url.searchParams.get("u") ?? "anonymous";
      if (srv.upgrade(request, { data: { userId } })) return undefined;
      return new Response("upgrade failed", { status: 400 });
    }
    return new Response("not found", { status: 404 });
  },
  websocket: {
    open(ws) {
      ws.subscribe(`user:${ws.data.userId}`);
      ws.send(JSON.stringify({ event: "online-users", data: { userIds: [] } }));
    },
    message(ws, raw) {
      const frame = JSON.parse(String(raw)) as { event: string; data: unknown; ref?: string };
      if (frame.event === "join-chat") {
        const chatId = String(frame.data);
        ws.subscribe(`chat:${chatId}`);
        ws.send(JSON.stringify({ event: "chat-joined", data: { chatId } }));
      } else if (frame.event === "typing") {
        const { chatId, isTyping } = frame.data as { chatId: string; isTyping: boolean };
        ws.publish(
          `chat:${chatId}`,
          JSON.stringify({ event: "typing", data: { userId: ws.data.userId, chatId, isTyping } }),
        );
      }
    },
  },
});

console.log(`baseline listening on ${server.port}`);
process.on("SIGTERM", () => {
  server.stop(true);
  process.exit(0);
});
