/** Typed listeners: `on` returns the function that removes the listener again. */
export class Emitter<Events extends object> {
  // Keyed by any name rather than `keyof Events`, so that an emitter of more events can stand for
  // one of fewer (a RoomChannel or SessionChannel is a CallChannel).
  private readonly listeners = new Map<PropertyKey, Set<(payload: never) => void>>();

  on<K extends keyof Events>(event: K, listener: (payload: Events[K]) => void): () => void {
    const set = this.listeners.get(event) ?? new Set();
    this.listeners.set(event, set);
    set.add(listener);
    return () => {
      set.delete(listener);
    };
  }

  emit<K extends keyof Events>(event: K, payload: Events[K]): void {
    for (const listener of this.listeners.get(event) ?? []) {
      // One app listener that throws must not stop delivery to the others, nor the SDK.
      try {
        (listener as (payload: Events[K]) => void)(payload);
      } catch (error) {
        setTimeout(() => {
          throw error;
        });
      }
    }
  }
}
