/**
 * Cloudflare's Durable Object location hints: where a tenant's object is created when its
 * `tenants.region` names one (D1 migration 0011 holds the column to these values). A hint acts only
 * when the object is first created; an object never moves.
 */
export const LOCATION_HINTS = ["wnam", "enam", "sam", "weur", "eeur", "apac", "oc", "afr", "me"] as const;

export type LocationHint = (typeof LOCATION_HINTS)[number];

export const isLocationHint = (value: unknown): value is LocationHint => (LOCATION_HINTS as readonly unknown[]).includes(value);
