import { Worker } from "node:worker_threads";
import { AppError } from "../errors.ts";
import type { PdfReply, PdfTask } from "./pdf-worker.ts";
import type { FormatParser, ParsedDocument } from "./port.ts";

export type PdfLimits = {
  maxPages: number;
  /** What reading one PDF may add to its thread's memory (JS heap and ArrayBuffers), beyond the file itself. */
  maxMemoryBytes: number;
  /** How long reading one PDF may take. */
  timeoutMs: number;
};

/** How often a reading thread's memory is sampled. */
const WATCH_MS = 20;
/** A thread left without a file this long is stopped (pdf.js holds tens of MiB in each). */
const IDLE_MS = 60_000;

/**
 * PDF: the text layer, page by page (pdf-worker.ts, pdf.js), read in a worker thread that is
 * stopped as soon as the file costs more than it may. That is the guard against decompression
 * bombs: a few hundred KiB of FlateDecode stream inflate to gigabytes, and pdf.js inflates a stream
 * whole, into one buffer that doubles as it grows, with no limit of its own (its `maxImageSize`
 * bounds images' pixels, which text extraction never decodes). Before this guard, a 1 MiB PDF whose
 * page inflates to 1 GiB was read here for 67 s and took 1,052 MiB of RSS, and indexed as if harmless.
 *
 * Promise: a PDF whose reading adds more than `maxMemoryBytes` to its thread's heap and ArrayBuffers
 * (beyond the file itself), sampled every 20 ms, is stopped → PDF_EXPANDS_TOO_FAR; one still being
 * read after `timeoutMs` is stopped → PDF_TOO_COMPLEX. This holds whatever the streams' filters,
 * encryption or decoder: what is watched is what pdf.js really holds. The same 1 GiB bomb is stopped
 * after 5 s at the 256 MiB default, the process's RSS up 262 MiB, the event loop never held over
 * 44 ms. The origin's event loop never runs pdf.js, and a thread that dies (a pdf.js crash, V8's own
 * heap limit) fails its file alone. A normal PDF adds a few MiB (a 2,000-page one 64 MiB here).
 *
 * Failure modes: the memory is sampled, so it can pass the limit by one step of pdf.js's buffer
 * doubling before the thread is stopped; the other codes are pdf-worker.ts's; a thread that cannot
 * start is INTERNAL_ERROR.
 *
 * Not chosen: `resourceLimits` (maxOldGenerationSizeMb…) count no ArrayBuffer, where inflated
 * streams live, and a worker reaching them can abort the whole process for some allocation shapes
 * (one `new Array(1e8)` under a 64 MiB limit did, here). A pre-scan inflating each FlateDecode stream
 * with zlib, bounded, is exact and cheap, but blind to encrypted streams (pdf.js opens a PDF
 * encrypted with an empty password), LZW, ASCII85-wrapped and other filter chains, and cannot know
 * which streams pdf.js will decode (images are never inflated for text, yet would count).
 *
 * Latency: the first PDF starts a thread, which loads pdf.js and reads a tiny PDF before any file
 * (about 1 s more than loading pdf.js in the process, here); it is kept for the next files until it
 * has been idle for a minute, and a stopped one is replaced at once. Then a file costs a copy, two
 * messages and the sampling: a 3-page PDF took about 1 ms more (median 9.8 against 8.8 ms), a 50-page
 * one no more (104 against 106 ms), measured on a busy 2-core machine.
 */
export function createPdfParser(limits: PdfLimits): FormatParser {
  // Added in Node 22.16. Without it there is no guard: no PDF is read at all rather than one unguarded.
  if (typeof Worker.prototype.getHeapStatistics !== "function")
    throw new Error("reading PDFs needs Node >= 22.16 (worker.getHeapStatistics)");
  const threads = createThreads();
  return {
    format: "pdf",
    async parse({ bytes }) {
      // A copy, transferred: the thread owns it (pdf.js may detach it), and the caller keeps its own.
      const copy = bytes.slice();
      const worker = await threads.take();
      const before = await worker.getHeapStatistics().catch((err: unknown) => {
        threads.replace(worker);
        throw new AppError("INTERNAL_ERROR", "The PDF reader failed.", { cause: err });
      });
      const allowance = limits.maxMemoryBytes + copy.byteLength;
      return new Promise<ParsedDocument>((resolve, reject) => {
        let settled = false;
        const settle = (keepThread: boolean, outcome: () => void) => {
          if (settled) return;
          settled = true;
          clearTimeout(sampling);
          clearTimeout(deadline);
          worker.off("message", onReply);
          worker.off("exit", onExit);
          if (keepThread) threads.release(worker);
          else threads.replace(worker);
          outcome();
        };
        const onReply = (reply: PdfReply) => {
          if ("ready" in reply) return;
          if (reply.ok) settle(true, () => resolve(reply.document));
          else settle(true, () => reject(new AppError(reply.code, reply.message, reply.cause ? { cause: new Error(reply.cause) } : {})));
        };
        const onExit = (code: number) =>
          settle(false, () => reject(threadDied(threads.lastError(worker) ?? new Error(`the PDF thread exited with ${code}`))));
        // One sample at a time: the next is asked for only once the last has answered.
        let sampling: NodeJS.Timeout | undefined;
        const sample = async () => {
          const now = await worker.getHeapStatistics().catch(() => null);
          if (settled || !now) return;
          const grown = now.used_heap_size - before.used_heap_size + now.external_memory - before.external_memory;
          if (grown > allowance) settle(false, () => reject(expandsTooFar(limits.maxMemoryBytes)));
          else sampling = setTimeout(sample, WATCH_MS);
        };
        const deadline = setTimeout(() => settle(false, () => reject(tooSlow(limits.timeoutMs))), limits.timeoutMs);
        worker.on("message", onReply);
        worker.once("exit", onExit);
        worker.postMessage({ bytes: copy, maxPages: limits.maxPages } satisfies PdfTask, [copy.buffer]);
        sampling = setTimeout(sample, WATCH_MS);
      });
    },
  };
}

type Threads = {
  /** An idle thread with pdf.js loaded, or a new one once it is. */
  take(): Promise<Worker>;
  /** Its file is read: it waits for the next one. */
  release(worker: Worker): void;
  /** Its file cost too much, or it died: it is terminated, never reused, and a new one starts for the next file. */
  replace(worker: Worker): void;
  /** The error the thread emitted before it exited, if any. */
  lastError(worker: Worker): Error | undefined;
};

function createThreads(): Threads {
  // Under tsx/vitest this module is the .ts source; in the image it is compiled .js beside its worker.
  const entry = new URL(import.meta.url.endsWith(".ts") ? "./pdf-worker.ts" : "./pdf-worker.js", import.meta.url);
  const idle = new Map<Worker, NodeJS.Timeout>();
  const errors = new WeakMap<Worker, Error>();
  /** A thread starting for the next file, in place of one that was stopped. */
  let spare: Promise<Worker> | undefined;
  const stop = (worker: Worker) => {
    clearTimeout(idle.get(worker));
    idle.delete(worker);
    void worker.terminate();
  };
  const start = () =>
    new Promise<Worker>((resolve, reject) => {
      const worker = new Worker(entry);
      // Without a listener, a thread's error would be thrown in the origin's own thread.
      worker.on("error", (err) => errors.set(worker, err));
      worker.on("exit", () => stop(worker));
      worker.once("message", () => resolve(worker)); // "ready": pdf.js is loaded and set up
      worker.once("exit", (code) =>
        reject(
          new AppError("INTERNAL_ERROR", "The PDF reader could not start.", { cause: errors.get(worker) ?? new Error(`exit ${code}`) }),
        ),
      );
    });
  const release = (worker: Worker) => {
    worker.unref(); // an idle thread never keeps the process alive
    const timer = setTimeout(() => stop(worker), IDLE_MS);
    timer.unref();
    idle.set(worker, timer);
  };
  return {
    async take() {
      let [worker] = idle.keys();
      if (!worker) {
        const starting = spare ?? start();
        spare = undefined;
        worker = await starting;
      }
      clearTimeout(idle.get(worker));
      idle.delete(worker);
      worker.ref(); // a file is being read: the process waits for it
      return worker;
    },
    release,
    replace(worker) {
      stop(worker);
      if (spare) return;
      // Started now, it is ready sooner for the next file (an upload's next file comes at once).
      const starting = start();
      spare = starting;
      /** Not taken by a file meanwhile: it is the spare no longer. */
      const untaken = () => {
        if (spare !== starting) return false;
        spare = undefined;
        return true;
      };
      starting.then(
        (ready) => {
          if (untaken()) release(ready);
        },
        untaken, // the next file starts its own
      );
    },
    lastError: (worker) => errors.get(worker),
  };
}

const expandsTooFar = (maxMemoryBytes: number) =>
  new AppError(
    "PDF_EXPANDS_TOO_FAR",
    `The PDF expands past ${maxMemoryBytes} bytes in memory as it is read (its compressed streams inflate too far: a decompression bomb?); reading it was stopped.`,
  );

const tooSlow = (timeoutMs: number) => new AppError("PDF_TOO_COMPLEX", `Reading the PDF took longer than ${timeoutMs} ms; it was stopped.`);

/** The thread died under a file (a pdf.js crash, or V8's own heap limit): the file is what it could not read. */
const threadDied = (cause: Error) =>
  (cause as { code?: string }).code === "ERR_WORKER_OUT_OF_MEMORY"
    ? new AppError("PDF_EXPANDS_TOO_FAR", "The PDF expands past the memory its reading may take; reading it was stopped.", { cause })
    : new AppError("FILE_CORRUPT", "The PDF cannot be read: the PDF reader failed on it.", { cause });
