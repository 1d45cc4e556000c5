/** Messages between the bench (parent) and its load-generator processes, over Bun's IPC. */

export interface ChatPair {
  chatId: string;
  a: { id: string; url: string };
  b: { id: string; url: string };
}

export type Command =
  | { cmd: "chat-open"; pairs: ChatPair[] }
  | {
      cmd: "chat-step";
      /** Sends per user per second; fractional rates are fine (sends are spread over time). */
      ratePerUser: number;
      ms: number;
      maxInFlight: number;
      drainMs: number;
      /**
       * When the sending window opens, in ms since the epoch (`performance.timeOrigin +
       * performance.now()`, the same clock in every process); now when absent. The bench reads
       * the processes' CPU at exactly this instant and `ms` later.
       */
      startAt?: number;
      /**
       * Where in the send interval this generator's sends fall, in [0, 1): generators started at
       * the same instant would otherwise send in lockstep (two sends at once, then nothing).
       */
      phase?: number;
    }
  | { cmd: "receivers-open"; urls: string[]; chatId: string }
  | { cmd: "count-start" }
  | { cmd: "count-stop" }
  | { cmd: "typist-open"; typistUrl: string; probeUrl: string; chatId: string }
  | { cmd: "type"; ms: number; window: number }
  | { cmd: "idle-open"; urls: string[]; concurrency: number }
  | { cmd: "idle-check" }
  | {
      cmd: "rest";
      kind: "list-chats" | "send-message";
      base: string;
      items: { token: string; chatId: string }[];
      concurrency: number;
      ms: number;
    }
  | { cmd: "close" };

export type Reply =
  | { type: "ready"; opened: number; failed: number; firstError?: string }
  | {
      type: "step";
      sent: number;
      skipped: number;
      ackedInWindow: number;
      acked: number;
      errors: Record<string, number>;
      /** send → the other participant's `new-message`, ms. */
      latencies: number[];
      /** send → `message-sent`, ms. */
      ackLatencies: number[];
      /** Messages acknowledged but never received by the other side within the drain. */
      missing: number;
      ms: number;
      /** How late the generator's first send tick was after `startAt`, ms (a scheduling check). */
      startLagMs: number;
    }
  | { type: "count"; frames: number; ms: number; closed: number }
  | { type: "typed"; sent: number; probeReceived: number; ms: number }
  | { type: "idle"; open: number; closed: number }
  | {
      type: "rest";
      count: number;
      statuses: Record<string, number>;
      latencies: number[];
      ms: number;
    }
  | { type: "closed" }
  | { type: "error"; message: string };
