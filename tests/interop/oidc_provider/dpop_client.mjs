// A DPoP client (RFC 9449) made of an independent library, oauth4webapi, for
// claimguard's interop tests: everything DPoP on the wire (key pair, proofs, nonce
// handling, parsing the WWW-Authenticate challenges) is the library's, not ours.
//
//   node dpop_client.mjs '<JSON config>'
//
// Config: {
//   "issuer": "http://127.0.0.1:PORT/",       discovery (oidc-provider)
//   "api": "http://127.0.0.1:PORT",            example_api
//   "client_id": "dpop-client", "client_secret": "secret",
//   "resource": "https://products.example.com", "scope": "read:products",
//   "requests": [{"method": "GET", "path": "/products", "body": {...}?}, ...],
//   "replay": {"method": "GET", "path": "/products", "times": 3}?   (optional)
//   "timeout_ms": 10000?
// }
//
// 1. Generates an ES256 key pair (oauth.generateKeyPair) and a DPoP handle
//    (oauth.DPoP(client, keyPair)), then gets a DPoP-bound access token through
//    client_credentials with a proof (oauth.clientCredentialsGrantRequest with DPoP).
// 2. Calls the API for each request with oauth.protectedResourceRequest: scheme
//    "DPoP" and a fresh proof (new jti, htm, htu, ath) made by the library. Nonces are
//    the library's own: the DPoP handle caches each DPoP-Nonce answer header per origin
//    and puts it in the next proof; a 401 whose challenge the library parses as
//    error="use_dpop_nonce" rejects with a WWWAuthenticateChallengeError for which
//    oauth.isDPoPNonceError() is true, and the request is then retried once.
// 3. With "replay": makes one such request, then sends the exact same Authorization
//    and DPoP headers again "times" times, and reports those answers.
//
// Prints one JSON summary on stdout; exits 1 (with {"error": ...}) on anything else.
import http from "node:http";

import * as oauth from "oauth4webapi";

const config = JSON.parse(process.argv[2] ?? "{}");
const timeoutMs = config.timeout_ms ?? 10000;
const insecure = { [oauth.allowInsecureRequests]: true }; // loopback http only
const sent = []; // what the library put on the wire, request by request

// Records what the library sends (to report the proof's nonce and to replay a proof).
async function recordingFetch(url, init) {
  sent.push({ url, method: init.method, headers: { ...init.headers } });
  return fetch(url, init);
}

const options = {
  ...insecure,
  [oauth.customFetch]: recordingFetch,
  signal: () => AbortSignal.timeout(timeoutMs),
};

function decodePart(part) {
  return JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
}

function decodeJwt(jwt) {
  const [header, payload] = jwt.split(".");
  return { header: decodePart(header), payload: decodePart(payload) };
}

async function readBody(response) {
  const text = await response.text();
  try {
    return JSON.parse(text);
  } catch {
    return text || null;
  }
}

// One answer as the summary shows it. `error` is what the library rejected with.
async function describe(response, request, error) {
  const proof = request.headers.dpop ? decodeJwt(request.headers.dpop) : null;
  return {
    status: response.status,
    www_authenticate: response.headers.get("www-authenticate"),
    dpop_nonce: response.headers.get("dpop-nonce"),
    scheme: (request.headers.authorization ?? "").split(" ")[0] || null,
    nonce_used: proof?.payload.nonce ?? null,
    proof_htu: proof?.payload.htu ?? null,
    proof_jti: proof?.payload.jti ?? null,
    // The library's reading of the challenges: null when it raised none (no header, or
    // one it could not parse).
    challenges: error instanceof oauth.WWWAuthenticateChallengeError ? error.cause : null,
    use_dpop_nonce: oauth.isDPoPNonceError(error),
    body: await readBody(response),
  };
}

async function getToken(DPoP) {
  const issuer = new URL(config.issuer);
  const as = await oauth.processDiscoveryResponse(
    issuer,
    await oauth.discoveryRequest(issuer, { ...options, algorithm: "oidc" }),
  );
  const client = { client_id: config.client_id };
  const auth = oauth.ClientSecretPost(config.client_secret ?? "secret");
  const parameters = { resource: config.resource, scope: config.scope ?? "read:products" };
  const attempts = [];
  for (let attempt = 0; attempt < 2; attempt += 1) {
    const response = await oauth.clientCredentialsGrantRequest(as, client, auth, parameters, {
      ...options,
      DPoP,
    });
    const request = sent.at(-1);
    try {
      const result = await oauth.processClientCredentialsResponse(as, client, response);
      attempts.push({ status: response.status, nonce_used: decodeJwt(request.headers.dpop).payload.nonce ?? null });
      return { result, attempts };
    } catch (error) {
      attempts.push({ status: response.status, error: String(error), use_dpop_nonce: oauth.isDPoPNonceError(error) });
      if (!oauth.isDPoPNonceError(error)) throw Object.assign(error, { attempts });
    }
  }
  throw Object.assign(new Error("the token endpoint kept asking for a DPoP nonce"), { attempts });
}

// One API request, retried once when the library says a (new) nonce is needed.
async function call(DPoP, token, { method, path, body }) {
  const url = new URL(path, config.api);
  const headers = new Headers();
  let payload;
  if (body !== undefined) {
    headers.set("content-type", "application/json");
    payload = JSON.stringify(body);
  }
  const attempts = [];
  for (let attempt = 0; attempt < 2; attempt += 1) {
    let response;
    let error;
    try {
      response = await oauth.protectedResourceRequest(token, method, url, headers, payload, {
        ...options,
        DPoP,
      });
    } catch (rejected) {
      if (!(rejected instanceof oauth.WWWAuthenticateChallengeError)) throw rejected;
      error = rejected;
      response = rejected.response;
    }
    attempts.push(await describe(response, sent.at(-1), error));
    if (!oauth.isDPoPNonceError(error)) break;
  }
  return { method, path, status: attempts.at(-1).status, retried: attempts.length > 1, attempts };
}

// Sends a recorded request again, byte for byte the same headers, on a new connection
// (so that with several API workers the copies are not all answered by one of them).
function resend(request) {
  return new Promise((resolve, reject) => {
    const outgoing = http.request(
      request.url,
      {
        method: request.method,
        headers: { ...request.headers, connection: "close" },
        agent: false,
        timeout: timeoutMs,
      },
      (incoming) => {
        const chunks = [];
        incoming.on("data", (chunk) => chunks.push(chunk));
        incoming.on("end", () => {
          const headers = new Headers();
          for (const [name, value] of Object.entries(incoming.headers)) {
            for (const item of [value].flat()) headers.append(name, item);
          }
          resolve(new Response(Buffer.concat(chunks), { status: incoming.statusCode, headers }));
        });
        incoming.on("error", reject);
      },
    );
    outgoing.on("timeout", () => outgoing.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    outgoing.on("error", reject);
    outgoing.end();
  });
}

async function replay(DPoP, token, { method, path, times = 1 }) {
  const original = await call(DPoP, token, { method, path });
  const request = sent.at(-1); // the proof of the last (accepted) attempt
  const replays = [];
  for (let i = 0; i < times; i += 1) {
    // Through protectedResourceRequest for the library's reading of the answer's
    // challenge; its fetch is replaced by the resend, so no new proof is made.
    let response;
    let error;
    try {
      response = await oauth.protectedResourceRequest(token, method, new URL(request.url), undefined, undefined, {
        ...insecure,
        [oauth.customFetch]: () => resend(request),
      });
    } catch (rejected) {
      if (!(rejected instanceof oauth.WWWAuthenticateChallengeError)) throw rejected;
      error = rejected;
      response = rejected.response;
    }
    replays.push(await describe(response, request, error));
  }
  const { authorization, dpop } = request.headers;
  return { original, replays, request: { url: request.url, method: request.method, authorization, dpop } };
}

async function main() {
  const keyPair = await oauth.generateKeyPair("ES256");
  const DPoP = oauth.DPoP({}, keyPair);
  const { result, attempts } = await getToken(DPoP);
  const token = result.access_token;
  const summary = {
    library: "oauth4webapi",
    token: {
      token_type: result.token_type,
      access_token: token,
      claims: decodeJwt(token).payload,
      header: decodeJwt(token).header,
      key_thumbprint: await DPoP.calculateThumbprint(),
      attempts,
    },
    requests: [],
    replay: null,
  };
  for (const request of config.requests ?? []) summary.requests.push(await call(DPoP, token, request));
  if (config.replay) summary.replay = await replay(DPoP, token, config.replay);
  process.stdout.write(`${JSON.stringify(summary)}\n`);
}

main().catch((error) => {
  process.stdout.write(`${JSON.stringify({ error: String(error?.stack ?? error), attempts: error?.attempts ?? null })}\n`);
  process.exit(1);
});
