// POST /api/session/refresh: renew the access token now.
//
// The SDK refreshes an expired access token by itself whenever getAccessToken() is
// called; this route forces it (a refresh-token grant, RFC 6749 §6) so that the demo
// and the tests can see a refresh happen. It answers when the new token expires and
// never the token itself.
import type { NextRequest } from "next/server";

import { accessToken, answer, refuseCrossSite } from "@/lib/upstream";

export const dynamic = "force-dynamic";

export async function POST(req: NextRequest) {
  const crossSite = refuseCrossSite(req);
  if (crossSite !== null) {
    return answer(403, { error: "cross_site_request", error_description: crossSite });
  }
  const result = await accessToken(true);
  if ("refused" in result) {
    return result.refused;
  }
  return answer(200, { refreshed: true, expires_at: result.expiresAt });
}
