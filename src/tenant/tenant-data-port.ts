import { StoreUnavailable } from "../errors";
import type { TenantData } from "./tenant-data";

/**
 * How the worker reaches a tenant's data plane: the stub of the tenant's own TenantData object
 * (`idFromName(tenant)`, so every colo and isolate reaches the same single instance).
 *
 * Promise: the stub's RPC methods, each failure (the object overloaded, reset or unreachable, or a
 * method that threw) rejecting with StoreUnavailable (503, the cause kept for the logs), as the
 * guarded D1 binding does, so nothing above it recognises Durable Object errors by message.
 * Latency: one RPC round trip to the object's location per call; getting a stub costs nothing.
 */
export type TenantDataStub = DurableObjectStub<TenantData>;
export type TenantDataFor = (tenant: string) => TenantDataStub;

export function tenantDataFor(namespace: DurableObjectNamespace<TenantData>): TenantDataFor {
  return (tenant) => guardStub(namespace.get(namespace.idFromName(tenant)));
}

/** The stub with each method's rejection turned into StoreUnavailable. */
function guardStub(stub: TenantDataStub): TenantDataStub {
  return new Proxy(stub, {
    get(target, property) {
      const member = Reflect.get(target, property);
      if (typeof member !== "function") return member;
      return async (...args: unknown[]) => {
        try {
          // Reflect.apply: `member.apply` would be read as an RPC method of that name.
          return await Reflect.apply(member, target, args);
        } catch (error) {
          throw new StoreUnavailable(error);
        }
      };
    },
  });
}
