// /api/products[/...]: the browser's way to the products API.
//
// The handler runs on the server. It takes the user's access token from the session
// (auth0.getAccessToken(), refreshing it when it has expired), forwards the call to
// example_api (EXAMPLE_API_URL) as `Authorization: Bearer <token>` (with
// EXAMPLE_WEB_DPOP=1: `Authorization: DPoP <token>` and a DPoP proof made for this call
// by the SDK's fetcher, see lib/upstream.ts) and relays the API's status, JSON body,
// ETag, Location and Retry-After. A 403 stays a 403: the page tells the user their
// role cannot do this.
import type { NextRequest } from "next/server";

import { answer, forwardToApi, refusePath } from "@/lib/upstream";

type Context = { params: Promise<{ path?: string[] }> };

// Every call is per user: never cached, never prerendered.
export const dynamic = "force-dynamic";

async function handle(req: NextRequest, { params }: Context) {
  const { path = [] } = await params;
  // Refused before anything else, signed in or not: a path that could climb out of
  // /products (`/api/products/../me`, `%2e%2e`, `..%2f`) never reaches the API.
  const refused = refusePath(path, req.nextUrl.pathname);
  if (refused !== null) {
    return answer(400, { error: "invalid_path", error_description: refused });
  }
  return forwardToApi(req, { path, search: req.nextUrl.search });
}

export { handle as DELETE, handle as GET, handle as PATCH, handle as POST, handle as PUT };
