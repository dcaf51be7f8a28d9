import { DurableObject } from "cloudflare:workers";

/** Placeholder: replaced by the Vectorize-compatible local index. */
export class LocalVectorIndex extends DurableObject {}
