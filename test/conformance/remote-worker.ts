/** Placeholder entry point of the remote conformance config: the tests use only its bindings. */
export default {
  fetch(): Response {
    return new Response("edge-rag Vectorize conformance", { status: 404 });
  },
} satisfies ExportedHandler;
