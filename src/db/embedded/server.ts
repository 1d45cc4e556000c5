/**
 * TCP side: accepts connections with Bun.listen, frames each byte stream,
 * and processes one connection's messages strictly in order (a promise
 * queue), since a reply may wait for the journal's fsync. A protocol
 * violation closes that connection only.
 */
import type { Socket, TCPSocketListener } from "bun";
import type { CommandContext } from "./command-context.ts";
import { runCommand } from "./commands.ts";
import type { CursorRegistry } from "./cursors.ts";
import type { Catalog } from "./database.ts";
import { StoreError } from "./errors.ts";
import {
  decodeRequest,
  encodeLegacyReply,
  encodeMsgReply,
  FrameReader,
  OP_QUERY,
  ProtocolError,
  type ReplyBody,
} from "./wire.ts";

export interface ServerOptions {
  host: string;
  port: number;
  catalog: Catalog;
  cursors: CursorRegistry;
  /** Resolves once every change made so far is durable. */
  durable(): Promise<void>;
}

interface Connection {
  id: number;
  reader: FrameReader;
  queue: Promise<void>;
  outbox: Uint8Array[];
  closed: boolean;
  remoteAddress: string;
}

export interface RunningServer {
  readonly port: number;
  /** Closes the listener and all connections, then waits for in-flight commands. */
  stop(): Promise<void>;
}

export function startServer(options: ServerOptions): RunningServer {
  const connections = new Set<Socket<Connection>>();
  let nextConnectionId = 1;
  const startedAt = Date.now();
  const serverInfo = {
    startedAt,
    host: options.host,
    get port() {
      return listener.port;
    },
    connectionCount: () => connections.size,
  };

  const close = (socket: Socket<Connection>) => {
    socket.data.closed = true;
    socket.end();
  };

  const handleFrame = async (socket: Socket<Connection>, frame: Uint8Array): Promise<void> => {
    const connection = socket.data;
    if (connection.closed) return;
    let request: ReturnType<typeof decodeRequest>;
    try {
      request = decodeRequest(frame);
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      close(socket);
      return;
    }
    const context: CommandContext = {
      catalog: options.catalog,
      cursors: options.cursors,
      server: serverInfo,
      db: request.db,
      connectionId: connection.id,
      remoteAddress: connection.remoteAddress,
    };
    let reply: ReplyBody = runCommand(request.command, context);
    try {
      await options.durable();
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      reply = new StoreError(1, `journal write failed: ${reason}`).toReply();
    }
    if (!request.expectsReply || connection.closed) return;
    const bytes =
      request.opCode === OP_QUERY
        ? encodeLegacyReply(request.requestId, reply)
        : encodeMsgReply(request.requestId, reply);
    send(socket, bytes);
  };

  const listener: TCPSocketListener<Connection> = Bun.listen<Connection>({
    hostname: options.host,
    port: options.port,
    socket: {
      open(socket) {
        socket.data = {
          id: nextConnectionId++,
          reader: new FrameReader(),
          queue: Promise.resolve(),
          outbox: [],
          closed: false,
          remoteAddress: `${socket.remoteAddress}:${(socket as { remotePort?: number }).remotePort ?? 0}`,
        };
        connections.add(socket);
      },
      data(socket, chunk) {
        const connection = socket.data;
        if (connection.closed) return;
        let frames: Uint8Array[];
        try {
          frames = connection.reader.push(chunk);
        } catch {
          close(socket);
          return;
        }
        for (const frame of frames) {
          connection.queue = connection.queue
            .then(() => handleFrame(socket, frame))
            .catch(() => close(socket));
        }
      },
      drain(socket) {
        flush(socket);
      },
      close(socket) {
        socket.data.closed = true;
        connections.delete(socket);
      },
      error(socket) {
        socket.data.closed = true;
      },
    },
  });

  return {
    get port() {
      return listener.port;
    },
    async stop() {
      const pending = [...connections].map((socket) => socket.data.queue);
      listener.stop(true);
      for (const socket of connections) close(socket);
      await Promise.allSettled(pending);
    },
  };
}

/** Writes now, or queues behind earlier bytes the kernel has not accepted yet. */
function send(socket: Socket<Connection>, bytes: Uint8Array): void {
  const { outbox } = socket.data;
  if (outbox.length > 0) {
    outbox.push(bytes);
    return;
  }
  const written = socket.write(bytes);
  if (written >= 0 && written < bytes.length) outbox.push(bytes.subarray(written));
}

function flush(socket: Socket<Connection>): void {
  const { outbox } = socket.data;
  while (outbox.length > 0) {
    const next = outbox[0] as Uint8Array;
    const written = socket.write(next);
    if (written < 0) {
      outbox.length = 0;
      return;
    }
    if (written < next.length) {
      outbox[0] = next.subarray(written);
      return;
    }
    outbox.shift();
  }
}
