// The watchdog end of the local stack's lifeline (see lifeline.ts).
//
//   node tools/stack/lifeline-watchdog.mjs [graceMs]      stdin: a pipe only the launcher writes to
//
// The launcher writes the process group of each child it starts, one number a line. When stdin
// ends (the launcher closed it, exited, crashed or was SIGKILLed: the kernel closes the pipe in
// every case), each group still alive gets SIGTERM, and SIGKILL once `graceMs` (default 5000)
// has passed; then the watchdog exits. So no child outlives its launcher by more than the grace.
//
// Plain JavaScript, run by the launcher's own node without a loader: it is up in milliseconds and
// starts nothing itself. It prints nothing, since the launcher's output may be gone (a closed
// terminal, a dead `| tee`).

const graceMs = Number(process.argv[2] ?? 5_000);
/** Process groups to stop, each named by its leader's PID. */
const groups = new Set();

/** kill(2) on the whole group; false when no such group exists any more. */
function signalGroup(group, signal) {
  try {
    process.kill(-group, signal);
    return true;
  } catch (error) {
    return error.code === "EPERM";
  }
}

let pending = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => {
  const lines = (pending + chunk).split("\n");
  pending = lines.pop();
  for (const line of lines) {
    const group = Number(line);
    // Never 0 or 1: kill(-0) is our own group, kill(-1) every process we may signal.
    if (Number.isSafeInteger(group) && group > 1) groups.add(group);
  }
});

// Forget groups that are gone, so that a PID the system hands out again is never signalled.
const prune = setInterval(() => {
  for (const group of groups) if (!signalGroup(group, 0)) groups.delete(group);
}, 1_000);

let stopping = false;
function stopAll() {
  if (stopping) return;
  stopping = true;
  clearInterval(prune);
  for (const group of groups) signalGroup(group, "SIGTERM");
  const deadline = Date.now() + graceMs;
  setInterval(() => {
    const left = [...groups].filter((group) => signalGroup(group, 0));
    if (left.length > 0 && Date.now() < deadline) return;
    for (const group of left) signalGroup(group, "SIGKILL");
    process.exit(0);
  }, 100);
}

process.stdin.on("end", stopAll);
process.stdin.on("close", stopAll);
process.stdin.on("error", stopAll);
// Whoever stops the watchdog stops the stack with it, rather than leaving it without a lifeline.
for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"]) process.on(signal, stopAll);
