import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startTestApp, type TestApp } from "./support/app.ts";
import { chatBetween, registerUser } from "./support/users.ts";

let server: TestApp;

beforeAll(async () => {
  // The sender must be able to outrun a reader on purpose; the limits are not what is tested.
  server = await startTestApp({ RATE_LIMIT_MULTIPLIER: "1000" });
});
afterAll(async () => {
  await server.stop();
});

/**
 * A WebSocket client in a process of its own, which the test freezes (SIGSTOP) as a phone that
 * stopped reading would be, and thaws later to learn how its socket was closed.
 */
const CLIENT = `
  const socket = new WebSocket(process.argv[1]);
  socket.onopen = () => console.log("open");
  socket.onclose = (event) => { console.log("close " + event.code); process.exit(0); };
`;

async function firstLine(stream: ReadableStream<Uint8Array>): Promise<string> {
  const reader = stream.getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  return text.trim();
}

describe("a client that stops reading", () => {
  test("is closed with 1013 once its send buffer stays over the limit; the others carry on", async () => {
    const [a, b] = await Promise.all([registerUser(server.api), registerUser(server.api)]);
    const chatId = await chatBetween(server.api, a, b);
    const sender = await server.socket(a.token);
    await sender.next("online-users");
    const wsUrl = `${server.url.replace("http", "ws")}/ws?token=${b.token}`;
    const stuck = Bun.spawn([process.execPath, "-e", CLIENT, wsUrl], { stdout: "pipe" });
    try {
      expect(await firstLine(stuck.stdout)).toBe("open");
      stuck.kill("SIGSTOP");
      await sender.next("user-online", (d) => d.userId === b.id);

      // 4 KB messages until the server gives up on the frozen reader (its only socket: offline).
      let gone = false;
      const offline = sender.next("user-offline", (d) => d.userId === b.id, 30_000);
      void offline.then(() => {
        gone = true;
      });
      const text = "x".repeat(4000);
      for (let sent = 0; !gone && sent < 6000; sent += 100) {
        for (let i = 0; i < 100; i++) sender.send("send-message", { chatId, text });
        await sender.next("message-sent", () => true, 10_000);
        await Bun.sleep(20);
      }
      await offline;

      sender.send("ping", "still here", "p");
      expect((await sender.next("pong")).data).toBe("still here");

      // Thawed, the client reads what was left in the pipe, then the server's close: 1013.
      stuck.kill("SIGCONT");
      expect(await firstLine(stuck.stdout)).toBe("close 1013");
    } finally {
      stuck.kill("SIGKILL");
    }
  }, 60_000);
});
