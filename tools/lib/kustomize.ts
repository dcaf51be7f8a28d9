import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";

/**
 * A minimal kustomize, enough to render this repo's overlays offline (no kustomize binary or Go
 * needed). It reads exactly the fields the manifests use and throws on any other kustomization
 * field or patch directive:
 * - resources (files, or directories holding a kustomization.yaml), namespace, replicas,
 * - images (name → newName/newTag on container images),
 * - labels with includeSelectors: false (metadata labels only),
 * - patches by path: strategic-merge patches matched by apiVersion/kind/metadata.name. Maps merge
 *   recursively and a null deletes; on the built-in workload and Service kinds, lists merge by
 *   Kubernetes' patch merge keys (MERGE_KEYS: containers, env and volumes by name, container ports
 *   by containerPort, Service ports by port, volumeMounts by mountPath), the patch's items first,
 *   then the base's others, as kustomize orders them; every other list is replaced.
 * Its promise is narrower than kustomize's: container/test/static/k8s.test.ts holds its output
 * equal to `kubectl kustomize` (kustomize v5.5) for this repo's base, overlays and a merge-key
 * fixture; anything else it renders is unchecked.
 */
export type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
};

/** The fields of a kustomization.yaml this renderer reads. */
interface Kustomization {
  kind?: string;
  resources?: string[];
  namespace?: string;
  images?: { name: string; newName?: string; newTag?: string }[];
  labels?: { pairs?: Record<string, string>; includeSelectors?: boolean }[];
  patches?: { path?: string }[];
  replicas?: { name: string; count: number }[];
}

type PodSpec = { containers?: { image: string }[]; initContainers?: { image: string }[] };

const SUPPORTED = new Set(["apiVersion", "kind", "resources", "namespace", "images", "labels", "patches", "replicas"]);
const CLUSTER_SCOPED = new Set(["Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"]);

function readYaml(file: string): K8sObject[] {
  return parseAllDocuments(readFileSync(file, "utf8"))
    .map((doc) => {
      if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]!.message}`);
      return doc.toJS() as K8sObject | null;
    })
    .filter((o): o is K8sObject => o !== null);
}

export function kustomize(dir: string): K8sObject[] {
  const file = join(dir, "kustomization.yaml");
  if (!existsSync(file)) throw new Error(`${dir}: no kustomization.yaml`);
  const k = readYaml(file)[0] as unknown as Kustomization;
  for (const key of Object.keys(k)) if (!SUPPORTED.has(key)) throw new Error(`${file}: unsupported field ${key}`);
  if (k.kind !== "Kustomization") throw new Error(`${file}: kind must be Kustomization`);

  let objects: K8sObject[] = (k.resources ?? []).flatMap((entry: string) => {
    const path = resolve(dir, entry);
    return statSync(path).isDirectory() ? kustomize(path) : readYaml(path);
  });
  const ids = objects.map(idOf);
  const duplicate = ids.find((id, i) => ids.indexOf(id) !== i);
  if (duplicate) throw new Error(`${file}: duplicate resource ${duplicate}`);

  for (const patchRef of k.patches ?? []) {
    if (!patchRef.path || Object.keys(patchRef).length !== 1) throw new Error(`${file}: only patches with a path are supported`);
    for (const patch of readYaml(resolve(dir, patchRef.path))) {
      const index = objects.findIndex((o) => idOf(o) === idOf(patch));
      if (index < 0) throw new Error(`${file}: patch target ${idOf(patch)} not found`);
      objects[index] = strategicMerge(objects[index], patch, patch.kind) as K8sObject;
    }
  }
  for (const { name, count } of k.replicas ?? []) {
    const target = objects.find((o) => o.metadata.name === name && ["Deployment", "StatefulSet"].includes(o.kind));
    if (!target) throw new Error(`${file}: replicas target ${name} not found`);
    (target.spec as Record<string, unknown>).replicas = count;
  }
  for (const image of k.images ?? []) {
    objects = objects.map((o) => rewriteImages(o, image));
  }
  for (const label of k.labels ?? []) {
    if (label.includeSelectors !== false) throw new Error(`${file}: only labels with includeSelectors: false are supported`);
    for (const o of objects) o.metadata.labels = { ...o.metadata.labels, ...label.pairs };
  }
  if (k.namespace) {
    for (const o of objects) if (!CLUSTER_SCOPED.has(o.kind)) o.metadata.namespace = k.namespace;
  }
  return objects;
}

const idOf = (o: K8sObject) => `${o.apiVersion}/${o.kind}/${o.metadata?.name}`;

/** Kinds whose lists merge by patch merge key; kustomize replaces the lists of kinds it has no schema for. */
const BUILT_IN = new Set(["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "Pod", "Service"]);

/** Kubernetes' patchMergeKey of a list field (core/v1 types.go); `ports` depends on whose ports they are. */
const MERGE_KEYS: Record<string, string> = {
  containers: "name",
  initContainers: "name",
  ephemeralContainers: "name",
  env: "name",
  volumes: "name",
  imagePullSecrets: "name",
  volumeMounts: "mountPath",
  volumeDevices: "devicePath",
  hostAliases: "ip",
  topologySpreadConstraints: "topologyKey",
};

const CONTAINER_LISTS = new Set(["containers", "initContainers", "ephemeralContainers"]);

const mergeKeyOf = (kind: string, path: readonly string[]): string | undefined => {
  if (!BUILT_IN.has(kind)) return undefined;
  const field = path.at(-1)!;
  if (field !== "ports") return MERGE_KEYS[field];
  return path.some((step) => CONTAINER_LISTS.has(step)) ? "containerPort" : "port";
};

/** A strategic-merge patch of one object of this kind (see the header for what it covers). */
export function strategicMerge(base: unknown, patch: unknown, kind: string, path: readonly string[] = []): unknown {
  if (Array.isArray(base) && Array.isArray(patch)) {
    const key = mergeKeyOf(kind, path);
    if (!key) return structuredClone(patch);
    const keyOf = (item: unknown) => {
      if (!isMap(item) || !(key in item)) throw new Error(`${path.join(".")}: an item without its merge key ${key}`);
      return item[key];
    };
    const patchKeys = new Set(patch.map(keyOf));
    const merged = patch.map((item) => {
      const original = base.find((candidate) => keyOf(candidate) === keyOf(item));
      return original === undefined ? structuredClone(item) : strategicMerge(original, item, kind, path);
    });
    return [...merged, ...base.filter((item) => !patchKeys.has(keyOf(item))).map((item) => structuredClone(item))];
  }
  if (isMap(base) && isMap(patch)) {
    const out: Record<string, unknown> = structuredClone(base);
    for (const [key, value] of Object.entries(patch)) {
      if (key.startsWith("$")) throw new Error(`${[...path, key].join(".")}: patch directives are not supported`);
      if (value === null) delete out[key];
      else out[key] = key in out ? strategicMerge(out[key], value, kind, [...path, key]) : structuredClone(value);
    }
    return out;
  }
  return structuredClone(patch);
}

const isMap = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);

function rewriteImages(o: K8sObject, image: { name: string; newName?: string; newTag?: string }): K8sObject {
  const pod = (o.spec as { template?: { spec?: PodSpec } } | undefined)?.template?.spec;
  if (!pod) return o;
  for (const c of [...(pod.containers ?? []), ...(pod.initContainers ?? [])]) {
    const [name, tag] = splitImage(c.image);
    if (name === image.name) c.image = `${image.newName ?? name}:${image.newTag ?? tag ?? "latest"}`;
  }
  return o;
}

function splitImage(ref: string): [string, string | undefined] {
  const slash = ref.lastIndexOf("/");
  const colon = ref.lastIndexOf(":");
  return colon > slash ? [ref.slice(0, colon), ref.slice(colon + 1)] : [ref, undefined];
}

/** The origin's manifests: container/k8s. */
export const k8sDir = resolve(dirname(fileURLToPath(import.meta.url)), "../../container/k8s");
