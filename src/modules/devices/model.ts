import { type Static, t } from "elysia";

/** Real tokens are ~41 characters (`ExponentPushToken[` + 22 + `]`); this only bounds junk. */
const TOKEN_MAX = 200;

const PushToken = t.String({
  minLength: 1,
  maxLength: TOKEN_MAX,
  description: "An Expo push token, as `getExpoPushTokenAsync` gives it: `ExponentPushToken[…]`",
});

/** As the Device model's DEVICE_PLATFORMS. */
export const Platform = t.Union([t.Literal("ios"), t.Literal("android"), t.Literal("web")], {
  description: "Where the app runs",
});

export const RegisterDeviceBody = t.Object({ token: PushToken, platform: Platform });
export type RegisterDeviceBody = Static<typeof RegisterDeviceBody>;

export const Device = t.Object(
  {
    token: t.String(),
    platform: Platform,
    createdAt: t.String({ format: "date-time" }),
    updatedAt: t.String({ format: "date-time" }),
  },
  { title: "Device" },
);
export type DeviceJson = Static<typeof Device>;

export const DeviceEnvelope = t.Object({ device: Device });

export const DeviceTokenParams = t.Object({ token: PushToken });
