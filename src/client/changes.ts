import type { Link } from "./transport.ts";
import { ClientError } from "./types.ts";

/** `change-accepted`: the version the change took (the message's own when it changed nothing). */
export type ChangeAccepted = { messageId: string; version: number };

interface Change {
  event: string;
  data: unknown;
  sending?: boolean;
  done(answer?: ChangeAccepted, error?: ClientError): void;
}

/** Answers after which the same change is tried again later; any other error is final. */
const RETRY = new Set(["UNAVAILABLE", "RATE_LIMITED", "INTERNAL"]);

/**
 * Edits, deletions and reactions, sent with a ref and answered by `change-accepted` or
 * `socket-error`. Each says what the message is to become (this text, deleted, this reaction on
 * or off), so sending it again is harmless: one whose answer was lost with its socket goes out
 * again on the next one. They wait in memory only, not in storage, and for `timeoutMs` at most
 * (then TIMEOUT): a change is meant for now, and one sent after a restart or a long time offline
 * could undo a later change made elsewhere.
 */
export class Changes {
  private readonly waiting = new Set<Change>();

  constructor(
    private readonly link: Link,
    private readonly timeoutMs: number,
  ) {}

  request(event: string, data: unknown): Promise<ChangeAccepted> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          change.done(
            undefined,
            new ClientError({
              code: "TIMEOUT",
              message: "No answer in time; the change may still have been made",
            }),
          ),
        this.timeoutMs,
      );
      const change: Change = {
        event,
        data,
        done: (answer, error) => {
          clearTimeout(timer);
          this.waiting.delete(change);
          if (answer) resolve(answer);
          else reject(error);
        },
      };
      this.waiting.add(change);
      void this.send(change);
    });
  }

  /** Sends every change not answered yet; called when a socket opens. */
  flush(): void {
    for (const change of this.waiting) void this.send(change);
  }

  close(): void {
    for (const change of this.waiting) {
      change.done(undefined, new ClientError({ code: "CLOSED", message: "The client is closed" }));
    }
  }

  private async send(change: Change): Promise<void> {
    if (change.sending || !this.link.open || !this.waiting.has(change)) return;
    change.sending = true;
    const answer = await this.link.request(change.event, change.data);
    change.sending = false;
    // The socket closed first (the next one sends it again), or it timed out meanwhile.
    if (!answer || !this.waiting.has(change)) return;
    if (answer.event === "change-accepted") return change.done(answer.data);
    const error = new ClientError(answer.data ?? {});
    if (RETRY.has(error.code)) {
      setTimeout(() => void this.send(change), (error.retryAfter ?? 1) * 1000);
    } else change.done(undefined, error);
  }
}
