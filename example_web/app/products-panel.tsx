"use client";

// The products table and forms. Runs in the browser and talks only to this app's own
// /api/products route (same origin, session cookie); it never sees an access token.
import { useCallback, useEffect, useState, type FormEvent } from "react";

type Product = {
  id: number;
  name: string;
  price: number;
  description: string | null;
  stock: number;
};

type Message = { kind: "ok" | "error" | "warn"; text: string; status?: number };

type Draft = { name: string; price: string; stock: string };

const JSON_HEADERS = { "Content-Type": "application/json" };
const EMPTY_NEW = { name: "", price: "", stock: "0", description: "" };

function requiredRoles(body: unknown): string | null {
  if (typeof body !== "object" || body === null) return null;
  const roles = (body as { required_roles?: unknown }).required_roles;
  if (!Array.isArray(roles) || roles.length === 0) return null;
  const names = roles.filter((role): role is string => typeof role === "string");
  const match = (body as { match?: unknown }).match === "all" ? " and " : " or ";
  return names.join(match);
}

function fieldErrors(body: unknown): string | null {
  if (typeof body !== "object" || body === null) return null;
  const fields = (body as { fields?: unknown }).fields;
  if (typeof fields !== "object" || fields === null) return null;
  return Object.entries(fields as Record<string, unknown>)
    .map(([name, why]) => `${name}: ${String(why)}`)
    .join("; ");
}

/** What an answer from /api/products means for the person at the keyboard. */
function explain(action: string, status: number, body: unknown): Message {
  const code = typeof body === "object" && body !== null ? (body as { error?: unknown }).error : undefined;
  switch (status) {
    case 401:
      return { kind: "warn", status, text: `Your session has ended: sign in again to continue (${action}).` };
    case 403: {
      if (code === "cross_site_request") {
        return { kind: "error", status, text: "This request did not come from this app and was refused." };
      }
      const roles = requiredRoles(body);
      return {
        kind: "error",
        status,
        text: `Your role cannot do this: ${action} needs the ${roles ?? "right"} role.`,
      };
    }
    case 503:
      return { kind: "warn", status, text: `The service is temporarily unavailable: try again shortly (${action}).` };
    case 400:
      return { kind: "error", status, text: `Check what you entered (${action}): ${fieldErrors(body) ?? "invalid request"}.` };
    case 404:
      return { kind: "error", status, text: `That product no longer exists (${action}).` };
    case 412:
      return { kind: "error", status, text: "Someone changed this product meanwhile: reload and try again." };
    default:
      return { kind: "error", status, text: `Unexpected answer ${status} (${action}).` };
  }
}

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  const response = await fetch(path, {
    method,
    headers: body === undefined ? undefined : JSON_HEADERS,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
  });
  const text = await response.text();
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = null;
  }
  return { status: response.status, body: parsed };
}

function draftOf(product: Product): Draft {
  return { name: product.name, price: String(product.price), stock: String(product.stock) };
}

export default function ProductsPanel() {
  // Buttons stay disabled until React has hydrated: a click before that would do nothing.
  const [ready, setReady] = useState(false);
  const [busy, setBusy] = useState(false);
  const [products, setProducts] = useState<Product[] | null>(null);
  const [message, setMessage] = useState<Message | null>(null);
  const [editing, setEditing] = useState<number | null>(null);
  const [draft, setDraft] = useState<Draft>({ name: "", price: "", stock: "" });
  const [created, setCreated] = useState<Draft & { description: string }>(EMPTY_NEW);

  const load = useCallback(async (keepMessage = false) => {
    const { status, body } = await call("GET", "/api/products?limit=100");
    if (status === 200 && typeof body === "object" && body !== null) {
      setProducts((body as { items: Product[] }).items);
      if (!keepMessage) setMessage(null);
    } else {
      setProducts(null);
      setMessage(explain("listing products", status, body));
    }
  }, []);

  useEffect(() => {
    setReady(true);
    setBusy(true);
    load().finally(() => setBusy(false));
  }, [load]);

  async function run(work: () => Promise<void>) {
    setBusy(true);
    try {
      await work();
    } catch {
      setMessage({ kind: "warn", text: "The app cannot be reached: try again shortly." });
    } finally {
      setBusy(false);
    }
  }

  function create(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    void run(async () => {
      const { status, body } = await call("POST", "/api/products", {
        name: created.name,
        price: Number(created.price),
        stock: Number(created.stock || 0),
        ...(created.description ? { description: created.description } : {}),
      });
      if (status === 201) {
        setCreated(EMPTY_NEW);
        setMessage({ kind: "ok", status, text: `Created “${(body as Product).name}”.` });
        await load(true);
      } else {
        setMessage(explain("creating a product", status, body));
      }
    });
  }

  function save(id: number) {
    void run(async () => {
      const { status, body } = await call("PATCH", `/api/products/${id}`, {
        name: draft.name,
        price: Number(draft.price),
        stock: Number(draft.stock),
      });
      if (status === 200) {
        setEditing(null);
        setMessage({ kind: "ok", status, text: `Saved “${(body as Product).name}”.` });
        await load(true);
      } else {
        setMessage(explain("editing a product", status, body));
      }
    });
  }

  function remove(product: Product) {
    void run(async () => {
      const { status, body } = await call("DELETE", `/api/products/${product.id}`);
      if (status === 204) {
        setMessage({ kind: "ok", status, text: `Deleted “${product.name}”.` });
        await load(true);
      } else {
        setMessage(explain("deleting a product", status, body));
      }
    });
  }

  function refreshToken() {
    void run(async () => {
      const { status, body } = await call("POST", "/api/session/refresh");
      if (status === 200) {
        const expires = (body as { expires_at?: number }).expires_at;
        const when = typeof expires === "number" ? new Date(expires * 1000).toLocaleTimeString() : "later";
        setMessage({ kind: "ok", status, text: `The server renewed your access token (valid until ${when}).` });
      } else {
        setMessage(explain("renewing the access token", status, body));
      }
    });
  }

  const disabled = !ready || busy;
  return (
    <section data-testid="panel" data-ready={ready ? "true" : "false"} data-busy={busy ? "true" : "false"}>
      <div
        className={`message ${message ? message.kind : ""}`}
        role="status"
        data-testid="message"
        data-status={message?.status ?? ""}
        hidden={!message}
      >
        {message?.text}
        {message?.status === 401 ? (
          <>
            {" "}
            <a href="/auth/login">Sign in</a>
          </>
        ) : null}
      </div>

      <h2>Products</h2>
      {products === null ? (
        <p className="muted" data-testid="no-list">
          No list to show.
        </p>
      ) : products.length === 0 ? (
        <p className="muted" data-testid="empty">
          No products yet.
        </p>
      ) : (
        <table data-testid="product-list">
          <thead>
            <tr>
              <th>#</th>
              <th>Name</th>
              <th>Price</th>
              <th>Stock</th>
              <th></th>
            </tr>
          </thead>
          <tbody>
            {products.map((product) =>
              editing === product.id ? (
                <tr key={product.id} data-testid={`product-${product.id}`}>
                  <td>{product.id}</td>
                  <td>
                    <input
                      aria-label="Name"
                      data-testid={`edit-name-${product.id}`}
                      value={draft.name}
                      onChange={(e) => setDraft({ ...draft, name: e.target.value })}
                    />
                  </td>
                  <td>
                    <input
                      aria-label="Price"
                      data-testid={`edit-price-${product.id}`}
                      inputMode="decimal"
                      value={draft.price}
                      onChange={(e) => setDraft({ ...draft, price: e.target.value })}
                    />
                  </td>
                  <td>
                    <input
                      aria-label="Stock"
                      data-testid={`edit-stock-${product.id}`}
                      inputMode="numeric"
                      value={draft.stock}
                      onChange={(e) => setDraft({ ...draft, stock: e.target.value })}
                    />
                  </td>
                  <td className="actions">
                    <button disabled={disabled} data-testid={`save-${product.id}`} onClick={() => save(product.id)}>
                      Save
                    </button>
                    <button className="secondary" disabled={disabled} onClick={() => setEditing(null)}>
                      Cancel
                    </button>
                  </td>
                </tr>
              ) : (
                <tr key={product.id} data-testid={`product-${product.id}`}>
                  <td>{product.id}</td>
                  <td data-testid={`name-${product.id}`}>{product.name}</td>
                  <td>{product.price.toFixed(2)}</td>
                  <td>{product.stock}</td>
                  <td className="actions">
                    <button
                      className="secondary"
                      disabled={disabled}
                      data-testid={`edit-${product.id}`}
                      onClick={() => {
                        setEditing(product.id);
                        setDraft(draftOf(product));
                      }}
                    >
                      Edit
                    </button>
                    <button
                      className="danger"
                      disabled={disabled}
                      data-testid={`delete-${product.id}`}
                      onClick={() => remove(product)}
                    >
                      Delete
                    </button>
                  </td>
                </tr>
              ),
            )}
          </tbody>
        </table>
      )}

      <h2>New product</h2>
      <form className="create" onSubmit={create}>
        <label>
          Name
          <input
            data-testid="create-name"
            required
            value={created.name}
            onChange={(e) => setCreated({ ...created, name: e.target.value })}
          />
        </label>
        <label>
          Price
          <input
            data-testid="create-price"
            required
            inputMode="decimal"
            value={created.price}
            onChange={(e) => setCreated({ ...created, price: e.target.value })}
          />
        </label>
        <label>
          Stock
          <input
            data-testid="create-stock"
            inputMode="numeric"
            value={created.stock}
            onChange={(e) => setCreated({ ...created, stock: e.target.value })}
          />
        </label>
        <label>
          Description
          <input
            data-testid="create-description"
            value={created.description}
            onChange={(e) => setCreated({ ...created, description: e.target.value })}
          />
        </label>
        <button type="submit" disabled={disabled} data-testid="create-submit">
          Create
        </button>
      </form>

      <h2>Session</h2>
      <p className="muted">
        The access token lives in the server&apos;s encrypted session cookie and is renewed with the refresh token
        when it expires. Renew it now to see a refresh happen:
      </p>
      <p>
        <button className="secondary" disabled={disabled} data-testid="refresh-token" onClick={refreshToken}>
          Renew access token
        </button>{" "}
        <button className="secondary" disabled={disabled} data-testid="reload" onClick={() => void run(() => load())}>
          Reload list
        </button>
      </p>
    </section>
  );
}
