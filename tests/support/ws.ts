/** A WebSocket client for tests: records every frame and lets a test wait for the one it expects. */
export interface Frame {
  event: string;
  data: any;
  ref?: string;
}

export interface TestSocket {
  readonly socket: WebSocket;
  /** Every frame received so far, in order. */
  readonly frames: Frame[];
  send(event: string, data?: unknown, ref?: string): void;
  sendRaw(data: string | ArrayBufferLike | Uint8Array): void;
  /** Resolves with the first frame (already received or still to come) that matches. */
  next(event: string, match?: (data: any) => boolean, timeoutMs?: number): Promise<Frame>;
  /** Resolves when the socket closes, with its close code. */
  closed(timeoutMs?: number): Promise<number>;
  close(code?: number): Promise<void>;
}

export function openSocket(url: string): Promise<TestSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url);
    const frames: Frame[] = [];
    const waiters: {
      event: string;
      match: (data: any) => boolean;
      resolve: (f: Frame) => void;
    }[] = [];
    let closeCode: number | undefined;
    const closeWaiters: ((code: number) => void)[] = [];
    // Frames a waiter already consumed are not handed to the next waiter for the same event.
    const consumed = new Set<Frame>();

    const deliver = (frame: Frame) => {
      for (const waiter of [...waiters]) {
        if (waiter.event === frame.event && !consumed.has(frame) && waiter.match(frame.data)) {
          consumed.add(frame);
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(frame);
        }
      }
    };

    socket.onmessage = (message) => {
      const frame = JSON.parse(String(message.data)) as Frame;
      frames.push(frame);
      deliver(frame);
    };
    socket.onclose = (event) => {
      closeCode = event.code;
      for (const waiter of closeWaiters.splice(0)) waiter(event.code);
      reject(new Error(`socket closed before opening (${event.code})`));
    };
    socket.onerror = () => reject(new Error("socket error"));

    const client: TestSocket = {
      socket,
      frames,
      send(event, data, ref) {
        socket.send(JSON.stringify(ref === undefined ? { event, data } : { event, data, ref }));
      },
      sendRaw(data) {
        socket.send(data);
      },
      next(event, match = () => true, timeoutMs = 5000) {
        const earlier = frames.find((f) => f.event === event && !consumed.has(f) && match(f.data));
        if (earlier) {
          consumed.add(earlier);
          return Promise.resolve(earlier);
        }
        return new Promise((resolveFrame, rejectFrame) => {
          const waiter = {
            event,
            match,
            resolve: (f: Frame) => {
              clearTimeout(timer);
              resolveFrame(f);
            },
          };
          const timer = setTimeout(() => {
            waiters.splice(waiters.indexOf(waiter), 1);
            rejectFrame(
              new Error(
                `no "${event}" frame within ${timeoutMs} ms; got ${JSON.stringify(frames.map((f) => f.event))}`,
              ),
            );
          }, timeoutMs);
          waiters.push(waiter);
        });
      },
      closed(timeoutMs = 5000) {
        if (closeCode !== undefined) return Promise.resolve(closeCode);
        return new Promise((resolveClose, rejectClose) => {
          const timer = setTimeout(() => rejectClose(new Error("socket did not close")), timeoutMs);
          closeWaiters.push((code) => {
            clearTimeout(timer);
            resolveClose(code);
          });
        });
      },
      async close(code = 1000) {
        if (closeCode !== undefined) return;
        const done = client.closed();
        socket.close(code);
        await done;
      },
    };
    socket.onopen = () => resolve(client);
  });
}

/** Tries an upgrade and reports the HTTP status when the server refuses it. */
export async function upgradeStatus(
  httpUrl: string,
  headers: Record<string, string> = {},
): Promise<number> {
  const response = await fetch(httpUrl, {
    headers: {
      ...headers,
      connection: "Upgrade",
      upgrade: "websocket",
      "sec-websocket-version": "13",
      "sec-websocket-key": btoa(crypto.getRandomValues(new Uint8Array(16)).toString()).slice(0, 24),
    },
  });
  await response.body?.cancel();
  return response.status;
}
