import { CallChannel, type CallDeps, type CallEvents } from "./call.ts";
import type { Frame } from "./transport.ts";
import { ClientError, type CodeUpdate, type Session, type SessionCode } from "./types.ts";

export interface SessionEvents extends CallEvents {
  /** This client's socket is in the session (`session-joined`): after each join and rejoin. */
  joined: { sessionId: string };
  /** The other side's accepted edit of the shared editor. */
  code: CodeUpdate;
  /** The session changed: someone joined or left the seat, or the host ended it. */
  updated: Session;
}

/**
 * Makes the text to send after a conflict: `local` is this side's text, `remote` what the server
 * stored meanwhile, `base` what this side's edit started from. The default keeps `local`.
 */
export type Rebase = (local: string, remote: SessionCode, base: SessionCode) => string;

interface Edit {
  text: string;
  language: string;
  serial: number;
}

/**
 * An interview session: `join-session` on every new socket, signaling, and the shared editor.
 * Edits go out one at a time, the newest text replacing any not yet sent; a `CONFLICT` (the other
 * side's edit won) comes back with the stored code, on which the local text is rebased and sent
 * again as the next version.
 */
export class SessionChannel extends CallChannel<SessionEvents> {
  private stored: SessionCode;
  private next: Edit | undefined;
  private sending = false;
  private serials = 0;
  private readonly waiters: {
    serial: number;
    resolve(code: SessionCode): void;
    reject(error: ClientError): void;
  }[] = [];

  constructor(
    id: string,
    deps: CallDeps,
    code: SessionCode | undefined,
    private readonly rebase: Rebase = (local) => local,
  ) {
    super(id, "sessionId", { join: "join-session", leave: "leave-session" }, deps);
    this.stored = code ?? { language: "javascript", text: "", version: 0 };
  }

  /** The shared editor as last known to be stored. */
  get code(): SessionCode {
    return this.stored;
  }

  /** Resolves once this text, or a later one, is stored; rebased on conflicts. */
  updateCode(text: string, language = this.stored.language): Promise<SessionCode> {
    const serial = ++this.serials;
    this.next = { text, language, serial };
    const done = new Promise<SessionCode>((resolve, reject) =>
      this.waiters.push({ serial, resolve, reject }),
    );
    void this.flush();
    return done;
  }

  override async join(): Promise<void> {
    await super.join();
    void this.flush();
  }

  protected other({ event, data }: Frame): void {
    if (event === "peer-joined" || event === "peer-left") this.events.emit(event, data);
    else if (event === "session-joined") this.events.emit("joined", data);
    else if (event === "session-updated") {
      const { session } = data as { session: Session };
      if (session.code.version >= this.stored.version) this.stored = session.code;
      this.events.emit("updated", session);
    } else if (event === "code-update") {
      const { language, text, version } = data as CodeUpdate;
      this.stored = { language, text, version };
      this.events.emit("code", data);
    }
  }

  private async flush(): Promise<void> {
    const edit = this.next;
    if (this.sending || !edit || !this.active || !this.deps.link.open) return;
    this.sending = true;
    this.next = undefined;
    const base = this.stored;
    const version = base.version + 1;
    const answer = await this.deps.link.request("code-update", {
      sessionId: this.id,
      language: edit.language,
      text: edit.text,
      version,
    });
    this.sending = false;
    if (!answer) {
      // The socket went: send it again on the next one, unless a newer edit came meanwhile.
      this.next ??= edit;
    } else if (answer.event === "code-accepted") {
      this.stored = { language: edit.language, text: edit.text, version };
      this.settle(edit.serial, this.stored);
    } else {
      const error = new ClientError(answer.data);
      if (error.code === "CONFLICT" && typeof answer.data.version === "number") {
        const { language, text } = answer.data;
        this.stored = { language, text, version: answer.data.version };
        const local = this.next ?? edit;
        this.next = { ...local, text: this.rebase(local.text, this.stored, base) };
      } else {
        this.settle(edit.serial, undefined, error);
        this.fail(error);
      }
    }
    void this.flush();
  }

  private settle(serial: number, code?: SessionCode, error?: ClientError): void {
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const waiter = this.waiters[i]!;
      if (waiter.serial > serial) continue;
      this.waiters.splice(i, 1);
      if (code) waiter.resolve(code);
      else waiter.reject(error!);
    }
  }
}
