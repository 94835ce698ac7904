import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';

export const WEB_DIR = path.resolve(__dirname, '../../examples/web');
export const MANIFEST = path.join(WEB_DIR, 'src/gql/persisted-documents.json');
export const ARTIFACTS = path.resolve(__dirname, '../../test-artifacts');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Why the browser tests cannot run here, or null. Printed, never swallowed. */
export function browserSkipReason(): string | null {
  if (!fs.existsSync(CHROMIUM)) {
    return `browser tests SKIPPED: no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH); .ci/run installs it`;
  }
  if (!fs.existsSync(path.join(WEB_DIR, 'node_modules'))) {
    return 'browser tests SKIPPED: examples/web has no node_modules (run `npm --prefix examples/web ci`); .ci/run does';
  }
  return null;
}

/** Builds the example client (codegen, type check, vite build): the tests run what ships. */
export function buildClient(): void {
  const res = spawnSync('npm', ['run', 'build'], { cwd: WEB_DIR, encoding: 'utf8', timeout: 240_000 });
  if (res.status !== 0) throw new Error(`examples/web build failed:\n${res.stdout}\n${res.stderr}`);
}

export function launchChromium(): Promise<Browser> {
  // launch() gives every browser a fresh, temporary --user-data-dir of its own.
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Without the background-networking flags Chromium keeps calling Google's services.
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/**
 * Serves the built client on 127.0.0.1 (a different origin from the API, so CORS is real).
 * Each `mounts` prefix is the same app with its own /config.json, pointing at its own server.
 */
export async function serveClient(): Promise<{ origin: string; mount(prefix: string, apiUrl: string): void; close(): Promise<void> }> {
  const dist = path.join(WEB_DIR, 'dist');
  const configs = new Map<string, string>();
  const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.json': 'application/json', '.map': 'application/json' };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x').pathname;
    const prefix = url.split('/')[1] ?? '';
    if (url === `/${prefix}/config.json` && configs.has(prefix)) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(configs.get(prefix));
      return;
    }
    const file = url.startsWith('/assets/') ? path.join(dist, path.normalize(url)) : path.join(dist, 'index.html');
    if (!file.startsWith(dist) || !fs.existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': types[path.extname(file)] ?? 'application/octet-stream' }).end(fs.readFileSync(file));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    mount: (prefix, apiUrl) => configs.set(prefix, JSON.stringify({ apiUrl })),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
