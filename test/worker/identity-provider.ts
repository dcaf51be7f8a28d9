import { createServer, type Server } from "node:http";
import { exportJWK, generateKeyPair, type JWK } from "jose";

/**
 * A real OpenID-style identity provider for the tests: key pairs (RS256, ES256, EdDSA) whose
 * public halves are served as a JWKS over HTTP. The private JWKs go to the tests (via provide)
 * so they can sign tokens the worker must verify.
 */
export const IDP_ISSUER = "https://idp.edge-rag.test/";
export const IDP_AUDIENCE = "edge-rag-test-api";

export interface IdentityProvider {
  jwksUrl: string;
  privateKeys: Record<"RS256" | "ES256" | "EdDSA", JWK>;
  /** A key pair whose public half is NOT published, for unknown-key tests. */
  strangerKey: JWK;
  close(): Promise<void>;
}

export async function startIdentityProvider(): Promise<IdentityProvider> {
  const algorithms = ["RS256", "ES256", "EdDSA"] as const;
  const publicKeys: JWK[] = [];
  const privateKeys = {} as IdentityProvider["privateKeys"];
  for (const alg of algorithms) {
    const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
    const kid = `test-${alg.toLowerCase()}`;
    publicKeys.push({ ...(await exportJWK(publicKey)), kid, alg, use: "sig" });
    privateKeys[alg] = { ...(await exportJWK(privateKey)), kid, alg };
  }
  const stranger = await generateKeyPair("RS256", { extractable: true });
  const strangerKey = { ...(await exportJWK(stranger.privateKey)), kid: "test-stranger", alg: "RS256" };

  const server: Server = createServer((request, response) => {
    if (request.url === "/.well-known/jwks.json") {
      response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: publicKeys }));
    } else {
      response.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    jwksUrl: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    privateKeys,
    strangerKey,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
