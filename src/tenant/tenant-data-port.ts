import { StoreUnavailable } from "../errors";
import type { TenantData } from "./tenant-data";

/**
 * How the worker reaches a tenant's data plane: the stub of the tenant's own TenantData object
 * (`idFromName(tenant)`, so every colo and isolate reaches the same single instance), created with
 * the tenant's location hint (`tenants.region`) so that its data sits near its users. A hint acts
 * only when the object is first created; an object never moves.
 *
 * Promise: the stub's RPC methods, each failure (the object overloaded, reset or unreachable, or a
 * method that threw) rejecting with StoreUnavailable (503, the cause kept for the logs), as the
 * guarded D1 binding does, so nothing above it recognises Durable Object errors by message.
 * Latency: one RPC round trip to the object's location per call, after the tenant's region (its
 * limits' row, cached in the isolate: tenant-limits.ts).
 */
export type TenantDataStub = DurableObjectStub<TenantData>;
export type TenantDataFor = (tenant: string) => TenantDataStub;

export function tenantDataFor(
  namespace: DurableObjectNamespace<TenantData>,
  regionOf: (tenant: string) => Promise<string | null> = async () => null,
): TenantDataFor {
  return (tenant) =>
    guardedStub(async () => {
      const region = await regionOf(tenant);
      return namespace.get(namespace.idFromName(tenant), region ? { locationHint: region as DurableObjectLocationHint } : undefined);
    });
}

/** A stub whose methods first resolve the object's stub, then call it, each rejection turned into StoreUnavailable. */
function guardedStub(resolve: () => Promise<TenantDataStub>): TenantDataStub {
  return new Proxy({} as TenantDataStub, {
    get(_target, property) {
      if (typeof property === "symbol" || property === "then") return undefined;
      return async (...args: unknown[]) => {
        try {
          const stub = await resolve();
          // Called through the stub, not `method.apply`: on an RPC stub, `apply` would be a remote method.
          return await Reflect.apply(Reflect.get(stub, property) as (...a: unknown[]) => unknown, stub, args);
        } catch (error) {
          throw new StoreUnavailable(error);
        }
      };
    },
  });
}
