// Calling example_api on the user's behalf, from the server only.
//
// The browser talks to this app with its session cookie; this app talks to the API
// with the user's access token (`Authorization: Bearer`, RFC 6750 §2.1; with
// EXAMPLE_WEB_DPOP=1, `Authorization: DPoP` and a proof signed by the SDK's fetcher for
// each call, RFC 9449 §7.1). The token
// never goes to the browser and the browser's cookies never go to the API. Every
// answer made here is JSON with `Cache-Control: no-store` (per-user data), and no
// byte of the request is ever copied into a response header.
import { AccessTokenError, AccessTokenErrorCode } from "@auth0/nextjs-auth0/errors";
import { NextResponse, type NextRequest } from "next/server";

import { ALLOW_INSECURE_REQUESTS, DPOP, auth0 } from "@/lib/auth0";

/** example_api refuses bodies over 64 KiB itself; refuse them here before reading. */
export const MAX_BODY_BYTES = 64 * 1024;
const MAX_SEGMENTS = 4;
const MAX_SEGMENT_LENGTH = 64;
const MAX_QUERY_LENGTH = 512;
const MAX_IF_MATCH_LENGTH = 512;
const MAX_UPSTREAM_BYTES = 1024 * 1024;
const UPSTREAM_TIMEOUT_MS = 10_000;
/** A path segment may hold RFC 3986 §2.3's unreserved characters and nothing else. */
const SEGMENT = /^[A-Za-z0-9._~-]+$/;
/** Percent-encoded ".", "/" and "\" anywhere in the raw path: never legitimate here. */
const ENCODED_SEPARATOR = /%(2e|2f|5c)/i;
/** A "." or ".." segment, each dot plain or percent-encoded (RFC 3986 §3.3, §5.2.4). */
const DOT_SEGMENT = /(^|\/)(\.|%2e){1,2}(\/|$)/i;
/** RFC 9110 §8.8.3 entity-tag, ASCII only: W/"..." or "...". */
const ENTITY_TAG = /^(W\/)?"[\x21\x23-\x7e]{0,200}"$/;
/** RFC 9110 §13.1.1 If-Match: "*" or a list of entity-tags, printable ASCII only. */
const IF_MATCH = /^[\x20-\x7e]+$/;
/** RFC 9110 §10.2.3 Retry-After as delay-seconds (the form claimguard sends). */
const DELAY_SECONDS = /^[0-9]{1,9}$/;
const API_ITEM_PATH = /^\/products\/([0-9]{1,19})$/;
const UNSAFE_METHODS = new Set(["POST", "PUT", "PATCH", "DELETE"]);
const WITH_BODY = new Set(["POST", "PUT", "PATCH"]);

/** A JSON answer of this app's own. */
export function answer(status: number, body: Record<string, unknown>, headers?: HeadersInit): NextResponse {
  const response = NextResponse.json(body, { status, headers });
  response.headers.set("Cache-Control", "no-store");
  return response;
}

/** Why a raw request path is refused (dot segments, encoded separators), or null. */
function refuseRawPath(pathname: string): string | null {
  if (DOT_SEGMENT.test(pathname)) {
    return "The path holds a '.' or '..' segment.";
  }
  if (ENCODED_SEPARATOR.test(pathname)) {
    return "The path holds an encoded '.', '/' or '\\'.";
  }
  return null;
}

/**
 * Why a path under /api/products must not be forwarded, or null when it may be.
 *
 * `segments` are the catch-all's segments, already percent-decoded by Next.js;
 * `rawPath` is the request's path. A segment "." or ".." would be removed by the
 * next URL parser on the way (RFC 3986 §5.2.4; the WHATWG URL standard also reads
 * "%2e" as "."), so `/api/products/../me` would become the API's `/me`. Next.js's
 * own routing already keeps such paths away from this handler (see next.config.ts);
 * this check does not rely on it. An empty segment, "/" or "\" inside a segment
 * (sent as %2F, %5C), or any other character outside RFC 3986's unreserved set is
 * refused too: the API's paths never need one.
 */
export function refusePath(segments: readonly string[], rawPath: string): string | null {
  const raw = refuseRawPath(rawPath);
  if (raw !== null) {
    return raw;
  }
  if (segments.length > MAX_SEGMENTS) {
    return "The path is too deep.";
  }
  for (const segment of segments) {
    if (segment === "" || segment === "." || segment === "..") {
      return "The path holds an empty, '.' or '..' segment.";
    }
    if (segment.length > MAX_SEGMENT_LENGTH || !SEGMENT.test(segment)) {
      return "The path holds a character that is not allowed.";
    }
  }
  return null;
}

/**
 * Cross-site request forgery: the session cookie goes with every request to this
 * origin, whoever made the page that sends it. SameSite=Lax (the SDK's default)
 * already keeps it off cross-site POSTs; on top of that, a state-changing request
 * must come from this app's own pages: browsers send `Origin` with every such fetch
 * (Fetch standard, "origin header"), and `Sec-Fetch-Site` when they know it.
 */
export function refuseCrossSite(req: NextRequest): string | null {
  if (!UNSAFE_METHODS.has(req.method)) {
    return null;
  }
  const site = req.headers.get("sec-fetch-site");
  if (site !== null && site !== "same-origin") {
    return "Cross-site request refused.";
  }
  const origin = req.headers.get("origin");
  if (origin === null || !allowedOrigins().has(origin)) {
    return "Cross-site request refused.";
  }
  return null;
}

function allowedOrigins(): Set<string> {
  const origins = new Set<string>();
  for (const base of (process.env.APP_BASE_URL ?? "").split(",")) {
    try {
      origins.add(new URL(base.trim()).origin);
    } catch {
      // an unusable entry allows nothing
    }
  }
  return origins;
}

function apiBase(): URL | null {
  try {
    const url = new URL(process.env.EXAMPLE_API_URL ?? "");
    if ((url.protocol === "http:" || url.protocol === "https:") && !url.search && !url.hash) {
      return url;
    }
  } catch {
    // fall through
  }
  return null;
}

/**
 * The user's access token, or the JSON answer to give instead.
 *
 * `refresh` forces a refresh-token grant (RFC 6749 §6) even when the current token
 * is still valid; the SDK saves the new token set in the session cookie.
 */
export async function accessToken(
  refresh = false,
): Promise<{ token: string; expiresAt: number } | { refused: NextResponse }> {
  try {
    const { token, expiresAt } = await auth0.getAccessToken(refresh ? { refresh: true } : undefined);
    return { token, expiresAt };
  } catch (error) {
    return { refused: tokenRefusal(error) };
  }
}

/** The answer to give when the SDK could not produce the user's access token. */
function tokenRefusal(error: unknown): NextResponse {
  if (error instanceof AccessTokenError) {
    if (error.code === AccessTokenErrorCode.MISSING_SESSION) {
      return answer(401, { error: "unauthorized", error_description: "Sign in first." });
    }
    if (error.code === AccessTokenErrorCode.FAILED_TO_REFRESH_TOKEN && !error.cause) {
      // No OAuth error from the tenant: it could not be reached at all.
      return answer(
        503,
        { error: "temporarily_unavailable", error_description: "The sign-in service cannot be reached." },
        { "Retry-After": "5" },
      );
    }
    return answer(401, { error: "session_expired", error_description: "Sign in again." });
  }
  console.error("example_web: could not get an access token", error);
  return answer(401, { error: "unauthorized", error_description: "Sign in again." });
}

/**
 * The request body, or null past `limit` bytes. Read piece by piece: a chunked body
 * declares no length, and must not be held in memory whole before it is measured.
 */
async function readCapped(req: NextRequest, limit: number): Promise<ArrayBuffer | null> {
  if (req.body === null) {
    return new ArrayBuffer(0);
  }
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) {
      break;
    }
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      return null;
    }
    chunks.push(value);
  }
  const whole = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    whole.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return whole.buffer;
}

type Forward = { path: readonly string[]; search?: string };

/** Forward `req` to example_api's `/products[/...]` and relay the answer. */
export async function forwardToApi(req: NextRequest, { path, search = "" }: Forward): Promise<NextResponse> {
  const base = apiBase();
  if (base === null) {
    console.error("example_web: EXAMPLE_API_URL must be an http(s) URL without query or fragment");
    return answer(500, { error: "server_error", error_description: "The app is misconfigured." });
  }
  const crossSite = refuseCrossSite(req);
  if (crossSite !== null) {
    return answer(403, { error: "cross_site_request", error_description: crossSite });
  }
  if (search.length > MAX_QUERY_LENGTH) {
    return answer(400, { error: "invalid_request", error_description: "The query string is too long." });
  }

  const headers = new Headers({ Accept: "application/json" });
  const ifMatch = req.headers.get("if-match");
  if (ifMatch !== null) {
    if (ifMatch.length > MAX_IF_MATCH_LENGTH || !IF_MATCH.test(ifMatch)) {
      return answer(400, { error: "invalid_request", error_description: "The If-Match header is malformed." });
    }
    headers.set("If-Match", ifMatch);
  }

  let body: ArrayBuffer | undefined;
  if (WITH_BODY.has(req.method)) {
    const type = (req.headers.get("content-type") ?? "").split(";")[0]?.trim().toLowerCase();
    if (type !== "application/json") {
      return answer(415, { error: "unsupported_media_type", error_description: "Send the body as application/json." });
    }
    const declared = Number(req.headers.get("content-length") ?? "0");
    if (!Number.isFinite(declared) || declared > MAX_BODY_BYTES) {
      return answer(413, { error: "payload_too_large", error_description: "The body is too large." });
    }
    const read = await readCapped(req, MAX_BODY_BYTES);
    if (read === null) {
      return answer(413, { error: "payload_too_large", error_description: "The body is too large." });
    }
    body = read;
    headers.set("Content-Type", "application/json");
  }

  // The token first, in both modes: getAccessToken() refreshes an expired one and
  // saves the new token set in the session cookie.
  const token = await accessToken();
  if ("refused" in token) {
    return token.refused;
  }

  const url = new URL(["products", ...path.map(encodeURIComponent)].join("/"), base.href.endsWith("/") ? base : `${base.href}/`);
  url.search = search;
  if (DPOP) {
    return forwardWithDpop(req.method, url, headers, body, base);
  }
  headers.set("Authorization", `Bearer ${token.token}`);
  let upstream: Response;
  try {
    upstream = await fetch(url, {
      method: req.method,
      headers,
      body,
      cache: "no-store",
      // Never follow a redirect with the user's token attached.
      redirect: "manual",
      signal: AbortSignal.timeout(UPSTREAM_TIMEOUT_MS),
    });
  } catch (error) {
    console.error(`example_web: ${req.method} ${url.pathname} failed:`, error instanceof Error ? error.message : error);
    return answer(
      503,
      { error: "temporarily_unavailable", error_description: "The products API cannot be reached." },
      { "Retry-After": "5" },
    );
  }
  return relay(upstream, base);
}

/**
 * The DPoP path (EXAMPLE_WEB_DPOP=1): the SDK's fetcher signs a proof for this one call
 * (`htm`, `htu` = the API URL without query, `ath` = the token's hash, a fresh `jti`)
 * and sends `Authorization: DPoP <token>`. When the API answers 401 `use_dpop_nonce`
 * with a `DPoP-Nonce` header, the fetcher signs a new proof with that nonce and retries,
 * once. A fetcher keeps the nonces it learns for its own life only, and it is made per
 * request (it is bound to the session it was made for): with an API that requires
 * nonces, every call is answered 401 first, then retried.
 *
 * oauth4webapi (under the SDK) throws on ANY answer that carries `WWW-Authenticate`,
 * the API's 401 and 403 included: the answer is in the error, and relayed from there
 * exactly as the Bearer path relays it.
 */
async function forwardWithDpop(
  method: string,
  url: URL,
  headers: Headers,
  body: ArrayBuffer | undefined,
  base: URL,
): Promise<NextResponse> {
  if (url.protocol !== "https:" && !ALLOW_INSECURE_REQUESTS) {
    // The SDK's fetcher refuses plain HTTP unless the client allows insecure requests.
    console.error("example_web: EXAMPLE_WEB_DPOP=1 needs an https EXAMPLE_API_URL (or the local tenant setup)");
    return answer(500, { error: "server_error", error_description: "The app is misconfigured." });
  }
  let upstream: Response;
  try {
    const fetcher = await auth0.createFetcher(undefined, { fetch: upstreamFetch });
    upstream = await fetcher.fetchWithAuth(url.href, { method, headers, body });
  } catch (error) {
    const challenged = challengeResponse(error);
    if (challenged !== null) {
      return relay(challenged, base);
    }
    if (error instanceof AccessTokenError) {
      return tokenRefusal(error);
    }
    if (error instanceof Error && /nonce error persisted/i.test(error.message)) {
      console.error(`example_web: ${method} ${url.pathname}: the API refused the retried DPoP nonce too`);
      return answer(502, { error: "bad_gateway", error_description: "The products API refused the DPoP proof." });
    }
    console.error(`example_web: ${method} ${url.pathname} failed:`, error instanceof Error ? error.message : error);
    return answer(
      503,
      { error: "temporarily_unavailable", error_description: "The products API cannot be reached." },
      { "Retry-After": "5" },
    );
  }
  return relay(upstream, base);
}

/** The answer inside oauth4webapi's WWWAuthenticateChallengeError, or null. */
function challengeResponse(error: unknown): Response | null {
  if (error instanceof Error && (error as { code?: unknown }).code === "OAUTH_WWW_AUTHENTICATE_CHALLENGE") {
    const response = (error as { response?: unknown }).response;
    if (response instanceof Response) {
      return response;
    }
  }
  return null;
}

/**
 * The fetch the SDK's fetcher calls: the Bearer path's rules (no cache, no redirect
 * followed, a deadline). The fetcher hands over the body as a stream (it builds a
 * Request); it is this app's own capped copy, so it is read back into one buffer and
 * sent with a Content-Length, as the Bearer path sends it.
 */
async function upstreamFetch(input: string | URL | Request, init?: RequestInit): Promise<Response> {
  const { body, signal, ...rest } = (init ?? {}) as RequestInit & { duplex?: string };
  delete (rest as { duplex?: string }).duplex;
  const timeout = AbortSignal.timeout(UPSTREAM_TIMEOUT_MS);
  return fetch(input, {
    ...rest,
    body: body instanceof ReadableStream ? await new Response(body).arrayBuffer() : body,
    cache: "no-store",
    redirect: "manual",
    signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
  });
}

/** The API's answer as this app's: status, JSON body and the headers that matter. */
async function relay(upstream: Response, base: URL): Promise<NextResponse> {
  if (upstream.status >= 300 && upstream.status < 400 && upstream.status !== 304) {
    await upstream.body?.cancel();
    return answer(502, { error: "bad_gateway", error_description: "The products API answered with a redirect." });
  }
  const headers = new Headers({ "Cache-Control": "no-store" });
  const etag = upstream.headers.get("etag");
  if (etag !== null && ENTITY_TAG.test(etag)) {
    headers.set("ETag", etag);
  }
  const retryAfter = upstream.headers.get("retry-after");
  if (retryAfter !== null && DELAY_SECONDS.test(retryAfter)) {
    headers.set("Retry-After", retryAfter);
  }
  // The API's Location names its own path (/products/7); the browser knows this
  // app's (/api/products/7). Only a product path of the API itself is translated.
  const location = upstream.headers.get("location");
  if (location !== null) {
    try {
      const target = new URL(location, base);
      const match = API_ITEM_PATH.exec(target.pathname);
      if (target.origin === base.origin && match) {
        headers.set("Location", `/api/products/${match[1]}`);
      }
    } catch {
      // an unusable Location is dropped
    }
  }
  // The API's WWW-Authenticate challenge (RFC 6750 §3) is addressed to this server,
  // which holds the token; the browser authenticates with its cookie, so it is not
  // relayed. The JSON body says what went wrong.

  if (upstream.status === 204 || upstream.status === 304) {
    await upstream.body?.cancel();
    return new NextResponse(null, { status: upstream.status, headers });
  }
  const text = await upstream.text();
  let parsed: unknown;
  try {
    if (text.length > MAX_UPSTREAM_BYTES) {
      throw new Error("too large");
    }
    parsed = JSON.parse(text);
  } catch {
    return answer(502, { error: "bad_gateway", error_description: "The products API did not answer in JSON." });
  }
  return NextResponse.json(parsed, { status: upstream.status, headers });
}
