/**
 * Stubs for the Expo example (tests/types/client-expo-example.ts): the few signatures it uses of
 * packages an Expo app has and this repository does not install, as those packages declare them.
 */
declare module "@clerk/clerk-expo" {
  export function useAuth(): {
    isSignedIn: boolean | undefined;
    userId: string | null | undefined;
    getToken(options?: { template?: string; skipCache?: boolean }): Promise<string | null>;
  };
}

declare module "@react-native-async-storage/async-storage" {
  const AsyncStorage: {
    getItem(key: string): Promise<string | null>;
    setItem(key: string, value: string): Promise<void>;
    removeItem(key: string): Promise<void>;
  };
  export default AsyncStorage;
}

declare module "react" {
  type SetState<S> = (next: S | ((previous: S) => S)) => void;
  export function useState<S>(initial: S | (() => S)): [S, SetState<S>];
  export function useState<S = undefined>(): [S | undefined, SetState<S | undefined>];
  // biome-ignore lint/suspicious/noConfusingVoidType: React's own EffectCallback is `() => void | Destructor`
  export function useEffect(effect: () => void | (() => void), deps?: readonly unknown[]): void;
}
