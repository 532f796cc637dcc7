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

export const auth0 = new Auth0Client({
  authorizationParameters: {
    audience: audience(),
    // offline_access: a refresh token, so the server can renew the access token
    // without sending the user through the login page again.
    scope: "openid profile email offline_access",
  },
  allowInsecureRequests: allowInsecureRequests(),
  // The SDK can serve the access token to the browser at /auth/access-token, for
  // apps that call APIs from client-side code. This app never does: the token stays
  // on the server (a "token-mediating backend", OAuth 2.0 for Browser-Based
  // Applications §6.2), so the route is switched off.
  enableAccessTokenEndpoint: false,
  // The SDK keeps only the standard ID token claims in the session; keep the roles
  // claim too, so that the page can show them.
  async beforeSessionSaved(session) {
    const roles = session.user[ROLES_CLAIM];
    return {
      ...session,
      user: { ...filterDefaultIdTokenClaims(session.user), [ROLES_CLAIM]: Array.isArray(roles) ? roles : [] },
    };
  },
});
