import type mongoose from "mongoose";
import { chatModel } from "./chat.ts";
import { codeVersionModel } from "./code-version.ts";
import { deviceModel } from "./device.ts";
import { messageModel } from "./message.ts";
import { roomModel } from "./room.ts";
import { sessionModel } from "./session.ts";
import { sessionNoteModel } from "./session-note.ts";
import { signInModel } from "./sign-in.ts";
import { streamCleanupModel } from "./stream-cleanup.ts";
import { userModel } from "./user.ts";

/**
 * Every Mongoose model, bound to one connection. Models live on the app's own connection (not on
 * the global mongoose default) so tests can run many apps, each on its own database, in one process.
 */
export function createModels(connection: mongoose.Connection) {
  return {
    User: userModel(connection),
    Chat: chatModel(connection),
    Message: messageModel(connection),
    Session: sessionModel(connection),
    CodeVersion: codeVersionModel(connection),
    SessionNote: sessionNoteModel(connection),
    Room: roomModel(connection),
    SignIn: signInModel(connection),
    StreamCleanup: streamCleanupModel(connection),
    Device: deviceModel(connection),
  };
}

export type Models = ReturnType<typeof createModels>;
