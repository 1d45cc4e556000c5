/**
 * Topic names. Every socket subscribes to its user's topic. A socket that joins a chat subscribes
 * to that chat's topic *for its user* (`chat:<chatId>:<userId>`), so an event can go to everyone in
 * the chat but its sender's own sockets (typing is never echoed to any tab of the typist). Sessions
 * and rooms work the same way.
 */
export const topics = {
  user: (userId: string) => `user:${userId}`,
  chat: (chatId: string, userId: string) => `chat:${chatId}:${userId}`,
  session: (sessionId: string, userId: string) => `session:${sessionId}:${userId}`,
  /** Held by one socket of the user at a time: the one that joined the room's call last. */
  room: (roomId: string, userId: string) => `room:${roomId}:${userId}`,
  /** Not a socket topic: instructions to every instance's gateway (see Realtime.attach). */
  control: "control",
  /** Not a socket topic: where each instance's message log says how far it wrote in its chats. */
  positions: "positions",
};
