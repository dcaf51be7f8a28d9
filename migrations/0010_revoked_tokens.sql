-- Signed-out tokens (POST /v1/auth/logout, issue 25): this service's own tokens, by `jti`, until
-- they expire. `subject` is the token's `sub` (`user:<name>`, `key:<id>`): an isolate reads one
-- subject's rows at a time and caches them (src/auth/revoked-tokens.ts). Rows past `expires_at`
-- (epoch seconds) mean nothing and are deleted when the subject signs out again.
CREATE TABLE revoked_tokens (
  jti TEXT PRIMARY KEY,
  subject TEXT NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX revoked_tokens_by_subject ON revoked_tokens (subject, expires_at);
