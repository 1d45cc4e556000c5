/**
 * Type test, compiled by `bunx tsc --noEmit` and never run: the README's Expo example ("Clients"),
 * verbatim between the two markers (tests/client/readme-examples.test.ts holds the README to it).
 * Clerk, AsyncStorage and React are not installed here: client-expo-modules.d.ts stubs the
 * signatures it uses.
 */

// ---- README: Expo ----
// chat.ts in the Expo app: hooks for the screens
import { useAuth } from "@clerk/clerk-expo";
import AsyncStorage from "@react-native-async-storage/async-storage";
import {
  type ChatChannel,
  type Client,
  createClient,
  type Message,
  type Status,
} from "interview-chat-server/client";
import { useEffect, useState } from "react";

/** One client while someone is signed in to Clerk; closed when they sign out. */
export function useChatClient(): Client | undefined {
  const { isSignedIn, userId, getToken } = useAuth();
  const [client, setClient] = useState<Client>();
  useEffect(() => {
    if (!isSignedIn || !userId) return;
    const next = createClient({
      // On a phone, the development machine's LAN address rather than localhost.
      baseUrl: process.env.EXPO_PUBLIC_API_URL ?? "http://localhost:3000",
      // Clerk's session token; asked for again after a 401 or a 1008 close.
      token: () => getToken(),
      // A send not yet acknowledged outlives the app being killed and goes out on its next start.
      storage: AsyncStorage,
      // One outbox per user: on a shared device, one user's messages never go out as another's.
      storageKey: `chat-outbox:${userId}`,
    });
    setClient(next);
    return () => {
      next.close();
      setClient(undefined);
    };
  }, [isSignedIn, userId, getToken]);
  return client;
}

/** For a banner ("reconnecting…") and presence dots: user ids of the people you chat with. */
export function useConnection(client: Client | undefined) {
  const [status, setStatus] = useState<Status>("connecting");
  const [online, setOnline] = useState<ReadonlySet<string>>(new Set());
  useEffect(() => {
    if (!client) return;
    setStatus(client.status);
    const stop = [
      client.on("status", setStatus),
      client.on("presence", (presence) => setOnline(presence.online)),
    ];
    return () => {
      for (const off of stop) off();
    };
  }, [client]);
  return { status, online };
}

/** A chat screen: every message once and in seq order, the other side's typing, the channel. */
export function useChat(client: Client | undefined, chatId: string) {
  const [chat, setChat] = useState<ChatChannel>();
  const [messages, setMessages] = useState<Message[]>([]);
  const [otherTyping, setOtherTyping] = useState(false);
  useEffect(() => {
    if (!client) return;
    setMessages([]);
    const channel = client.chat(chatId); // replays the chat, then follows it across reconnects
    const stop = [
      channel.on("message", (message) => {
        setMessages((all) => [...all, message]);
        channel.markRead(message.seq);
      }),
      channel.on("typing", ({ isTyping }) => setOtherTyping(isTyping)),
    ];
    setChat(channel);
    return () => {
      for (const off of stop) off();
      channel.leave(); // its unacknowledged sends still go out
      setChat(undefined);
    };
  }, [client, chatId]);
  // The screen calls chat?.typing() on each keystroke and `await chat?.send(text)` to send.
  return { chat, messages, otherTyping };
}
// ---- end ----
