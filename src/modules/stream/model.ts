import { t } from "elysia";

export const StreamToken = t.Object({
  token: t.String({ description: "A Stream user token that Stream Chat and Stream Video accept" }),
  userId: t.String({ description: "The Stream user id: the Clerk id for Clerk users, else _id" }),
  userName: t.String(),
  userImage: t.String(),
  apiKey: t.String({ description: "The Stream API key the client SDKs need" }),
});
