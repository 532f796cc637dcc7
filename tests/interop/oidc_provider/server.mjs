// A real OpenID provider (oidc-provider) for claimguard's interop tests, on 127.0.0.1.
//
// Environment: PORT (0 = any free port), ISSUER_SUFFIX ("/" or ""), AUDIENCE,
// ROLES_CLAIM. The Python test configures keys and the signing algorithm through
// POST /__test__/configure {"jwks": {"keys": [private JWKs]}, "alg": "RS256", "kid": "…"}:
// oidc-provider fixes its keys when a Provider is built, so each call builds a new
// Provider behind the same HTTP server (this is how rotation is simulated).
// Clients: viewer-client, editor-client, admin-client, nobody-client (secret "secret"),
// each granted the role in its name through the namespaced roles claim.
// DPoP (RFC 9449): features.dPoP is on, so any client may send a proof to the token
// endpoint; dpop-client (role editor) is registered with dpop_bound_access_tokens, so
// oidc-provider refuses it a token without a proof and binds every token it issues to
// the proof's key (token_type "DPoP", cnf.jkt in the JWT access token).
import http from "node:http";
import Provider from "oidc-provider";

const port = Number(process.env.PORT || 0);
const suffix = process.env.ISSUER_SUFFIX ?? "/";
const audience = process.env.AUDIENCE || "https://products.example.com";
const rolesClaim = process.env.ROLES_CLAIM || "https://my-app.example.com/roles";
const ROLES = { "viewer-client": ["viewer"], "editor-client": ["editor"], "admin-client": ["admin"], "nobody-client": [] };
// The DPoP-only client: a token request without a proof is refused (400 invalid_grant).
const DPOP_CLIENTS = { "dpop-client": ["editor"] };
const ALL_ROLES = { ...ROLES, ...DPOP_CLIENTS };

let issuer;
let provider;

function build({ jwks, alg, kid }) {
  // Sign with the key named by kid: put it first among the keys of its algorithm.
  const keys = [...jwks.keys].sort((a, b) => (a.kid === kid ? -1 : b.kid === kid ? 1 : 0));
  const next = new Provider(issuer, {
    clients: Object.keys(ALL_ROLES).map((client_id) => ({
      client_id,
      client_secret: "secret",
      grant_types: ["client_credentials"],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: "client_secret_post",
      id_token_signed_response_alg: alg,
      ...(client_id in DPOP_CLIENTS ? { dpop_bound_access_tokens: true } : {}),
    })),
    jwks: { keys },
    cookies: { keys: ["claimguard-interop-cookie-key"] },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      // On by default in oidc-provider 9, said here because the DPoP tests rely on it.
      // No nonceSecret: the token endpoint asks for no nonce (requireNonce() is false).
      dPoP: { enabled: true },
      introspection: { enabled: false },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => audience,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({
          scope: "read:products",
          audience,
          accessTokenTTL: 600,
          accessTokenFormat: "jwt",
          jwt: { sign: { alg } },
        }),
      },
    },
    extraTokenClaims: async (ctx, token) => ({ [rolesClaim]: ALL_ROLES[token.clientId] ?? [] }),
  });
  next.proxy = false;
  return next;
}

async function readJson(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

const server = http.createServer(async (req, res) => {
  if (req.method === "POST" && req.url === "/__test__/configure") {
    try {
      provider = build(await readJson(req));
      res.writeHead(204).end();
    } catch (error) {
      res.writeHead(400, { "Content-Type": "text/plain" }).end(String(error));
    }
    return;
  }
  if (!provider) {
    res.writeHead(503).end();
    return;
  }
  provider.callback()(req, res);
});

server.listen(port, "127.0.0.1", () => {
  issuer = `http://127.0.0.1:${server.address().port}${suffix}`;
  process.stdout.write(`READY ${issuer}\n`);
});

for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => server.close(() => process.exit(0)));
