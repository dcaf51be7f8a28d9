import { createWorker } from "./worker";
import { servicesFactory } from "./services";

/**
 * The production (and staging) entry: Vectorize is the vector index. The local stand-ins are not
 * imported here, so they are not in the deployed bundle (test/tools/deploy.test.ts checks).
 */
export default createWorker(
  servicesFactory((env) => {
    if (!env.VECTORIZE) throw new Error("the VECTORIZE binding is missing: bind the Vectorize index in wrangler.toml");
    return { vectors: env.VECTORIZE };
  }),
);
