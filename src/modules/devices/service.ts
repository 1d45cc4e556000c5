import { Expo } from "expo-server-sdk";
import { Types } from "mongoose";
import type { DeviceDoc } from "../../db/models/device.ts";
import type { Models } from "../../db/models/index.ts";
import { NotFoundError, ValidationError } from "../../errors.ts";
import type { DeviceJson, RegisterDeviceBody } from "./model.ts";

function deviceJson(device: DeviceDoc): DeviceJson {
  return {
    token: device.token,
    platform: device.platform,
    createdAt: device.createdAt.toISOString(),
    updatedAt: device.updatedAt.toISOString(),
  };
}

function isDuplicateKey(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === 11000;
}

/**
 * Which Expo push tokens push to whom. The app registers its token at every start and after
 * every sign-in, so registering is an upsert by token: the token moves to the caller.
 */
export class DeviceService {
  constructor(private readonly models: Models) {}

  async register(userId: string, input: RegisterDeviceBody): Promise<DeviceJson> {
    if (!Expo.isExpoPushToken(input.token)) {
      throw new ValidationError("The device is invalid", [
        { path: "token", message: "must be an Expo push token (ExponentPushToken[…])" },
      ]);
    }
    const upsert = () =>
      this.models.Device.findOneAndUpdate(
        { token: input.token },
        { $set: { user: new Types.ObjectId(userId), platform: input.platform } },
        { upsert: true, returnDocument: "after", runValidators: true },
      ).lean<DeviceDoc>();
    let device: DeviceDoc | null;
    try {
      device = await upsert();
    } catch (error) {
      // Two registrations of a new token at once: one inserted it, the other now updates it.
      if (!isDuplicateKey(error)) throw error;
      device = await upsert();
    }
    return deviceJson(device!);
  }

  /** The caller's own token only: anyone else's is as unknown as a token never registered. */
  async remove(userId: string, token: string): Promise<void> {
    const { deletedCount } = await this.models.Device.deleteOne({
      token,
      user: new Types.ObjectId(userId),
    });
    if (deletedCount === 0) throw new NotFoundError("Device not found");
  }

  /** Every token of these users, by user id, in one query. */
  async tokensOf(userIds: string[]): Promise<Map<string, string[]>> {
    const byUser = new Map<string, string[]>();
    if (userIds.length === 0) return byUser;
    const devices = await this.models.Device.find(
      { user: { $in: userIds.map((id) => new Types.ObjectId(id)) } },
      { token: 1, user: 1 },
    ).lean<Pick<DeviceDoc, "token" | "user">[]>();
    for (const { token, user } of devices) {
      const tokens = byUser.get(String(user)) ?? [];
      tokens.push(token);
      byUser.set(String(user), tokens);
    }
    return byUser;
  }

  /**
   * Deletes tokens Expo reported as no longer registered, each as of the push it reported on. A
   * token registered again since (the app reinstalled, notifications allowed again) is alive, and
   * stays.
   */
  async forget(reports: { token: string; sentAt: Date }[]): Promise<number> {
    if (reports.length === 0) return 0;
    const { deletedCount } = await this.models.Device.deleteMany({
      $or: reports.map(({ token, sentAt }) => ({ token, updatedAt: { $lte: sentAt } })),
    });
    return deletedCount;
  }
}
