import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../app-env";
import { notFound } from "../errors";
import { JOB_STATUSES, jobCounts } from "../ingest/job-store";
import { authenticate } from "../middleware/authenticate";
import { chargeRoute } from "../middleware/rate-limit";
import { authErrors, jsonResponse, notFoundError, security } from "../schemas";

export function createJobRoutes() {
  const jobRoutes = new OpenAPIHono<AppEnv>();

  const JobSchema = z
    .object({
      id: z.string(),
      status: z.enum(JOB_STATUSES).openapi({
        description:
          "done: every document indexed or skipped, and searchable; failed: finished, and at least one document failed (see errors; the rest are indexed)",
      }),
      documents: z.number().int().openapi({ description: "Documents in the job" }),
      processed: z.number().int().openapi({ description: "Documents indexed" }),
      skipped: z.number().int().openapi({ description: "Documents unchanged, superseded by a newer version, or deleted before indexing" }),
      failed: z.number().int(),
      chunks: z.number().int().openapi({ description: "Chunks written for the indexed documents" }),
      errors: z
        .array(z.object({ document_id: z.string(), error: z.string() }))
        .openapi({ description: "The failed documents (the first 1,000 by id), each with its error as `CODE: detail`" }),
      outcomes: z
        .array(
          z.object({
            document_id: z.string(),
            status: z.enum(["queued", "done", "skipped", "failed"]),
            chunks: z.number().int().optional().openapi({ description: "Chunks written (done only)" }),
            error: z.string().optional().openapi({ description: "Why it failed, as `CODE: detail` (failed only)" }),
          }),
        )
        .openapi({
          description:
            "Each document's outcome (the first 1,000 by id). A file or JSON Lines line refused before it was stored is listed under its own id (a line as `<file>#<line>`)",
        }),
      index_version: z.number().int().openapi({ description: "The tenant's current index version; queries report it too" }),
      created_at: z.string(),
      updated_at: z.string(),
    })
    .openapi("Job");

  const read = createRoute({
    method: "get",
    path: "/v1/jobs/{id}",
    operationId: "getJob",
    summary: "Progress and failures of an ingestion job",
    security,
    // Rate-limited in the handler, after validation: an invalid request costs no token.
    middleware: [authenticate({ role: "writer" })],
    request: {
      params: z.object({
        id: z
          .string()
          .regex(/^job_[0-9a-f]{32}$/, "not a job id")
          .openapi({ param: { name: "id", in: "path" } }),
      }),
    },
    responses: { 200: jsonResponse("The job", JobSchema), ...authErrors, ...notFoundError },
  });

  jobRoutes.openapi(read, async (c) => {
    const { id } = c.req.valid("param");
    await chargeRoute(c, "query");
    // Another tenant's job is indistinguishable from a missing one.
    const job = await c.var.services.tenantData(c.var.principal.tenant).job(id);
    if (!job) throw notFound(`job ${id}`);
    return c.json(
      {
        id: job.id,
        ...jobCounts(job),
        errors: job.errors,
        outcomes: job.outcomes,
        index_version: job.index_version,
        created_at: new Date(job.created_at).toISOString(),
        updated_at: new Date(job.updated_at).toISOString(),
      },
      200,
    );
  });
  return jobRoutes;
}
