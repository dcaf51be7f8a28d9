// zod's `fromJSONSchema`, which the bundle's "zod" leaves out of its namespace (see ./index.ts): its
// module copies the whole namespace when it loads, so it is imported only by what needs it (the MCP
// server's JSON Schema validator), which loads on the first /mcp request.
export { fromJSONSchema } from "../../node_modules/zod/v4/classic/from-json-schema.js";
