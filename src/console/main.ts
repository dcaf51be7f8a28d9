/**
 * The edge-rag console: sign in (an API key or a username and password, exchanged for a
 * short-lived token), then Ask, Documents and, for admins, API keys. Plain DOM, no framework:
 * the page is small, and the bundle stays a few KiB.
 */
import { api, clearSession, currentSession, messageOf, ok, saveSession, whenUnauthorized } from "./api";
import { setupAsk } from "./ask";
import { allowDeletes, loadDocuments, setupDocuments } from "./documents";
import { busy, byId } from "./dom";
import { loadKeys, setupKeys } from "./keys";

type Panel = "ask" | "documents" | "keys";

let expiryTimer: ReturnType<typeof setTimeout> | undefined;

function showSignIn(message = ""): void {
  clearSession();
  clearTimeout(expiryTimer);
  byId("workspace").hidden = true;
  byId("who").hidden = true;
  byId("sign-out").hidden = true;
  byId("sign-in").hidden = false;
  byId("sign-in-error").textContent = message;
  byId<HTMLInputElement>("api-key").focus();
}

async function showWorkspace(): Promise<void> {
  const session = currentSession();
  if (!session) return showSignIn();
  const me = await ok(api.GET("/v1/me"));
  clearTimeout(expiryTimer);
  expiryTimer = setTimeout(() => showSignIn("Your session expired: sign in again."), session.expiresAt - Date.now());
  const who = byId("who");
  who.textContent = `${me.sub} · tenant ${me.tenant} · ${me.roles.join(", ")}`;
  who.hidden = false;
  byId("sign-out").hidden = false;
  byId("sign-in").hidden = true;
  byId("workspace").hidden = false;
  const admin = me.roles.includes("admin");
  const writer = admin || me.roles.includes("writer");
  tabButton("keys").hidden = !admin;
  // Ingestion and its jobs are writer routes: a reader gets a note instead of forms that would be refused.
  byId("upload-form").hidden = !writer;
  byId("jobs-card").hidden = !writer;
  byId("reader-note").hidden = writer;
  allowDeletes(writer);
  select("ask");
}

const tabButton = (panel: Panel) => document.querySelector<HTMLButtonElement>(`nav.tabs button[data-panel="${panel}"]`)!;

function select(panel: Panel): void {
  for (const button of document.querySelectorAll<HTMLButtonElement>("nav.tabs button")) {
    const current = button.dataset.panel === panel;
    if (current) button.setAttribute("aria-current", "page");
    else button.removeAttribute("aria-current");
    byId(`panel-${button.dataset.panel}`).hidden = !current;
  }
  if (panel === "keys") void loadKeys();
  if (panel === "documents") {
    loadDocuments().catch((error) => {
      byId("documents-error").textContent = messageOf(error);
    });
  }
}

function setupSignIn(): void {
  const form = byId<HTMLFormElement>("sign-in-form");
  const method = () => (form.querySelector<HTMLInputElement>('input[name="method"]:checked')?.value ?? "key") as "key" | "password";
  for (const radio of form.querySelectorAll<HTMLInputElement>('input[name="method"]')) {
    radio.addEventListener("change", () => {
      for (const section of form.querySelectorAll<HTMLElement>("[data-method]")) section.hidden = section.dataset.method !== method();
    });
  }
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void busy(
      form,
      byId("sign-in-error"),
      async () => {
        if (method() === "key") {
          const input = byId<HTMLInputElement>("api-key");
          const key = input.value.trim();
          if (!key) throw new Error("Paste an API key.");
          saveSession(await ok(api.POST("/v1/auth/token", { headers: { authorization: `Bearer ${key}` } })));
          input.value = "";
        } else {
          const username = byId<HTMLInputElement>("username").value.trim();
          const password = byId<HTMLInputElement>("password");
          if (!username || !password.value) throw new Error("Enter your username and password.");
          saveSession(await ok(api.POST("/v1/auth/login", { body: { username, password: password.value } })));
          password.value = "";
        }
        await showWorkspace();
      },
      messageOf,
    );
  });
  byId("sign-out").addEventListener("click", () => void signOut());
}

/** Revokes the session's token at the API, then forgets it; a failed call still signs this tab out. */
async function signOut(): Promise<void> {
  try {
    if (currentSession()) await api.POST("/v1/auth/logout");
  } finally {
    showSignIn();
  }
}

function setupTabs(): void {
  for (const button of document.querySelectorAll<HTMLButtonElement>("nav.tabs button")) {
    button.addEventListener("click", () => select(button.dataset.panel as Panel));
  }
}

whenUnauthorized(() => showSignIn("Your session is no longer valid: sign in again."));
setupSignIn();
setupTabs();
setupAsk();
setupDocuments();
setupKeys();
if (currentSession()) showWorkspace().catch((error) => showSignIn(messageOf(error)));
else showSignIn();
