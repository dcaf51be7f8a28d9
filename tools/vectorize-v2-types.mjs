// `wrangler types` declares every [[vectorize]] binding with the V1 type `VectorizeIndex`; this
// project's index is V2, whose binding type is `Vectorize` (queryById, namespaces, mutation ids).
// Rewriting the generated declaration keeps the binding typed without casts in the source.
import { readFileSync, writeFileSync } from "node:fs";

const file = process.argv[2];
const text = readFileSync(file, "utf8");
writeFileSync(file, text.replace(/\bVectorizeIndex\b/g, "Vectorize"));
