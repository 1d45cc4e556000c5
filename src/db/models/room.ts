import mongoose, { Schema, type Types } from "mongoose";

export interface RoomDoc {
  _id: Types.ObjectId;
  /** The room's public id: 16 hex characters, made at create. */
  roomId: string;
  name: string;
  /**
   * In the order they joined. The first is the host: the host leaving hands the room to the
   * longest-present member, which `$pull` does by itself, so a leave is one conditional update and
   * host and members can never disagree. Empty means closed (the document is deleted right after).
   */
  members: Types.ObjectId[];
  /** 2–8; never changes after create. */
  capacity: number;
  /**
   * Counts `join-room`s on any socket: orders the sockets of one user, so that the one that joined
   * last holds the call on every instance however the instructions cross.
   */
  callJoins: number;
  createdAt: Date;
  updatedAt: Date;
}

const roomSchema = new Schema<RoomDoc>(
  {
    roomId: { type: String, required: true },
    name: { type: String, required: true, trim: true, maxlength: 80 },
    members: [{ type: Schema.Types.ObjectId, ref: "User" }],
    capacity: { type: Number, required: true, min: 2, max: 8 },
    callJoins: { type: Number, default: 0 },
  },
  { timestamps: true },
);

roomSchema.index({ roomId: 1 }, { unique: true });

export function roomModel(connection: mongoose.Connection) {
  return connection.model<RoomDoc>("Room", roomSchema);
}
