#!/usr/bin/env bash
# The Dockerfile's steps, outside a container (no container engine on these machines): a copy of
# the committed tree, npm ci, build, dev dependencies pruned, then the compiled server started in
# production mode with a Clerk-style public key, /healthz, and one query with a token really signed
# by the matching private key and verified by the server.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="$(mktemp -d -t jobledger-image-XXXXXX)"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "image-smoke: copying the committed tree to $WORK/app"
mkdir -p "$WORK/app"
git -C "$ROOT" ls-files -z | (cd "$ROOT" && xargs -0 cp --parents -t "$WORK/app")
cd "$WORK/app"

echo "image-smoke: build stage (npm ci, npm run build, npm prune --omit=dev)"
npm ci --no-audit --no-fund --loglevel=error
npm run build --silent
npm prune --omit=dev --no-audit --no-fund --loglevel=error
for dev in tsx typescript jest esbuild; do
  if [ -e "node_modules/$dev" ]; then echo "image-smoke: FAIL: dev dependency $dev is still installed"; exit 1; fi
done
rm -rf src/*.ts src/*/ test bench # the runtime stage copies dist/ only: prove nothing reads src/

echo "image-smoke: a Clerk-style key pair; the server gets only the public key"
node -e '
  const { generateSigningKey } = require("./dist/src/auth/devIssuer");
  const k = generateSigningKey();
  require("fs").writeFileSync("key.json", JSON.stringify(k));
  require("fs").writeFileSync("public.pem", k.publicPem);
'

echo "image-smoke: runtime stage (node dist/src/cli.js serve, NODE_ENV=production)"
ISSUER="https://smoke-test.clerk.accounts.dev"
env -i PATH="$PATH" HOME="$HOME" NODE_ENV=production HOST=127.0.0.1 PORT=0 DATA_DIR="$WORK/data" \
  CLERK_JWT_KEY="$(cat public.pem)" CLERK_ISSUER="$ISSUER" CLERK_TELEMETRY_DISABLED=1 WORKER_ENABLED=false \
  node dist/src/cli.js serve >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
URL=""
for _ in $(seq 1 120); do
  URL="$(grep -o 'listening on http://[^ ]*' "$WORK/server.log" | head -n1 | cut -d' ' -f3 || true)"
  [ -n "$URL" ] && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log"; echo "image-smoke: FAIL: the server exited"; exit 1; }
  sleep 0.5
done
[ -n "$URL" ] || { cat "$WORK/server.log"; echo "image-smoke: FAIL: the server did not start"; exit 1; }
BASE="${URL%/graphql}"

HEALTH="$(node -e 'fetch(process.argv[1]).then(async r => console.log(r.status, await r.text()))' "$BASE/healthz")"
echo "image-smoke: /healthz -> $HEALTH"
[ "$HEALTH" = '200 {"status":"ok"}' ] || { echo "image-smoke: FAIL: /healthz"; exit 1; }

node -e '
  const { signSessionToken } = require("./dist/src/auth/devIssuer");
  const key = JSON.parse(require("fs").readFileSync("key.json", "utf8"));
  const [url, iss] = process.argv.slice(1);
  (async () => {
    const token = await signSessionToken(key, iss, { userId: "user_smoke" });
    const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${token}` }, body: JSON.stringify({ query: "{ viewer { userId roles } }" }) });
    const body = await res.text();
    console.log(`image-smoke: authenticated query -> ${res.status} ${body}`);
    if (res.status !== 200 || JSON.parse(body).data?.viewer?.userId !== "user_smoke") process.exit(1);
    const bad = await fetch(url, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${token.slice(0, -4)}AAAA` }, body: JSON.stringify({ query: "{ viewer { userId } }" }) });
    console.log(`image-smoke: tampered token -> ${bad.status}`);
    if (bad.status !== 401) process.exit(1);
  })().catch((e) => { console.error(e); process.exit(1); });
' "$URL" "$ISSUER" || { cat "$WORK/server.log"; echo "image-smoke: FAIL: authenticated query"; exit 1; }

kill -TERM "$SERVER_PID"
wait "$SERVER_PID" && CODE=0 || CODE=$?
SERVER_PID=""
[ "$CODE" = 0 ] || { cat "$WORK/server.log"; echo "image-smoke: FAIL: SIGTERM exit $CODE"; exit 1; }
echo "image-smoke: OK (built, dev dependencies pruned, compiled server answered, stopped on SIGTERM)"
