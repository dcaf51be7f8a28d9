import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";

/**
 * A minimal kustomize, enough to render this repo's overlays offline (no kustomize binary or Go here).
 * Supports exactly the fields the manifests use and throws on any other, so it can never silently
 * render something `kubectl apply -k` would render differently:
 * - resources (files, or directories holding a kustomization.yaml), namespace, replicas,
 * - images (name → newName/newTag on container images),
 * - labels with includeSelectors: false (metadata labels only),
 * - patches by path: strategic-merge patches matched by apiVersion/kind/metadata.name, where maps merge
 *   recursively and lists of objects with a `name` merge item by item (containers, env, ports,
 *   volumes), other lists are replaced.
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
      objects[index] = strategicMerge(objects[index], patch) as K8sObject;
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

export function strategicMerge(base: unknown, patch: unknown): unknown {
  if (Array.isArray(base) && Array.isArray(patch)) {
    const named = (items: unknown[]) => items.every((i) => i !== null && typeof i === "object" && "name" in (i as object));
    if (!named(base) || !named(patch)) return structuredClone(patch);
    const merged = base.map((b) => structuredClone(b)) as { name: string }[];
    for (const item of patch as { name: string }[]) {
      const i = merged.findIndex((m) => m.name === item.name);
      if (i >= 0) merged[i] = strategicMerge(merged[i], item) as { name: string };
      else merged.push(structuredClone(item));
    }
    return merged;
  }
  if (isMap(base) && isMap(patch)) {
    const out: Record<string, unknown> = structuredClone(base);
    for (const [key, value] of Object.entries(patch)) out[key] = key in out ? strategicMerge(out[key], value) : structuredClone(value);
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
