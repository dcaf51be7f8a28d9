/**
 * The console's way to the API: the typed client generated from /openapi.json (openapi-fetch over
 * tools/cli/api-types.ts, the CLI's), same origin, and the session token. The token is kept in
 * sessionStorage (this tab only, gone when it closes) and sent as a bearer header; never in a URL,
 * never the API key or password it was exchanged for.
 */
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "../../tools/cli/api-types";

export type Schemas = components["schemas"];
export type Role = Schemas["ApiKey"]["roles"][number];
export type Problem = Schemas["Problem"];

const TOKEN_KEY = "edge-rag.session";

interface Session {
  token: string;
  /** Epoch ms after which the token is refused. */
  expiresAt: number;
}

export function currentSession(): Session | null {
  try {
    const session = JSON.parse(sessionStorage.getItem(TOKEN_KEY) ?? "null") as Session | null;
    return session && session.expiresAt > Date.now() ? session : null;
  } catch {
    return null;
  }
}

export function saveSession(token: Schemas["AccessToken"]): Session {
  const session = { token: token.access_token, expiresAt: Date.now() + token.expires_in * 1000 };
  sessionStorage.setItem(TOKEN_KEY, JSON.stringify(session));
  return session;
}

export function clearSession(): void {
  sessionStorage.removeItem(TOKEN_KEY);
}

/** Called when the API says the session is no longer valid (401): the page goes back to sign-in. */
let onUnauthorized: () => void = () => {};
export function whenUnauthorized(handler: () => void): void {
  onUnauthorized = handler;
}

const session: Middleware = {
  onRequest({ request }) {
    // A sign-in call brings its own credential (the API key being exchanged).
    if (!request.headers.has("authorization")) {
      const current = currentSession();
      if (current) request.headers.set("authorization", `Bearer ${current.token}`);
    }
    return request;
  },
  onResponse({ request, response }) {
    if (response.status === 401 && !new URL(request.url).pathname.startsWith("/v1/auth/")) onUnauthorized();
    return response;
  },
};

export const api = createClient<paths>({ baseUrl: location.origin });
api.use(session);

/** A failed call as the API described it (problem+json), or as much as is known. */
export class ApiProblem extends Error {
  constructor(
    readonly status: number,
    readonly problem: Partial<Problem>,
  ) {
    super(describe(status, problem));
  }
}

function describe(status: number, problem: Partial<Problem>): string {
  const text = problem.detail ?? problem.title ?? "the request failed";
  return `${text} (${status}${problem.code ? ` ${problem.code}` : ""}${problem.request_id ? `, request ${problem.request_id}` : ""})`;
}

/** The data of a successful call; otherwise throws an ApiProblem. */
export async function ok<T>(call: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  const { data, error, response } = await call;
  if (response.ok) return data as T;
  throw new ApiProblem(response.status, typeof error === "object" && error !== null ? (error as Partial<Problem>) : {});
}

export function messageOf(error: unknown): string {
  if (error instanceof ApiProblem) return error.message;
  if (error instanceof TypeError) return "the API could not be reached (network error)";
  return error instanceof Error ? error.message : String(error);
}
