import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parser } from "@prometheus-io/lezer-promql";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { MAX_RERANK_TEXTS } from "../../../src/shared/origin-contract.ts";
import { type K8sObject, k8sDir, kustomize, strategicMerge } from "../../../tools/lib/kustomize.ts";

/**
 * The manifests are rendered with the minimal kustomize in tools/lib/kustomize.ts (no kustomize binary
 * needed; its output is held equal to kustomize's own in fixtures/rendered) and every object is validated against the Kubernetes OpenAPI schemas shipped in the
 * `kubernetes-models` package (KEDA's ScaledObject against its CRD schema in `@kubernetes-models/keda`);
 * then the deployment rules are checked across objects.
 */
async function validateSchema(o: K8sObject) {
  const [group, version] = o.apiVersion.includes("/") ? o.apiVersion.split("/") : [undefined, o.apiVersion];
  // KEDA's CRDs (ScaledObject) from @kubernetes-models/keda, generated from KEDA's own CRD schemas.
  const from = group === "keda.sh" ? "@kubernetes-models/keda" : "kubernetes-models";
  const module = await import(`${from}/${group ? `${group}/` : ""}${version}/${o.kind}`);
  new module[o.kind](o).validate(); // throws with the schema path on any violation
}

const overlays = readdirSync(join(k8sDir, "overlays"));
const rendered = Object.fromEntries(
  ["base", ...overlays].map((name) => [name, kustomize(join(k8sDir, name === "base" ? "base" : `overlays/${name}`))]),
);
const find = (objects: K8sObject[], kind: string, name: string) => {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) throw new Error(`${kind}/${name} missing`);
  return o as any;
};
/** Metric names a PromQL query selects, with its label matchers' text; throws on a syntax error. */
function promqlMetrics(expr: string): string[] {
  const names: string[] = [];
  parser.parse(expr).iterate({
    enter: (node) => {
      if (node.type.isError) throw new Error(`PromQL syntax error at ${node.from} in: ${expr}`);
      if (node.name === "Identifier" && node.node.parent?.name === "VectorSelector") names.push(expr.slice(node.from, node.to));
    },
  });
  return names;
}

/** The GPU servers and the Prometheus metrics each exports (vLLM v0.6 /metrics; TEI --prometheus-port). */
const GPU_SERVERS = {
  vllm: {
    model: "Qwen/Qwen2.5-7B-Instruct",
    metrics: ["vllm:num_requests_waiting", "vllm:num_requests_running", "vllm:gpu_cache_usage_perc"],
  },
  tei: { model: "BAAI/bge-base-en-v1.5", metrics: ["te_queue_size", "te_request_duration_bucket"] },
  "tei-reranker": { model: "BAAI/bge-reranker-base", metrics: ["te_queue_size", "te_request_duration_bucket"] },
} as const;

const matches = (selector: Record<string, string>, labels: Record<string, string>) =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);

describe("kustomize renderer (minimal, in-repo)", () => {
  it("happy: strategic merge merges maps, lists by their patch merge key (the patch's items first), replaces other lists", () => {
    const base = { spec: { replicas: 2, containers: [{ name: "a", env: [{ name: "X", value: "1" }], args: ["--a"] }] } };
    const patch = { spec: { containers: [{ name: "a", env: [{ name: "Y", value: "2" }], args: ["--b"] }, { name: "b" }] } };
    expect(strategicMerge(base, patch, "Deployment")).toEqual({
      spec: {
        replicas: 2,
        containers: [
          {
            name: "a",
            env: [
              { name: "Y", value: "2" },
              { name: "X", value: "1" },
            ],
            args: ["--b"],
          },
          { name: "b" },
        ],
      },
    });
    // Ports of a container merge by containerPort, not by name; a kind kustomize has no schema for replaces its lists.
    const ports = { spec: { containers: [{ name: "a", ports: [{ name: "http", containerPort: 80 }] }] } };
    const renamed = { spec: { containers: [{ name: "a", ports: [{ name: "web", containerPort: 80 }] }] } };
    expect(strategicMerge(ports, renamed, "Deployment")).toEqual(renamed);
    expect(strategicMerge({ items: [{ name: "x", a: 1 }] }, { items: [{ name: "x", b: 2 }] }, "ScaledObject")).toEqual({
      items: [{ name: "x", b: 2 }],
    });
  });

  // Rendered by kustomize itself: `kubectl kustomize <dir> > container/test/static/fixtures/rendered/<name>.yaml`
  // (kubectl v1.32, kustomize v5.5) for the fixture overlay and for container/k8s's base and overlays;
  // render again after changing a manifest.
  const fixtures = join(import.meta.dirname, "fixtures");
  const byId = (objects: K8sObject[]) => new Map(objects.map((o) => [`${o.apiVersion}/${o.kind}/${o.metadata.name}`, o]));
  const kustomized = (name: string) =>
    byId(parseAllDocuments(readFileSync(join(fixtures, "rendered", `${name}.yaml`), "utf8")).map((doc) => doc.toJS() as K8sObject));
  it.each([
    ["merge-keys", join(fixtures, "kustomize", "overlay")],
    ["base", join(k8sDir, "base")],
    ...overlays.map((name) => [name, join(k8sDir, "overlays", name)]),
  ])("happy: renders %s exactly as kustomize does, list order included", (name, dir) => {
    expect(byId(kustomize(dir!))).toEqual(kustomized(name!));
  });

  it("happy: overlays set namespace, image and their patches on top of the base", () => {
    const production = find(rendered.production!, "Deployment", "origin");
    expect(production.metadata.namespace).toBe("edge-rag");
    expect(production.spec.template.spec.containers[0].image).toBe("ghcr.io/edge-rag/origin:0.1.0");
    expect(production.spec.replicas).toBe(3);
    // The patch merged into the container instead of replacing it: env and probes survive.
    expect(production.spec.template.spec.containers[0].readinessProbe.httpGet.path).toBe("/readyz");
    expect(production.spec.template.spec.containers[0].resources.requests.cpu).toBe("1");
    const staging = find(rendered.staging!, "Deployment", "origin");
    expect(staging.metadata.namespace).toBe("edge-rag-staging");
    const env = staging.spec.template.spec.containers[0].env;
    expect(env.find((e: { name: string }) => e.name === "LOG_LEVEL").value).toBe("debug");
    expect(env.find((e: { name: string }) => e.name === "ORIGIN_JWT_SECRET").valueFrom).toBeDefined();
    expect(find(rendered.production!, "Deployment", "tei").spec.replicas).toBe(2);
  });

  it("error: fields it does not implement are refused, not ignored", () => {
    const dir = mkdtempSync(join(tmpdir(), "kustomize-"));
    try {
      writeFileSync(join(dir, "kustomization.yaml"), "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamePrefix: x-\n");
      expect(() => kustomize(dir)).toThrow(/unsupported field namePrefix/);
      writeFileSync(join(dir, "kustomization.yaml"), "kind: Kustomization\nresources: [../missing-patch-target]\n");
      expect(() => kustomize(dir)).toThrow();
    } finally {
      rmSync(dir, { recursive: true });
    }
    expect(() => kustomize(join(k8sDir, "does-not-exist"))).toThrow(/no kustomization.yaml/);
  });
});

for (const [name, objects] of Object.entries(rendered)) {
  describe(`k8s ${name}`, () => {
    it("happy: every object is valid against the Kubernetes schemas", async () => {
      expect(objects.length).toBeGreaterThanOrEqual(12);
      for (const o of objects) await expect(validateSchema(o), `${o.kind}/${o.metadata.name}`).resolves.toBeUndefined();
    });

    it("happy: the origin Deployment probes /healthz and /readyz, sets resources and runs locked down", () => {
      const deployment = find(objects, "Deployment", "origin");
      const pod = deployment.spec.template.spec;
      const container = pod.containers.find((c: { name: string }) => c.name === "origin");
      expect(container.livenessProbe.httpGet.path).toBe("/healthz");
      expect(container.readinessProbe.httpGet.path).toBe("/readyz");
      expect(container.ports.find((p: { name: string }) => p.name === container.readinessProbe.httpGet.port).containerPort).toBe(8788);
      expect(container.resources.requests.cpu).toBeDefined();
      expect(container.resources.requests.memory).toBeDefined();
      expect(container.resources.limits.memory).toBeDefined();
      expect(pod.securityContext.runAsNonRoot).toBe(true);
      expect(container.securityContext).toMatchObject({
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ["ALL"] },
      });
      expect(pod.automountServiceAccountToken).toBe(false);
    });

    it("security: secrets come from Secret refs, never literal values", () => {
      for (const o of objects.filter((x) => x.kind === "Deployment")) {
        for (const c of (o as any).spec.template.spec.containers) {
          for (const e of c.env ?? []) {
            if (/SECRET|TOKEN|API_KEY|PASSWORD/.test(e.name)) {
              expect(e.value, `${o.metadata.name}/${e.name}`).toBeUndefined();
              expect(e.valueFrom?.secretKeyRef?.name, `${o.metadata.name}/${e.name}`).toBeTruthy();
            }
          }
        }
      }
    });

    it("happy: TEI and vLLM run on GPU nodes and the origin is wired to them", () => {
      for (const gpu of ["tei", "vllm"]) {
        const container = find(objects, "Deployment", gpu).spec.template.spec.containers[0];
        expect(container.resources.limits["nvidia.com/gpu"]).toBe(1);
      }
      const env = Object.fromEntries(
        find(objects, "Deployment", "origin").spec.template.spec.containers[0].env.map((e: { name: string; value?: string }) => [
          e.name,
          e.value,
        ]),
      );
      expect(env).toMatchObject({
        EMBEDDINGS_BACKEND: "openai",
        GENERATION_BACKEND: "openai",
        EMBEDDINGS_URL: "http://tei/v1",
        GENERATION_URL: "http://vllm/v1",
      });
      find(objects, "Service", "tei");
      find(objects, "Service", "vllm");
      // TEI's OpenAI route truncates only with this flag: else one long input fails its whole batch (413).
      expect(find(objects, "Deployment", "tei").spec.template.spec.containers[0].args).toContain("--auto-truncate");
    });

    it("happy: the origin's RERANK_URL names the Service of the cross-encoder TEI, on a port it serves", () => {
      const env = find(objects, "Deployment", "origin").spec.template.spec.containers[0].env;
      const value = env.find((e: { name: string }) => e.name === "RERANK_URL")?.value;
      expect(value, "RERANK_URL is unset: /v1/rerank would answer 503").toBeDefined();
      const url = new URL(value);
      // A Service in the same namespace: `name`, or `name.<namespace>[.svc[.cluster.local]]`.
      const [serviceName, namespace] = url.hostname.split(".");
      if (namespace) expect(namespace).toBe(find(objects, "Deployment", "origin").metadata.namespace);
      const service = find(objects, "Service", serviceName!);
      const port = Number(url.port || (url.protocol === "https:" ? 443 : 80));
      expect(service.spec.ports.map((p: { port: number }) => p.port)).toContain(port);
      const target = (objects.filter((o) => o.kind === "Deployment") as any[]).find((d) =>
        matches(service.spec.selector, d.spec.template.metadata.labels),
      );
      expect(target?.spec.template.spec.containers[0].args.join(" "), serviceName).toContain("BAAI/bge-reranker-base");
    });

    it("happy: every Service selects pods and targets a named container port", () => {
      const deployments = objects.filter((o) => o.kind === "Deployment") as any[];
      for (const service of objects.filter((o) => o.kind === "Service") as any[]) {
        const target = deployments.find((d) => matches(service.spec.selector, d.spec.template.metadata.labels));
        expect(target, service.metadata.name).toBeDefined();
        const ports = target.spec.template.spec.containers.flatMap((c: { ports?: { name: string }[] }) => c.ports ?? []);
        for (const p of service.spec.ports) expect(ports.map((x: { name: string }) => x.name)).toContain(p.targetPort);
      }
    });

    it("happy: the Ingress serves only /v1 over TLS to the origin Service", () => {
      const ingress = find(objects, "Ingress", "origin");
      const ruleHosts = ingress.spec.rules.map((r: { host: string }) => r.host);
      expect(ingress.spec.tls[0].secretName).toBeTruthy();
      expect(ingress.spec.tls[0].hosts).toEqual(ruleHosts);
      const paths = ingress.spec.rules.flatMap((r: any) => r.http.paths);
      // The worker's /ready reads the authenticated /v1/readyz; /healthz, /readyz and /metrics stay in-cluster.
      expect(paths.map((p: { path: string }) => p.path)).toEqual(["/v1"]);
      for (const p of paths) {
        const service = find(objects, "Service", p.backend.service.name);
        expect(service.spec.ports.map((x: { name: string }) => x.name)).toContain(p.backend.service.port.name);
      }
    });

    it("happy: the HPA scales the origin on CPU and request rate; the PDB covers its pods", () => {
      const hpa = find(objects, "HorizontalPodAutoscaler", "origin");
      expect(hpa.spec.scaleTargetRef).toMatchObject({ kind: "Deployment", name: "origin" });
      expect(hpa.spec.metrics.find((m: any) => m.type === "Resource").resource.name).toBe("cpu");
      expect(hpa.spec.metrics.find((m: any) => m.type === "Pods").pods.metric.name).toBe("origin_http_requests_per_second");
      expect(hpa.spec.minReplicas).toBeLessThanOrEqual(hpa.spec.maxReplicas);
      const pdb = find(objects, "PodDisruptionBudget", "origin");
      const labels = find(objects, "Deployment", "origin").spec.template.metadata.labels;
      expect(matches(pdb.spec.selector.matchLabels, labels)).toBe(true);
    });

    it("security: NetworkPolicies let only the ingress controller (and Prometheus) reach the origin, and only the origin reach TEI/vLLM", () => {
      const origin = find(objects, "NetworkPolicy", "origin");
      expect(origin.spec.policyTypes).toContain("Ingress");
      const sources = origin.spec.ingress.flatMap((rule: any) =>
        rule.from.map((f: any) => f.namespaceSelector?.matchLabels["kubernetes.io/metadata.name"]),
      );
      expect(sources.sort()).toEqual(["ingress-nginx", "monitoring"]);
      for (const gpu of ["tei", "tei-reranker", "vllm"]) {
        const policy = find(objects, "NetworkPolicy", gpu);
        const container = find(objects, "Deployment", gpu).spec.template.spec.containers[0];
        const serving = container.ports.find((p: { name: string }) => p.name === "http").containerPort;
        // The origin calls the API port; Prometheus (monitoring namespace) may scrape the metrics port only.
        expect(policy.spec.ingress).toHaveLength(2);
        expect(policy.spec.ingress[0]).toEqual({
          from: [{ podSelector: { matchLabels: { "app.kubernetes.io/name": "origin" } } }],
          ports: [{ port: serving, protocol: "TCP" }],
        });
        const scrape = policy.spec.ingress[1];
        expect(scrape.from[0].namespaceSelector.matchLabels["kubernetes.io/metadata.name"]).toBe("monitoring");
        expect(scrape.ports).toEqual([
          { port: Number(find(objects, "Deployment", gpu).spec.template.metadata.annotations["prometheus.io/port"]), protocol: "TCP" },
        ]);
      }
      const egress = origin.spec.egress.flatMap((rule: any) =>
        rule.to.map((t: any) => t.podSelector?.matchLabels["app.kubernetes.io/name"]),
      );
      expect(egress.filter(Boolean).sort()).toEqual(["tei", "tei-reranker", "vllm"]);
    });

    it("happy: the GPU tier loads weights from the model-cache PVC and its startup probes wait out a cold load", () => {
      const pvc = find(objects, "PersistentVolumeClaim", "model-cache");
      expect(pvc.spec.accessModes).toEqual(["ReadWriteMany"]);
      for (const [server, { model }] of Object.entries(GPU_SERVERS)) {
        const pod = find(objects, "Deployment", server).spec.template.spec;
        const container = pod.containers[0];
        const volume = pod.volumes.find((v: any) => v.persistentVolumeClaim?.claimName === "model-cache");
        expect(volume, server).toBeDefined();
        const mount = container.volumeMounts.find((m: { name: string }) => m.name === volume.name);
        // The server's Hugging Face cache is inside the mounted volume.
        const cache =
          container.env.find((e: { name: string }) => e.name === "HF_HOME")?.value ??
          container.args[container.args.indexOf("--huggingface-hub-cache") + 1];
        expect(cache, server).toMatch(new RegExp(`^${mount.mountPath}(/|$)`));
        expect(container.args.join(" "), server).toContain(model);
        const { periodSeconds, failureThreshold, httpGet } = container.startupProbe;
        // vLLM: download ~15 GB + load + CUDA graphs (30 min allowed); TEI: < 1.5 GB (10 min).
        expect(periodSeconds * failureThreshold, server).toBeGreaterThanOrEqual(server === "vllm" ? 1800 : 600);
        expect(container.readinessProbe.httpGet.path).toBe(httpGet.path);
        expect(container.livenessProbe).toBeDefined();
      }
    });

    it("happy: rolling updates never drop below serving capacity, and a PDB covers every Deployment", () => {
      for (const deployment of objects.filter((o) => o.kind === "Deployment") as any[]) {
        const label = deployment.metadata.name;
        expect(deployment.spec.strategy.type, label).toBe("RollingUpdate");
        expect(deployment.spec.strategy.rollingUpdate, label).toEqual({ maxSurge: 1, maxUnavailable: 0 });
        const pdbs = objects.filter(
          (o) =>
            o.kind === "PodDisruptionBudget" && matches((o as any).spec.selector.matchLabels, deployment.spec.template.metadata.labels),
        ) as any[];
        expect(pdbs, label).toHaveLength(1);
        expect(pdbs[0].spec.maxUnavailable, label).toBe(1);
      }
    });

    it("happy: a cross-encoder reranker (TEI, bge-reranker-base) runs beside TEI behind its own Service", () => {
      const reranker = find(objects, "Deployment", "tei-reranker").spec.template.spec.containers[0];
      expect(reranker.image).toBe(find(objects, "Deployment", "tei").spec.template.spec.containers[0].image);
      expect(reranker.args.slice(0, 2)).toEqual(["--model-id", "BAAI/bge-reranker-base"]);
      expect(reranker.resources.limits["nvidia.com/gpu"]).toBe(1);
      expect(find(objects, "Service", "tei-reranker").spec.ports[0].targetPort).toBe("http");
      // TEI refuses a request with more texts than this: one rerank call must fit whole.
      const batch = reranker.args[reranker.args.indexOf("--max-client-batch-size") + 1];
      expect(Number(batch)).toBeGreaterThanOrEqual(MAX_RERANK_TEXTS);
    });

    if (name === "production") {
      it("happy: production runs two of each GPU server, and KEDA scales each on its own load metrics", () => {
        const namespace = find(objects, "Deployment", "vllm").metadata.namespace;
        for (const [server, { metrics }] of Object.entries(GPU_SERVERS)) {
          const deployment = find(objects, "Deployment", server);
          const scaled = find(objects, "ScaledObject", server);
          expect(deployment.spec.replicas, server).toBeGreaterThanOrEqual(2);
          expect(scaled.spec.scaleTargetRef).toMatchObject({ kind: "Deployment", name: server });
          // apply never lowers a count KEDA raised: the manifest's replicas stay at KEDA's floor.
          expect(scaled.spec.minReplicaCount, server).toBe(deployment.spec.replicas);
          expect(scaled.spec.maxReplicaCount, server).toBeGreaterThan(scaled.spec.minReplicaCount);
          expect(scaled.spec.triggers.length, server).toBeGreaterThanOrEqual(1);
          for (const trigger of scaled.spec.triggers) {
            expect(trigger.type).toBe("prometheus");
            expect(Number(trigger.metadata.threshold), trigger.name).toBeGreaterThan(0);
            const selected = promqlMetrics(trigger.metadata.query);
            expect(selected.length, trigger.name).toBeGreaterThan(0);
            for (const metric of selected) expect(metrics as readonly string[], `${trigger.name}: ${metric}`).toContain(metric);
            // Only this namespace's pods of this server (TEI's pattern must not match the reranker's pods).
            expect(trigger.metadata.query, trigger.name).toContain(`namespace="${namespace}"`);
            const podPattern = new RegExp(`^${/pod=~"([^"]+)"/.exec(trigger.metadata.query)![1]}$`);
            expect(podPattern.test(`${server}-7d9f8c6b5-x2x9q`), trigger.name).toBe(true);
            for (const other of Object.keys(GPU_SERVERS).filter((s) => s !== server))
              expect(podPattern.test(`${other}-7d9f8c6b5-x2x9q`), `${trigger.name} vs ${other}`).toBe(false);
          }
        }
        // vLLM scales on its queue (requests waiting), the signal that the GPUs are saturated.
        expect(
          find(objects, "ScaledObject", "vllm")
            .spec.triggers.map((t: any) => t.metadata.query)
            .join(" "),
        ).toContain("vllm:num_requests_waiting");
      });

      it("error: the KEDA check catches a broken query or a metric vLLM does not export", () => {
        expect(() => promqlMetrics('sum(vllm:num_requests_waiting{namespace="edge-rag"}')).toThrow(/syntax error/);
        expect(promqlMetrics("sum(vllm:num_requests_queued)")).toEqual(["vllm:num_requests_queued"]);
        expect(GPU_SERVERS.vllm.metrics as readonly string[]).not.toContain("vllm:num_requests_queued");
      });

      it("happy: production pins the image and keeps at least 3 replicas", () => {
        expect(find(objects, "Deployment", "origin").spec.template.spec.containers[0].image).not.toMatch(/:latest$/);
        expect(find(objects, "HorizontalPodAutoscaler", "origin").spec.minReplicas).toBeGreaterThanOrEqual(3);
      });
    }
  });
}
