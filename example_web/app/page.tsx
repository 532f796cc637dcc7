// The one page. A server component: it reads the session on the server and hands
// the client component only what it shows (name, e-mail, roles), never a token.
import { auth0, ROLES_CLAIM } from "@/lib/auth0";

import ProductsPanel from "./products-panel";

export const dynamic = "force-dynamic";

function rolesOf(claims: Record<string, unknown>): string[] {
  const value = claims[ROLES_CLAIM];
  return Array.isArray(value) ? value.filter((role): role is string => typeof role === "string") : [];
}

export default async function Home() {
  const session = await auth0.getSession();
  if (!session) {
    return (
      <main>
        <h1>Products</h1>
        <p>Sign in to list, create, edit and delete products. What you may do depends on your role.</p>
        {/* A plain link, not next/link: /auth/login is served by the SDK's middleware. */}
        <a className="button" href="/auth/login" data-testid="login">
          Sign in
        </a>
      </main>
    );
  }
  const { user } = session;
  const roles = rolesOf(user);
  return (
    <main>
      <header className="bar">
        <div>
          Signed in as <strong data-testid="user-name">{user.name ?? user.sub}</strong>
          {user.email ? <span className="muted"> ({user.email})</span> : null}
          <span data-testid="roles" data-roles={roles.join(",")}>
            {roles.length ? (
              roles.map((role) => (
                <span className="role" key={role}>
                  {role}
                </span>
              ))
            ) : (
              <span className="role none">no role</span>
            )}
          </span>
        </div>
        <a className="button secondary" href="/auth/logout" data-testid="logout">
          Log out
        </a>
      </header>
      <p className="muted">
        Roles shown here come from your ID token, for display only. Every button is shown to every role
        on purpose: the products API decides, from the access token this server sends it.
      </p>
      <ProductsPanel />
    </main>
  );
}
