/**
 * API keys (admins): create one (its secret shown once, with a copy button), list the tenant's
 * keys (never a secret), revoke one.
 */
import { api, messageOf, ok, type Role, type Schemas } from "./api";
import { announce, busy, byId, formatDate, h } from "./dom";

export function setupKeys(): void {
  const form = byId<HTMLFormElement>("key-form");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void busy(form, byId("key-error"), createKey, messageOf);
  });
  byId("copy-key").addEventListener("click", async () => {
    const value = byId<HTMLInputElement>("new-key-value");
    const status = byId("copy-status");
    try {
      await navigator.clipboard.writeText(value.value);
      status.textContent = "Copied to the clipboard.";
    } catch {
      // No clipboard permission (or an insecure context): leave it selected for Ctrl+C.
      value.select();
      status.textContent = "Selected: press Ctrl+C (⌘C) to copy.";
    }
  });
}

async function createKey(): Promise<void> {
  const name = byId<HTMLInputElement>("key-name").value.trim();
  if (!name) throw new Error("Give the key a name.");
  const roles = [...document.querySelectorAll<HTMLInputElement>('#key-form input[name="roles"]:checked')].map((box) => box.value as Role);
  if (roles.length === 0) throw new Error("Choose at least one role.");
  const expiry = byId<HTMLSelectElement>("key-expiry").value;
  const created = await ok(api.POST("/v1/api-keys", { body: { name, roles, ...(expiry ? { expires_in: Number(expiry) } : {}) } }));
  byId("new-key").hidden = false;
  byId("copy-status").textContent = "";
  const value = byId<HTMLInputElement>("new-key-value");
  value.value = created.key;
  value.focus();
  value.select();
  byId<HTMLInputElement>("key-name").value = "";
  announce(`key ${name} created`);
  await loadKeys();
}

export async function loadKeys(): Promise<void> {
  const body = byId("keys-table").querySelector("tbody")!;
  try {
    const { keys } = await ok(api.GET("/v1/api-keys"));
    body.replaceChildren(...keys.map(keyRow));
    if (keys.length === 0) body.replaceChildren(h("tr", {}, h("td", { colspan: "8" }, "No keys yet.")));
  } catch (error) {
    body.replaceChildren(h("tr", {}, h("td", { colspan: "8", class: "error" }, messageOf(error))));
  }
}

function stateOf(key: Schemas["ApiKey"]): string {
  if (key.revoked_at) return "revoked";
  if (key.expires_at && Date.parse(key.expires_at) <= Date.now()) return "expired";
  return "active";
}

function keyRow(key: Schemas["ApiKey"]): HTMLTableRowElement {
  const state = stateOf(key);
  const revoke = state === "active" ? h("button", { type: "button", class: "danger small" }, "Revoke") : null;
  revoke?.setAttribute("aria-label", `Revoke key ${key.name} (${key.id})`);
  revoke?.addEventListener("click", async () => {
    if (!confirm(`Revoke key ${key.name} (${key.id})? Clients using it are refused within seconds.`)) return;
    revoke.disabled = true;
    try {
      await ok(api.DELETE("/v1/api-keys/{id}", { params: { path: { id: key.id } } }));
      announce(`key ${key.name} revoked`);
      await loadKeys();
    } catch (error) {
      revoke.disabled = false;
      byId("key-error").textContent = messageOf(error);
    }
  });
  return h(
    "tr",
    { "data-key-id": key.id },
    h("td", { "data-label": "Name" }, key.name),
    h("td", { "data-label": "Id" }, h("code", {}, key.id)),
    h("td", { "data-label": "Roles" }, key.roles.join(", ")),
    h("td", { "data-label": "Created" }, formatDate(key.created_at)),
    h("td", { "data-label": "Expires" }, formatDate(key.expires_at)),
    h("td", { "data-label": "Last used" }, formatDate(key.last_used_at)),
    h("td", { "data-label": "State", class: `state-${state}` }, state),
    h("td", {}, revoke),
  );
}
