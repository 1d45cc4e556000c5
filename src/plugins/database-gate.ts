import { Elysia } from "elysia";
import { databaseUnavailable } from "../db/errors.ts";

/** Paths that need the database: the API, and the socket (its token names a stored user). */
const NEEDS_DATABASE = /^\/(api|ws)(\/|$)/;

/**
 * While the driver knows the database is out of reach, requests that need it are answered 503 at
 * once instead of each waiting out the driver's server selection: clients learn to retry in
 * milliseconds, and a burst during an outage holds no connections open. The driver's own monitor
 * notices the database coming back (it checks every second), and the gate opens by itself.
 */
export function databaseGate(reachable: () => boolean) {
  return new Elysia({ name: "database-gate" }).onRequest(({ request }) => {
    // A preflight needs no database, and must carry CORS headers for the browser to read a 503.
    if (reachable() || request.method === "OPTIONS") return;
    if (!NEEDS_DATABASE.test(new URL(request.url).pathname)) return;
    throw databaseUnavailable();
  });
}
