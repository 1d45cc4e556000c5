/** A token, or where to get one: Clerk's `getToken`, a store, a refresh call. */
export type TokenSource = string | (() => string | Promise<string | null | undefined>);

/**
 * The token the client presents, asked for once and again only after the server refused it
 * (a REST 401, a refused upgrade, a 1008 close). Without a token the cookie authenticates.
 */
export class Auth {
  private token: Promise<string | undefined> | undefined;

  constructor(private readonly source: TokenSource | undefined) {}

  current(): Promise<string | undefined> {
    const { source } = this;
    if (this.token) return this.token;
    const token =
      typeof source === "function"
        ? Promise.resolve()
            .then(source)
            .then((t) => t ?? undefined)
        : Promise.resolve(source);
    // A source that failed is asked again next time.
    token.catch(() => {
      if (this.token === token) this.token = undefined;
    });
    this.token = token;
    return token;
  }

  /**
   * A token other than `rejected`, or undefined when there is none to be had: the token is fixed,
   * or the source failed or handed back the one just refused.
   */
  async refresh(rejected: string | undefined): Promise<string | undefined> {
    if (typeof this.source !== "function") return undefined;
    const now = await this.token?.catch(() => undefined);
    // Someone else asked for a fresh one since `rejected` was read.
    if (now !== undefined && now !== rejected) return now;
    this.token = undefined;
    const fresh = await this.current().catch(() => undefined);
    return fresh === rejected ? undefined : fresh;
  }
}
