import { productionPlatform } from "./production-platform";
import { servicesFactory } from "./services";
import { createWorker } from "./worker";

/**
 * The production (and staging) entry: the deployed platform adapters (production-platform.ts). The
 * local stand-ins are not imported here, so they are not in the deployed bundle
 * (test/tools/deploy.test.ts checks). A miss runs in the query backend Worker (backend.ts) through
 * the BACKEND binding.
 */
export default createWorker(servicesFactory(productionPlatform));

export { TenantData } from "./tenant/tenant-data";
