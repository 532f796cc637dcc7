// A local stand-in for an Auth0 tenant: DEVELOPMENT AND TESTS ONLY.
//
// Plain HTTP on loopback, signing keys made at start-up and kept in memory, demo
// passwords in users.json. It exists so that `make demo-web` and the browser tests
// run the real calling side (@auth0/nextjs-auth0 in a Next.js app) against a real
// OpenID provider (the `oidc-provider` package) without any network, and it is
// shaped like the parts of an Auth0 tenant that the SDK and the API depend on:
//
// - issuer "http://localhost:PORT/", with the trailing slash Auth0's issuers have,
//   and OpenID Connect discovery (OpenID Connect Discovery 1.0 §4) under it;
// - the authorization code flow with PKCE (RFC 7636) for one confidential client
//   that authenticates with client_secret_post (RFC 6749 §2.3.1);
// - Auth0's `audience` authorization parameter: Auth0's name for what RFC 8707
//   calls `resource`. With it the access token is a JWT for that API; without it the
//   token is opaque (usable only at userinfo), exactly as Auth0 does, which is the
//   classic "invalid token" mistake the API then logs;
// - access tokens as Auth0 writes them by default: RS256, header `typ: "JWT"`,
//   `aud` = [API identifier, issuer + "userinfo"], `azp` = the client;
// - custom claims produced by RUNNING ../auth0/post-login-action.js with an `event`
//   and an `api` shaped like Auth0's (event.user, event.authorization.roles,
//   api.accessToken.setCustomClaim, api.idToken.setCustomClaim, api.access.deny);
// - no consent screen (Auth0 skips it for first-party applications), a login form of
//   its own, refresh tokens for `offline_access`, and RP-initiated logout (OpenID
//   Connect RP-Initiated Logout 1.0) without a confirmation page;
// - DPoP (RFC 9449) at the token endpoint, as Auth0 offers it: a token request that
//   carries a valid `DPoP` proof gets a sender-constrained token (token_type "DPoP",
//   and `cnf: {jkt: <the proof key's RFC 7638 thumbprint>}` in the JWT access token);
//   one without a proof gets a Bearer token exactly as before. `dpop_jkt` at the
//   authorization endpoint (the SDK sends it) binds the code to that key too.
//
// Environment (all required unless a default is given):
//   TENANT_PORT          port to listen on, on 127.0.0.1 (and on ::1 when it exists)
//   APP_BASE_URL         the web app's URL: its callback is APP_BASE_URL/auth/callback
//   AUTH0_CLIENT_ID      the web app's client id
//   AUTH0_CLIENT_SECRET  the web app's client secret
//   AUTH0_AUDIENCE       the API identifier access tokens are issued for
//   ACCESS_TOKEN_TTL     access token lifetime in seconds (default 3600)
//
// Nothing here loads anything from outside the machine: every page is inline HTML
// without remote fonts, styles or scripts (oidc-provider's built-in pages import a
// web font, so each of them is replaced below).
import { createHash, generateKeyPairSync, randomBytes, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import http from "node:http";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

import Provider, { errors } from "oidc-provider";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ACTION_FILE = path.join(HERE, "..", "auth0", "post-login-action.js");
const USERS_FILE = path.join(HERE, "users.json");
const MAX_FORM_BYTES = 4096;

function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`tenant: ${name} must be set`);
    process.exit(2);
  }
  return value;
}

const port = Number(required("TENANT_PORT"));
const appBaseUrl = required("APP_BASE_URL").replace(/\/+$/, "");
const clientId = required("AUTH0_CLIENT_ID");
const clientSecret = required("AUTH0_CLIENT_SECRET");
const audience = required("AUTH0_AUDIENCE");
const accessTokenTTL = Number(process.env.ACCESS_TOKEN_TTL || 3600);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error("tenant: TENANT_PORT must be a port number");
  process.exit(2);
}
const issuer = `http://localhost:${port}/`;

// ---------------------------------------------------------------------------------
// Users: username -> { password, roles, name, email }. Auth0 user ids look like
// "auth0|<id>" for its own database connection; the same shape here.
const USERS = JSON.parse(readFileSync(USERS_FILE, "utf8"));
const BY_SUB = new Map(
  Object.entries(USERS).map(([username, user]) => [`auth0|demo-${username}`, { username, ...user }]),
);
const subOf = (username) => `auth0|demo-${username}`;

function digest(text) {
  return createHash("sha256").update(String(text), "utf8").digest();
}

// A constant-time comparison of equal-length digests: how long a wrong password
// takes to refuse says nothing about how much of it was right.
function checkPassword(username, password) {
  const user = Object.hasOwn(USERS, username) ? USERS[username] : undefined;
  const expected = digest(user ? user.password : "no such user: compare anyway");
  const ok = timingSafeEqual(expected, digest(password));
  return user && ok ? subOf(username) : undefined;
}

// ---------------------------------------------------------------------------------
// The Post-Login Action, run as Auth0 runs it. The file is CommonJS
// (`exports.onExecutePostLogin = ...`), as the Auth0 editor expects.
const action = createRequire(import.meta.url)(ACTION_FILE);
if (typeof action.onExecutePostLogin !== "function") {
  console.error(`tenant: ${ACTION_FILE} does not export onExecutePostLogin`);
  process.exit(2);
}

// Claims an Action may not set: Auth0 ignores them (registered JWT claims, OpenID
// Connect's own, and Auth0's). Refusing them here keeps the local tenant from
// accepting an Action that the real one would quietly cripple.
const RESERVED_CLAIMS = new Set([
  "iss", "sub", "aud", "exp", "nbf", "iat", "jti", "azp", "scope", "scp", "permissions",
  "gty", "client_id", "cnf", "act", "may_act", "auth_time", "nonce", "acr", "amr",
  "at_hash", "c_hash", "sid", "org_id", "org_name",
]);

function claimSetter(target, which) {
  return {
    setCustomClaim(name, value) {
      if (typeof name !== "string" || !name || RESERVED_CLAIMS.has(name)) {
        console.warn(`tenant: the Action's ${which}.setCustomClaim(${JSON.stringify(name)}) is ignored, as Auth0 would`);
        return this;
      }
      if (/^https?:\/\/([^/]*\.)?auth0\.com(\/|$)/i.test(name)) {
        console.warn(`tenant: claim names under auth0.com are Auth0's own: ${name} is ignored`);
        return this;
      }
      target[name] = JSON.parse(JSON.stringify(value ?? null));
      return this;
    },
  };
}

async function runPostLoginAction(user, { protocol, resource }) {
  const accessToken = {};
  const idToken = {};
  let denied;
  const event = {
    user: {
      user_id: subOf(user.username),
      username: user.username,
      email: user.email,
      email_verified: true,
      name: user.name,
      nickname: user.username,
      app_metadata: {},
      user_metadata: {},
    },
    authorization: { roles: [...user.roles] },
    client: { client_id: clientId, name: "claimguard example web" },
    connection: { name: "Username-Password-Authentication", strategy: "auth0" },
    resource_server: resource ? { identifier: resource } : undefined,
    tenant: { id: "local" },
    transaction: { protocol },
    request: { ip: "127.0.0.1", hostname: new URL(issuer).host },
    secrets: {},
  };
  const api = {
    accessToken: claimSetter(accessToken, "api.accessToken"),
    idToken: claimSetter(idToken, "api.idToken"),
    access: {
      deny(reason) {
        denied = String(reason ?? "access denied");
        return this;
      },
    },
  };
  await action.onExecutePostLogin(event, api);
  return { accessToken, idToken, denied };
}

// oidc-provider releases to the ID token only the claims its `claims` setting lists
// for the granted scopes, whereas Auth0 releases every claim an Action sets. Run the
// Action once now to learn the names it puts on the ID token, and list them under
// `openid`, the scope every sign-in has.
const probe = await runPostLoginAction(
  { username: "probe", roles: ["probe"], name: "probe", email: "probe@example.com" },
  { protocol: "oidc-basic-profile", resource: audience },
);
const ID_TOKEN_CUSTOM_CLAIMS = Object.keys(probe.idToken);

// ---------------------------------------------------------------------------------
// Pages. Every value that reaches HTML goes through escapeHtml.
function escapeHtml(value) {
  return String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const STYLE = `
  body { font-family: system-ui, sans-serif; background: #f4f5f7; margin: 0; }
  main { max-width: 22rem; margin: 4rem auto; background: #fff; padding: 2rem;
         border-radius: 8px; box-shadow: 0 1px 4px rgba(0,0,0,.15); }
  h1 { font-size: 1.3rem; margin-top: 0; } label { display: block; margin: .8rem 0 .2rem; }
  input { width: 100%; box-sizing: border-box; padding: .5rem; font-size: 1rem; }
  button { margin-top: 1.2rem; width: 100%; padding: .6rem; font-size: 1rem;
           background: #3b5bdb; color: #fff; border: 0; border-radius: 4px; cursor: pointer; }
  .error { color: #c92a2a; } .note { color: #666; font-size: .85rem; }`;

function page(title, body) {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body><main>${body}</main></body></html>`;
}

function loginPage(uid, { username = "", error } = {}) {
  return page(
    "Sign in — local tenant",
    `<h1>Sign in to the local tenant</h1>
<p class="note">Development stand-in for Auth0. The demo users and their passwords are
printed by <code>make demo-web</code>.</p>
${error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : ""}
<form method="post" action="/interaction/${escapeHtml(uid)}/login">
  <label for="username">Username</label>
  <input id="username" name="username" value="${escapeHtml(username)}" autocomplete="username" required autofocus>
  <label for="password">Password</label>
  <input id="password" name="password" type="password" autocomplete="current-password" required>
  <button type="submit">Continue</button>
</form>`,
  );
}

function send(res, status, html, headers = {}) {
  res.writeHead(status, {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    // No form-action: the login form's redirect chain ends at the app's callback, and
    // Chromium checks form-action against every hop of it.
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    ...headers,
  });
  res.end(html);
}

async function readForm(req) {
  const type = (req.headers["content-type"] || "").split(";")[0].trim().toLowerCase();
  if (type !== "application/x-www-form-urlencoded") return undefined;
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_FORM_BYTES) return undefined;
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
}

// ---------------------------------------------------------------------------------
// The provider.
const signingKey = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
const jwk = { ...signingKey.export({ format: "jwk" }), kid: randomBytes(8).toString("hex"), use: "sig", alg: "RS256" };

// Auth0 skips the consent screen for first-party applications: grant what was asked.
async function loadExistingGrant(ctx) {
  const { oidc } = ctx;
  const grantId = oidc.result?.consent?.grantId || oidc.session.grantIdFor(oidc.client.clientId);
  let grant = grantId ? await oidc.provider.Grant.find(grantId) : undefined;
  if (!grant) {
    grant = new oidc.provider.Grant({ clientId: oidc.client.clientId, accountId: oidc.session.accountId });
  }
  grant.addOIDCScope([...oidc.requestParamOIDCScopes].join(" "));
  for (const [identifier, server] of Object.entries(oidc.resourceServers || {})) {
    grant.addResourceScope(identifier, server.scope || "");
  }
  await grant.save();
  return grant;
}

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      client_name: "claimguard example web",
      redirect_uris: [`${appBaseUrl}/auth/callback`],
      post_logout_redirect_uris: [appBaseUrl, `${appBaseUrl}/`],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "client_secret_post",
      id_token_signed_response_alg: "RS256",
    },
  ],
  jwks: { keys: [jwk] },
  cookies: { keys: [randomBytes(32).toString("hex")] },
  scopes: ["openid", "profile", "email", "offline_access"],
  claims: {
    openid: ["sub", ...ID_TOKEN_CUSTOM_CLAIMS],
    profile: ["name", "nickname", "updated_at"],
    email: ["email", "email_verified"],
  },
  // `audience` is recognised at the authorization endpoint (Auth0's parameter).
  extraParams: ["audience"],
  async findAccount(ctx, sub) {
    const user = BY_SUB.get(sub);
    if (!user) return undefined;
    return {
      accountId: sub,
      async claims() {
        const { idToken } = await runPostLoginAction(user, { protocol: "oidc-basic-profile", resource: audience });
        return {
          sub,
          name: user.name,
          nickname: user.username,
          email: user.email,
          email_verified: true,
          updated_at: 0,
          ...idToken,
        };
      },
    };
  },
  // The Action's api.accessToken.setCustomClaim calls become the access token's claims.
  async extraTokenClaims(ctx, token) {
    if (token.kind !== "AccessToken" || !token.accountId) return undefined;
    const user = BY_SUB.get(token.accountId);
    if (!user) return undefined;
    const protocol = ctx?.oidc?.params?.grant_type === "refresh_token" ? "oauth2-refresh-token" : "oidc-basic-profile";
    const { accessToken } = await runPostLoginAction(user, { protocol, resource: audience });
    return accessToken;
  },
  loadExistingGrant,
  // oidc-provider (following OpenID Connect Core §11) drops `offline_access` unless
  // the user saw a consent prompt; Auth0 keeps it for an API that allows offline
  // access. Issue a refresh token whenever the client may use the grant.
  async issueRefreshToken(ctx, client) {
    return client.grantTypeAllowed("refresh_token");
  },
  // Refresh tokens outlive the tenant's login session, as Auth0's do.
  async expiresWithSession() {
    return false;
  },
  ttl: {
    AccessToken: accessTokenTTL,
    IdToken: 3600,
    RefreshToken: 24 * 3600,
    Session: 8 * 3600,
    Grant: 24 * 3600,
    Interaction: 600,
    AuthorizationCode: 60,
  },
  pkce: { required: () => true },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  features: {
    devInteractions: { enabled: false },
    introspection: { enabled: false },
    revocation: { enabled: true },
    // Sender-constrained tokens when the client proves a key (see the header). No
    // server nonce here (Auth0's token endpoint does not demand one either); replayed
    // proofs are refused (oidc-provider remembers each proof's jti).
    dPoP: { enabled: true, allowReplay: false },
    resourceIndicators: {
      enabled: true,
      // The resource comes from `audience` at the authorization endpoint; no audience,
      // no resource: an opaque token for userinfo only (Auth0's behaviour).
      defaultResource(ctx, client, oneOf) {
        if (oneOf) return oneOf;
        return ctx.oidc.params?.audience || undefined;
      },
      // The token endpoint gets no `audience`: use the one the code or refresh token
      // was granted for. Without this the access token would be opaque.
      useGrantedResource: () => true,
      getResourceServerInfo(ctx, resource) {
        if (resource !== audience) {
          throw new errors.InvalidTarget("unknown audience");
        }
        return {
          scope: "",
          audience,
          accessTokenTTL,
          accessTokenFormat: "jwt",
          jwt: { sign: { alg: "RS256" } },
        };
      },
    },
    rpInitiatedLogout: {
      enabled: true,
      // Auth0 logs out without asking: submit oidc-provider's confirmation form at once.
      async logoutSource(ctx, form) {
        ctx.type = "html";
        ctx.body = page(
          "Signing out",
          `${form}<p>Signing out…</p>
<button type="submit" form="op.logoutForm" name="logout" value="yes" id="logout">Sign out</button>
<script>document.getElementById("logout").click();</script>`,
        );
        // This one page runs an inline script; it is fixed text, no request data.
        ctx.set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'");
      },
      async postLogoutSuccessSource(ctx) {
        ctx.type = "html";
        ctx.body = page("Signed out", "<h1>Signed out</h1><p>You can close this window.</p>");
      },
    },
  },
  formats: {
    customizers: {
      // Auth0's default access token profile rather than RFC 9068's.
      async jwt(ctx, token, jwt) {
        jwt.header = { typ: "JWT" };
        if (token.accountId) {
          jwt.payload.aud = [audience, `${issuer}userinfo`];
        }
        jwt.payload.azp = token.clientId;
        delete jwt.payload.client_id;
      },
    },
  },
  async renderError(ctx, out) {
    ctx.type = "html";
    ctx.body = page(
      "Error",
      `<h1>Sign-in error</h1><p class="error">${escapeHtml(out.error)}</p><p>${escapeHtml(out.error_description || "")}</p>`,
    );
  },
});
provider.proxy = false;
provider.on("server_error", (ctx, error) => console.error("tenant: server_error", error));

// ---------------------------------------------------------------------------------
// The login interaction (oidc-provider hands it over at /interaction/:uid).
async function interaction(req, res, uid, action) {
  let details;
  try {
    details = await provider.interactionDetails(req, res);
  } catch {
    send(res, 400, page("Expired", "<h1>This sign-in has expired</h1><p>Go back to the application and sign in again.</p>"));
    return;
  }
  if (details.uid !== uid) {
    send(res, 400, page("Error", "<h1>Unknown sign-in</h1>"));
    return;
  }
  const prompt = details.prompt.name;
  if (prompt === "consent") {
    // Only reached if loadExistingGrant did not cover the request: grant it too.
    const grant = new provider.Grant({ clientId: details.params.client_id, accountId: details.session.accountId });
    if (details.params.scope) grant.addOIDCScope(details.params.scope);
    if (details.params.audience) grant.addResourceScope(details.params.audience, "");
    await provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: true });
    return;
  }
  if (prompt !== "login") {
    send(res, 400, page("Error", "<h1>Unsupported prompt</h1>"));
    return;
  }
  if (req.method === "GET" && action === undefined) {
    send(res, 200, loginPage(uid));
    return;
  }
  if (req.method !== "POST" || action !== "login") {
    send(res, 405, page("Error", "<h1>Method not allowed</h1>"), { Allow: "GET" });
    return;
  }
  const form = await readForm(req);
  const username = form?.get("username") ?? "";
  const sub = form ? checkPassword(username, form.get("password") ?? "") : undefined;
  if (!sub) {
    send(res, 401, loginPage(uid, { username: username.slice(0, 64), error: "Wrong username or password." }));
    return;
  }
  const { denied } = await runPostLoginAction(BY_SUB.get(sub), { protocol: "oidc-basic-profile", resource: details.params.audience });
  if (denied) {
    // What Auth0 does on api.access.deny(): the app gets error=access_denied.
    await provider.interactionFinished(req, res, { error: "access_denied", error_description: denied }, { mergeWithLastSubmission: false });
    return;
  }
  await provider.interactionFinished(req, res, { login: { accountId: sub } }, { mergeWithLastSubmission: false });
}

const INTERACTION = /^\/interaction\/([A-Za-z0-9_-]{1,64})(?:\/(login))?$/;
const callback = provider.callback();

async function handle(req, res) {
  const url = new URL(req.url, issuer);
  const match = INTERACTION.exec(url.pathname);
  if (match) {
    try {
      await interaction(req, res, match[1], match[2]);
    } catch (error) {
      console.error("tenant: interaction failed", error);
      if (!res.headersSent) send(res, 500, page("Error", "<h1>Sign-in failed</h1>"));
    }
    return;
  }
  callback(req, res);
}

const servers = [];
function listen(host) {
  return new Promise((resolve, reject) => {
    const server = http.createServer(handle);
    server.once("error", reject);
    server.listen(port, host, () => {
      servers.push(server);
      resolve();
    });
  });
}

// `localhost` may resolve to 127.0.0.1 or ::1 depending on the machine: listen on
// both loopback addresses (::1 only where IPv6 exists), never on anything else.
await listen("127.0.0.1");
await listen("::1").catch(() => {});
console.log(`tenant: READY ${issuer} (audience ${audience}, access tokens ${accessTokenTTL}s)`);
console.log(`tenant: ID token claims from the Action: ${ID_TOKEN_CUSTOM_CLAIMS.join(", ") || "(none)"}`);

function stop() {
  for (const server of servers) {
    server.close();
    server.closeAllConnections();
  }
  setTimeout(() => process.exit(0), 200);
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
