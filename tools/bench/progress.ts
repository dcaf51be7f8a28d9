/**
 * Progress on stderr: a redrawn line on a terminal, a plain line per update otherwise (throttled to
 * one a second, so a CI log is not flooded). stdout stays for the results.
 */
let lastPlain = 0;

export function progress(text: string, force = false): void {
  if (process.stderr.isTTY) {
    process.stderr.write(`\r\x1b[2K${text}`);
    return;
  }
  const now = Date.now();
  if (!force && now - lastPlain < 1_000) return;
  lastPlain = now;
  process.stderr.write(`${text}\n`);
}

/** `label [#####.....] 12/40` */
export function bar(label: string, done: number, total: number): string {
  const width = 24;
  const filled = total > 0 ? Math.round((done / total) * width) : 0;
  return `${label} [${"#".repeat(filled)}${".".repeat(width - filled)}] ${done}/${total}`;
}

/** Ends a redrawn line (and says a step is done). */
export function step(text: string): void {
  if (process.stderr.isTTY) process.stderr.write("\r\x1b[2K");
  process.stderr.write(`${text}\n`);
}
