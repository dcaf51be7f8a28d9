import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";

/**
 * What the index costs on disk in the local stack: the bytes of the local D1 database (documents,
 * chunks, FTS5) and of each Durable Object namespace (the local vector index lives in one), read
 * from the SQLite files wrangler keeps under the state directory, WAL included. Vectors are
 * counted from GET /v1/stats (raw float32 bytes = count × dimensions × 4).
 */
export interface StorageFigures {
  d1Bytes: number;
  /** Durable Object namespace directory → bytes. */
  durableObjects: Record<string, number>;
  documents: number;
  chunks: number;
  vectorDimensions: number;
  vectorRawBytes: number;
}

function bytesUnder(dir: string): number {
  if (!existsSync(dir)) return 0;
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += bytesUnder(path);
    else if (entry.isFile() && /\.sqlite(-wal|-shm)?$/.test(entry.name)) total += statSync(path).size;
  }
  return total;
}

export function localStorageBytes(stateDir: string): Pick<StorageFigures, "d1Bytes" | "durableObjects"> {
  const d1Bytes = bytesUnder(join(stateDir, "v3", "d1"));
  const doDir = join(stateDir, "v3", "do");
  const durableObjects: Record<string, number> = {};
  if (existsSync(doDir))
    for (const entry of readdirSync(doDir, { withFileTypes: true }))
      if (entry.isDirectory()) durableObjects[entry.name] = bytesUnder(join(doDir, entry.name));
  return { d1Bytes, durableObjects };
}

export async function indexStats(
  url: string,
  key: string,
): Promise<{ documents: number; chunks: number; vector_dimensions: number; embedding_model: string }> {
  const response = await fetch(`${url}/v1/stats`, { headers: { authorization: `Bearer ${key}` } });
  if (!response.ok) throw new Error(`GET /v1/stats answered ${response.status}`);
  return (await response.json()) as { documents: number; chunks: number; vector_dimensions: number; embedding_model: string };
}
