// The Auth0 client: one instance for the whole server (middleware, pages, route handlers).
//
// Everything comes from the environment, the SDK's own names first:
//   AUTH0_DOMAIN         tenant domain ("my-tenant.us.auth0.com"), or a URL for the
//                        local tenant ("http://localhost:4000", scheme and port kept)
//   AUTH0_CLIENT_ID, AUTH0_CLIENT_SECRET   the Regular Web Application's credentials
//   AUTH0_SECRET         32 bytes, hex: encrypts the session cookie (openssl rand -hex 32)
//   APP_BASE_URL         where this app is served ("http://127.0.0.1:3000")
// and two of this example's:
//   AUTH0_AUDIENCE       the API identifier ("https://products.example.com"): REQUIRED.
//                        Without an audience Auth0 issues an opaque access token that no
//                        API can verify (claimguard refuses it and logs why).
//   AUTH0_ALLOW_INSECURE_REQUESTS=1   development only: lets the SDK talk plain HTTP to a
//                        tenant on http://localhost (the local stand-in). Refused for any
//                        other domain; the SDK itself also warns when NODE_ENV=production.
//
// The DPoP switch (RFC 9449, sender-constrained tokens), off unless set:
//   EXAMPLE_WEB_DPOP=1   the SDK binds the user's tokens to this server's key pair
//                        (`useDPoP`: a DPoP proof with the code exchange and every
//                        refresh, so the tenant puts `cnf.jkt` in the access token) and
//                        lib/upstream.ts calls the API through the SDK's fetcher
//                        (auth0.createFetcher(...).fetchWithAuth): `Authorization: DPoP`
//                        and a fresh proof per call, one retry on `use_dpop_nonce`. A
//                        stolen token is then useless without the private key.
//   AUTH0_DPOP_PUBLIC_KEY, AUTH0_DPOP_PRIVATE_KEY   REQUIRED with the switch (the SDK's
//                        own names): the ES256 (P-256) key pair, PEM (SPKI and PKCS #8):
//                        openssl ecparam -name prime256v1 -genkey -noout -out dpop.pem
//                        openssl pkcs8 -topk8 -nocrypt -in dpop.pem    (private key)
//                        openssl ec -in dpop.pem -pubout                (public key)
//                        Every instance of the app (and the middleware, which makes the
//                        code exchange) must sign with the same pair: the tokens in the
//                        session are bound to it. Loaded here with Web Crypto, which the
//                        middleware's Edge runtime has (the SDK's own loader needs Node).
// Without the switch nothing of the above is read: `Authorization: Bearer`, as before.
import { Auth0Client, filterDefaultIdTokenClaims } from "@auth0/nextjs-auth0/server";

/**
 * The namespaced claim the Post-Login Action (auth0/post-login-action.js) sets, on
 * the access token for the API (claimguard's CLAIMGUARD_ROLES_CLAIM) and on the ID
 * token for this app. Here it is only ever DISPLAYED: the API decides.
 */
export const ROLES_CLAIM = "https://my-app.example.com/roles";

// `next build` evaluates this module to collect page data, without the runtime
// environment: only check the configuration when the server really runs.
const BUILDING = process.env.NEXT_PHASE === "phase-production-build";

function audience(): string | undefined {
  const value = process.env.AUTH0_AUDIENCE?.trim();
  if (!value && !BUILDING) {
    // Fail closed: better no server than one whose tokens every API refuses.
    throw new Error("AUTH0_AUDIENCE must be set to the API identifier (e.g. https://products.example.com)");
  }
  return value || undefined;
}

function allowInsecureRequests(): boolean {
  const flag = process.env.AUTH0_ALLOW_INSECURE_REQUESTS?.trim() ?? "";
  if (flag === "" || flag === "0") {
    return false;
  }
  if (flag !== "1") {
    throw new Error("AUTH0_ALLOW_INSECURE_REQUESTS must be 1 or unset");
  }
  let host = "";
  try {
    host = new URL(process.env.AUTH0_DOMAIN ?? "").hostname;
  } catch {
    // not a URL: a bare Auth0 domain, which is never allowed plain HTTP
  }
  if (host !== "localhost") {
    throw new Error("AUTH0_ALLOW_INSECURE_REQUESTS=1 is only for a tenant at http://localhost:PORT");
  }
  return true;
}

/** The SDK's DpopKeyPair (not exported by name): an ES256 private and public CryptoKey. */
type DpopKeyPair = NonNullable<NonNullable<ConstructorParameters<typeof Auth0Client>[0]>["dpopKeyPair"]>;

/** Whether EXAMPLE_WEB_DPOP=1: DPoP-bound tokens and `Authorization: DPoP` calls. */
function dpopSwitch(): boolean {
  const flag = process.env.EXAMPLE_WEB_DPOP?.trim() ?? "";
  if (flag === "" || flag === "0") {
    return false;
  }
  if (flag !== "1") {
    throw new Error("EXAMPLE_WEB_DPOP must be 1, 0 or unset");
  }
  return true;
}

/** The DER bytes of a PEM block labelled `label`, or null. */
function pemBytes(pem: string | undefined, label: string): Uint8Array<ArrayBuffer> | null {
  const match = new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]+)-----END ${label}-----`).exec(
    (pem ?? "").replace(/\\n/g, "\n"),
  );
  if (!match) {
    return null;
  }
  const binary = atob((match[1] ?? "").replace(/\s+/g, ""));
  const bytes = new Uint8Array(binary.length);
  for (let index = 0; index < binary.length; index++) {
    bytes[index] = binary.charCodeAt(index);
  }
  return bytes;
}

/**
 * The DPoP key pair from AUTH0_DPOP_PUBLIC_KEY / AUTH0_DPOP_PRIVATE_KEY. Fails closed:
 * a missing, malformed, non-P-256 or mismatched pair stops the server, rather than
 * letting the SDK fall back to Bearer tokens in silence.
 */
async function dpopKeyPair(): Promise<DpopKeyPair> {
  const spki = pemBytes(process.env.AUTH0_DPOP_PUBLIC_KEY, "PUBLIC KEY");
  const pkcs8 = pemBytes(process.env.AUTH0_DPOP_PRIVATE_KEY, "PRIVATE KEY");
  if (spki === null || pkcs8 === null) {
    throw new Error(
      "EXAMPLE_WEB_DPOP=1 needs AUTH0_DPOP_PUBLIC_KEY and AUTH0_DPOP_PRIVATE_KEY: an ES256 key pair, PEM (SPKI, PKCS #8)",
    );
  }
  const algorithm = { name: "ECDSA", namedCurve: "P-256" };
  const signing = { name: "ECDSA", hash: "SHA-256" };
  try {
    // The public key must be extractable: it goes into every proof's `jwk` header.
    const publicKey = await crypto.subtle.importKey("spki", spki, algorithm, true, ["verify"]);
    const privateKey = await crypto.subtle.importKey("pkcs8", pkcs8, algorithm, false, ["sign"]);
    const probe = new TextEncoder().encode("claimguard-example-web dpop key check");
    const signature = await crypto.subtle.sign(signing, privateKey, probe);
    if (!(await crypto.subtle.verify(signing, publicKey, signature, probe))) {
      throw new Error("the public key is not the private key's");
    }
    return { privateKey, publicKey };
  } catch (error) {
    throw new Error(
      `AUTH0_DPOP_PUBLIC_KEY / AUTH0_DPOP_PRIVATE_KEY are not an ES256 (P-256) key pair: ${error instanceof Error ? error.message : error}`,
    );
  }
}

/** EXAMPLE_WEB_DPOP=1: the Auth0 client binds tokens with DPoP, the API calls use them. */
export const DPOP = !BUILDING && dpopSwitch();

/** AUTH0_ALLOW_INSECURE_REQUESTS=1 (the local tenant): plain HTTP allowed. */
export const ALLOW_INSECURE_REQUESTS = allowInsecureRequests();

export const auth0 = new Auth0Client({
  ...(DPOP ? { useDPoP: true, dpopKeyPair: await dpopKeyPair() } : {}),
  authorizationParameters: {
    audience: audience(),
    // offline_access: a refresh token, so the server can renew the access token
    // without sending the user through the login page again.
    scope: "openid profile email offline_access",
  },
  allowInsecureRequests: ALLOW_INSECURE_REQUESTS,
  // The SDK can serve the access token to the browser at /auth/access-token, for
  // apps that call APIs from client-side code. This app never does: the token stays
  // on the server (a "token-mediating backend", OAuth 2.0 for Browser-Based
  // Applications §6.2), so the route is switched off.
  enableAccessTokenEndpoint: false,
  // The SDK keeps only the standard ID token claims in the session; keep the roles
  // claim too, so that the page can show them.
  //
  // With DPoP, also record the token's type where the SDK forgot it: 4.30.0 saves no
  // `token_type` from the code exchange (only from a refresh), and its fetcher then
  // sends the freshly bound token as `Authorization: Bearer` without a proof, which a
  // DPoP API refuses (RFC 9449 §7.2). The exchange was made with a proof, so the
  // token is a DPoP token; were it not bound after all, the API refuses it as unbound.
  async beforeSessionSaved(session) {
    const roles = session.user[ROLES_CLAIM];
    return {
      ...session,
      user: { ...filterDefaultIdTokenClaims(session.user), [ROLES_CLAIM]: Array.isArray(roles) ? roles : [] },
      ...(DPOP && !session.tokenSet.token_type ? { tokenSet: { ...session.tokenSet, token_type: "DPoP" } } : {}),
    };
  },
});
