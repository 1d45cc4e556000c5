/**
 * TCP side: accepts connections with Bun.listen, frames each byte stream,
 * and processes one connection's messages strictly in order (a promise
 * queue), since a reply may wait for the journal's fsync. A protocol
 * violation closes that connection only. An awaitable hello holds its
 * connection until it is answered, and a streaming one for good, as on mongod.
 */

import { ObjectId } from "bson";
import type { Socket, TCPSocketListener } from "bun";
import { helloWaitMs } from "./admin-commands.ts";
import type { CommandContext, ServerInfo } from "./command-context.ts";
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
  RawDocument,
  type ReplyBody,
  type Request,
  requestIdOf,
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
  /** Settles when the connection closes, so an awaited hello stops waiting. */
  hungUp: Promise<void>;
  hangUp(): void;
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
  const serverInfo: ServerInfo = {
    startedAt,
    host: options.host,
    get port() {
      return listener.port;
    },
    topologyVersion: { processId: new ObjectId(), counter: 0 },
    connectionCount: () => connections.size,
  };

  const markClosed = (connection: Connection) => {
    connection.closed = true;
    connection.hangUp();
  };

  const close = (socket: Socket<Connection>) => {
    markClosed(socket.data);
    socket.end();
  };

  /**
   * An awaitable hello is answered once `waitMs` has passed; one that allows exhaust is answered
   * again every `waitMs`, with moreToCome set and each reply answering the previous one, until the
   * connection closes: the streaming hello a driver's monitor reads (server monitoring spec).
   */
  const answerHello = async (
    socket: Socket<Connection>,
    request: Request,
    context: CommandContext,
    waitMs: number,
  ): Promise<void> => {
    let responseTo = request.requestId;
    for (;;) {
      if (!(await pause(socket.data, waitMs))) return;
      const reply = runCommand(request.command, context);
      const moreToCome = request.exhaustAllowed && succeeded(reply);
      const bytes = encodeReply(request, responseTo, reply, moreToCome);
      send(socket, bytes);
      if (!moreToCome) return;
      responseTo = requestIdOf(bytes);
    }
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
    const waitMs = succeeded(reply)
      ? helloWaitMs(request.command, serverInfo.topologyVersion)
      : undefined;
    if (waitMs !== undefined && waitMs > 0) {
      await answerHello(socket, request, context, waitMs);
      return;
    }
    send(socket, encodeReply(request, request.requestId, reply));
  };

  const listener: TCPSocketListener<Connection> = Bun.listen<Connection>({
    hostname: options.host,
    port: options.port,
    socket: {
      open(socket) {
        const hungUp = Promise.withResolvers<void>();
        socket.data = {
          id: nextConnectionId++,
          reader: new FrameReader(),
          queue: Promise.resolve(),
          outbox: [],
          closed: false,
          hungUp: hungUp.promise,
          hangUp: () => hungUp.resolve(),
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
        markClosed(socket.data);
        connections.delete(socket);
      },
      // Never leave a connection open but deaf: a failed socket is closed, not just marked.
      error(socket) {
        close(socket);
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

function succeeded(reply: ReplyBody): boolean {
  return !(reply instanceof RawDocument) && reply.ok === 1;
}

/** OP_REPLY answers OP_QUERY, OP_MSG answers OP_MSG. */
function encodeReply(
  request: Request,
  responseTo: number,
  body: ReplyBody,
  moreToCome = false,
): Uint8Array {
  return request.opCode === OP_QUERY
    ? encodeLegacyReply(responseTo, body)
    : encodeMsgReply(responseTo, body, moreToCome);
}

/** Resolves true once `ms` have passed, or false as soon as the connection closes. */
async function pause(connection: Connection, ms: number): Promise<boolean> {
  if (connection.closed) return false;
  let timer: Timer | undefined;
  const elapsed = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(true), ms);
  });
  try {
    return await Promise.race([elapsed, connection.hungUp.then(() => false)]);
  } finally {
    clearTimeout(timer);
  }
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
