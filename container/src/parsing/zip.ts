import yauzl from "yauzl";
import { AppError } from "../errors.ts";

/** Far more parts than any Word document has; many tiny entries cost time even when each is small. */
const MAX_ENTRIES = 10_000;

/**
 * A ZIP archive's files, read into memory by yauzl without letting it become a decompression bomb:
 * the sizes the central directory declares are added up and checked against `maxUnzippedBytes`
 * (and the entries counted) before anything is inflated, and then every entry is inflated with
 * yauzl's size validation, which stops it at the first byte past its declared size (a header that
 * lies). So memory stays within the limit however the archive was made.
 *
 * Failures: past the limits → ARCHIVE_TOO_LARGE; not a readable archive, an entry that inflates
 * past (or short of) its declared size, an encrypted or unknown-method entry → FILE_CORRUPT.
 */
export async function readArchive(bytes: Uint8Array, limits: { maxUnzippedBytes: number }): Promise<Map<string, Uint8Array>> {
  let zip: yauzl.ZipFile;
  try {
    zip = await yauzl.fromBufferPromise(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), {
      lazyEntries: true,
      autoClose: false,
      validateEntrySizes: true,
    });
  } catch (err) {
    throw corrupt(err);
  }
  try {
    const entries: yauzl.Entry[] = [];
    let declared = 0;
    for await (const entry of zip.eachEntry()) {
      if (entry.fileName.endsWith("/")) continue; // a folder
      entries.push(entry);
      declared += entry.uncompressedSize;
      if (entries.length > MAX_ENTRIES) throw new AppError("ARCHIVE_TOO_LARGE", `The archive has more than ${MAX_ENTRIES} files.`);
      if (declared > limits.maxUnzippedBytes) {
        throw new AppError("ARCHIVE_TOO_LARGE", `The archive expands to more than ${limits.maxUnzippedBytes} bytes.`);
      }
    }
    const files = new Map<string, Uint8Array>();
    for (const entry of entries) {
      const stream = await zip.openReadStreamPromise(entry);
      files.set(entry.fileName, Buffer.concat(await stream.toArray()));
    }
    return files;
  } catch (err) {
    throw err instanceof AppError ? err : corrupt(err);
  } finally {
    zip.close();
  }
}

const corrupt = (cause: unknown) =>
  new AppError("FILE_CORRUPT", "The file's ZIP archive is damaged, or an entry does not inflate to the size it declares.", { cause });
