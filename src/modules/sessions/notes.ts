import { Types } from "mongoose";
import type { Models } from "../../db/models/index.ts";
import type { SessionNoteDoc } from "../../db/models/session-note.ts";
import { NotFoundError } from "../../errors.ts";
import type { NotesBody, NotesJson } from "./model.ts";

/**
 * The host's private notes on a session and their rating of it, in any status (preparing,
 * during, after). Nobody else learns that they exist: anyone but the host gets 404.
 */
export class SessionNotes {
  constructor(private readonly models: Models) {}

  /** The host's notes; empty ones (`updatedAt: null`) until first saved. */
  async get(userId: string, sessionId: string): Promise<NotesJson> {
    await this.hostOnly(userId, sessionId);
    const notes = await this.models.SessionNote.findOne({ session: sessionId }).lean();
    return notes ? toNotesJson(notes) : { sessionId, text: "", rating: null, updatedAt: null };
  }

  /** Replaces the notes and the rating (an absent rating clears it). */
  async put(userId: string, sessionId: string, body: NotesBody): Promise<NotesJson> {
    await this.hostOnly(userId, sessionId);
    const save = () =>
      this.models.SessionNote.findOneAndUpdate(
        { session: sessionId },
        { $set: { host: userId, text: body.text, rating: body.rating ?? null } },
        { upsert: true, returnDocument: "after", runValidators: true },
      ).lean();
    let notes: SessionNoteDoc | null;
    try {
      notes = await save();
    } catch (error) {
      // Two first saves at once: the loser's insert hits the unique key; update what is there.
      if ((error as { code?: number }).code !== 11000) throw error;
      notes = await save();
    }
    if (!notes) throw new NotFoundError("Notes not found");
    return toNotesJson(notes);
  }

  private async hostOnly(userId: string, sessionId: string): Promise<void> {
    if (!Types.ObjectId.isValid(sessionId)) throw new NotFoundError("Session not found");
    const session = await this.models.Session.findById(sessionId, { host: 1 }).lean();
    if (!session) throw new NotFoundError("Session not found");
    if (String(session.host) !== userId) throw new NotFoundError("Notes not found");
  }
}

function toNotesJson(notes: SessionNoteDoc): NotesJson {
  return {
    sessionId: String(notes.session),
    text: notes.text,
    rating: notes.rating ?? null,
    updatedAt: notes.updatedAt.toISOString(),
  };
}
