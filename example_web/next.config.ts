import type { NextConfig } from "next";

// Security headers for every page and route. The app loads nothing from elsewhere:
// no remote fonts (never next/font/google), images, scripts or analytics, so the
// Content-Security-Policy can keep everything on 'self'. 'unsafe-inline' for scripts
// is needed by Next.js's inline hydration data unless nonces are wired in; it is the
// one relaxation, and connect-src 'self' still keeps any script from calling out.
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self' 'unsafe-inline'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'self'",
  "frame-ancestors 'none'",
  "form-action 'self'",
].join("; ");

const config: NextConfig = {
  poweredByHeader: false,
  reactStrictMode: true,
  // Plain `next build`/`next start`: no image optimisation service is needed.
  images: { unoptimized: true },
  // Dot segments in an API path ("/api/products/../me", "%2e%2e" spelling included)
  // are answered 400 by app/api/refused, whatever follows them. They need catching
  // here: Next.js hands middleware the URL already resolved (RFC 3986 §5.2.4, the
  // WHATWG URL parser also decodes "%2e"), so middleware would see "/api/me", while it
  // picks the route from the raw path, where such a path lands on Next.js's own HTML
  // 404 page. Rewrites are matched against the raw path, before any route.
  async rewrites() {
    return {
      beforeFiles: [
        {
          source: "/api/:path((?:.*/)?(?:\\.|%2[eE]){1,2}(?:/.*)?)",
          destination: "/api/refused",
        },
      ],
    };
  },
  async headers() {
    return [
      {
        source: "/:path*",
        headers: [
          { key: "Content-Security-Policy", value: CONTENT_SECURITY_POLICY },
          { key: "X-Content-Type-Options", value: "nosniff" },
          { key: "Referrer-Policy", value: "no-referrer" },
          { key: "X-Frame-Options", value: "DENY" },
        ],
      },
    ];
  },
};

export default config;
