import type { Metadata } from "next";
import type { ReactNode } from "react";

import "./globals.css";

export const metadata: Metadata = {
  title: "Products — claimguard example",
  description: "A Next.js app calling a claimguard-protected Flask API with the user's access token.",
};

// System fonts only: nothing is fetched from outside the machine (no next/font/google).
export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body>{children}</body>
    </html>
  );
}
