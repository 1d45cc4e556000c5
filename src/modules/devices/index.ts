import { Elysia, t } from "elysia";
import type { AuthPlugin } from "../../plugins/auth.ts";
import { AUTHENTICATED_CHANGE, JSON_BODY, withErrors } from "../common/model.ts";
import { DeviceEnvelope, DeviceTokenParams, RegisterDeviceBody } from "./model.ts";
import type { DeviceService } from "./service.ts";

export interface DevicesModuleDeps {
  auth: AuthPlugin;
  devices: DeviceService;
}

/** The Expo app's push tokens (the contract's "Push notifications"). */
export function devicesModule({ auth, devices }: DevicesModuleDeps) {
  return new Elysia({ name: "devices", prefix: "/api/devices", detail: { tags: ["devices"] } })
    .use(auth)
    .post(
      "",
      async ({ user, body, status }) =>
        status(201, { device: await devices.register(user.id, body) }),
      {
        auth: true,
        body: RegisterDeviceBody,
        response: withErrors({ 201: DeviceEnvelope }, [...AUTHENTICATED_CHANGE, ...JSON_BODY]),
        detail: {
          summary: "Register the app's Expo push token for the caller",
          description:
            "201 every time, whether the token is new, was the caller's already, or moves to " +
            "the caller from another user (one account per install). 400 VALIDATION (path " +
            "`token`) for anything that is not an Expo push token.",
        },
      },
    )
    .delete(
      "/:token",
      async ({ user, params, set }) => {
        await devices.remove(user.id, params.token);
        set.status = 204;
      },
      {
        auth: true,
        params: DeviceTokenParams,
        response: withErrors({ 204: t.Void() }, [...AUTHENTICATED_CHANGE, 400, 404]),
        detail: {
          summary: "Stop pushing to this token (at sign-out)",
          description:
            "The token URL-encoded (`ExponentPushToken%5B…%5D`). 404 for a token that is not " +
            "the caller's, whether unknown or someone else's.",
        },
      },
    );
}
