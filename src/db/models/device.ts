import type mongoose from "mongoose";
import { Schema, type Types } from "mongoose";

export const DEVICE_PLATFORMS = ["ios", "android", "web"] as const;
export type DevicePlatform = (typeof DEVICE_PLATFORMS)[number];

/**
 * An Expo push token and the user it pushes to. A token names one install of the app, so it
 * belongs to one user at a time: registering it again for someone else moves it (the unique
 * index on `token`), as when another account signs in on the same phone.
 */
export interface DeviceDoc {
  _id: Types.ObjectId;
  /** `ExponentPushToken[…]`; a secret of sorts (it can be pushed to), never logged. */
  token: string;
  user: Types.ObjectId;
  platform: DevicePlatform;
  createdAt: Date;
  /** Moves on every registration: a token registered after a push is not deleted by its report. */
  updatedAt: Date;
}

const deviceSchema = new Schema<DeviceDoc>(
  {
    token: { type: String, required: true },
    user: { type: Schema.Types.ObjectId, ref: "User", required: true },
    platform: { type: String, enum: DEVICE_PLATFORMS, required: true },
  },
  { timestamps: true },
);

deviceSchema.index({ token: 1 }, { unique: true });
// A push looks up the devices of every recipient at once.
deviceSchema.index({ user: 1 });

export function deviceModel(connection: mongoose.Connection) {
  return connection.model<DeviceDoc>("Device", deviceSchema);
}
