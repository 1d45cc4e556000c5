/** A thin JSON client over real HTTP: what a web or mobile client does, minus the UI. */
export interface ApiResponse<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

export interface RequestOptions {
  method?: string;
  body?: unknown;
  /** Sent verbatim (for malformed JSON and the like) instead of JSON-encoding `body`. */
  rawBody?: RequestInit["body"];
  token?: string;
  headers?: Record<string, string>;
}

export type Api = <T = any>(path: string, options?: RequestOptions) => Promise<ApiResponse<T>>;

export function apiClient(baseUrl: string): Api {
  return async (path, options = {}) => {
    const headers: Record<string, string> = { ...options.headers };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    let body: RequestInit["body"] | undefined = options.rawBody;
    if (body === undefined && options.body !== undefined) {
      body = JSON.stringify(options.body);
    }
    if (body !== undefined && !headers["content-type"])
      headers["content-type"] = "application/json";
    const response = await fetch(new URL(path, baseUrl), {
      method: options.method ?? (body === undefined ? "GET" : "POST"),
      headers,
      body,
    });
    const text = await response.text();
    let parsed: unknown = text;
    if (response.headers.get("content-type")?.includes("application/json") && text) {
      parsed = JSON.parse(text);
    }
    return { status: response.status, body: parsed as any, headers: response.headers };
  };
}
