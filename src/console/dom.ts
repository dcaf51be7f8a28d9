/** Small DOM helpers: elements by id (failing loudly when the page lacks one), and building nodes from text only (no innerHTML). */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`the page has no #${id}`);
  return element as T;
}

type Child = Node | string | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Record<string, string | boolean | undefined> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) continue;
    element.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children) if (child) element.append(child);
  return element;
}

/** Announces a short message to screen readers (the page's polite status region). */
export function announce(message: string): void {
  const status = byId("status");
  status.textContent = "";
  // A new text node after a tick, so that repeating the same message is announced again.
  setTimeout(() => {
    status.textContent = message;
  }, 50);
}

export function formatDate(iso: string | null): string {
  if (!iso) return "—";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

/** Runs an async form action with its submit button disabled and the error shown in `errorEl`. */
export async function busy(form: HTMLFormElement, errorEl: HTMLElement, action: () => Promise<void>, describe: (e: unknown) => string) {
  const button = form.querySelector<HTMLButtonElement>('button[type="submit"]');
  errorEl.textContent = "";
  if (button) button.disabled = true;
  form.setAttribute("aria-busy", "true");
  try {
    await action();
  } catch (error) {
    errorEl.textContent = describe(error);
  } finally {
    if (button) button.disabled = false;
    form.removeAttribute("aria-busy");
  }
}
