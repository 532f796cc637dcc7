// The SDK's middleware: it serves /auth/login, /auth/callback, /auth/logout and
// /auth/profile, and keeps the session cookie rolling on every other request.
import type { NextRequest } from "next/server";

import { auth0 } from "@/lib/auth0";

export async function middleware(request: NextRequest) {
  return await auth0.middleware(request);
}

export const config = {
  // Everything but Next.js's static assets.
  matcher: ["/((?!_next/static|_next/image|favicon.ico|robots.txt).*)"],
};
