// What every end-to-end file needs: the REAL backend (gunicorn, buffalo_s, a temp
// SQLite database) serving the production build, and Debian's headless Chromium
// through playwright-core. Missing Chromium, models or LFW fail loudly.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const FRONTEND = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const ROOT = resolve(FRONTEND, '..');
const SHARED = process.env.LIKENESS_SHARED || resolve(ROOT, '../shared');
export const MODEL_ROOT = process.env.LIKENESS_TEST_MODEL_ROOT || join(SHARED, 'models');
export const LFW = join(process.env.LIKENESS_TEST_LFW_DIR || join(SHARED, 'datasets/lfw'), 'lfw-deepfunneled');
const CHROMIUM = process.env.LIKENESS_CHROMIUM || '/usr/bin/chromium';
export const VENV = join(ROOT, '.venv/bin');
const DIST = join(FRONTEND, 'dist');
/** `npm run screenshot` refreshes the committed pictures in docs/img/. */
export const SCREENSHOTS = process.env.LIKENESS_E2E_SCREENSHOT === '1' ? join(ROOT, 'docs/img') : null;

export const photo = (name, n) => join(LFW, name, `${name}_${String(n).padStart(4, '0')}.jpg`);

/** The first `count` photos of a person in the LFW folder (the set may be a subset). */
export function photosOf(name, count) {
  const folder = join(LFW, name);
  requireFile(folder, `LFW folder of ${name} (set LIKENESS_SHARED)`);
  const files = readdirSync(folder).filter((f) => f.endsWith('.jpg')).sort();
  if (files.length < count) throw new Error(`e2e: LFW has ${files.length} photos of ${name}, not ${count}`);
  return files.slice(0, count).map((f) => join(folder, f));
}

export function requireFile(path, what) {
  if (!existsSync(path)) throw new Error(`e2e: ${what} not found at ${path}`);
}

function freePort() {
  return new Promise((ok, fail) => {
    const probe = createServer();
    probe.unref();
    probe.on('error', fail);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => ok(port));
    });
  });
}

/** Run the backend's Python with `args`; its standard output, trimmed. */
export function python(args, env = {}) {
  const run = spawnSync(join(VENV, 'python'), args, { encoding: 'utf8', env: { ...process.env, ...env } });
  if (run.status !== 0) throw new Error(`e2e: python ${args[0]} failed: ${run.stderr}`);
  return run.stdout.trim();
}

/** One value from the server's SQLite file. */
export function sqlite(work, query, ...params) {
  return python([
    '-c',
    'import json, sqlite3, sys\n' +
      'db = sqlite3.connect(sys.argv[1])\n' +
      'row = db.execute(sys.argv[2], json.loads(sys.argv[3])).fetchone()\n' +
      'print("" if row is None else row[0])',
    join(work, 'data/likeness.db'),
    query,
    JSON.stringify(params),
  ]);
}

/** A work folder with data/ for the server's database and index. */
export function makeWork() {
  requireFile(join(MODEL_ROOT, 'buffalo_s/w600k_mbf.onnx'), 'buffalo_s models (set LIKENESS_SHARED)');
  requireFile(join(VENV, 'gunicorn'), 'backend virtualenv (make install)');
  requireFile(join(DIST, 'index.html'), 'production build (npm run build)');
  const work = mkdtempSync(join(tmpdir(), 'likeness-e2e-'));
  mkdirSync(join(work, 'data'));
  return work;
}

/** The settings the server (and a CLI run on its gallery) use. */
export function backendEnv(work) {
  const env = { ...process.env };
  delete env.LIKENESS_DATABASE_URL; // always the temp SQLite file in the data dir
  delete env.LIKENESS_CONFIG;
  return {
    ...env,
    LIKENESS_MODEL_ROOT: MODEL_ROOT,
    LIKENESS_MODEL_PACK: 'buffalo_s',
    LIKENESS_DATA_DIR: join(work, 'data'),
  };
}

/** Start gunicorn on a free port; resolves to {url, stop()} once /api/ready. */
export async function startBackend(work) {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let log = '';
  const server = spawn(join(VENV, 'gunicorn'), ['--config', 'backend/gunicorn.conf.py', 'likeness.api.wsgi:app'], {
    cwd: ROOT,
    env: {
      ...backendEnv(work),
      LIKENESS_STATIC_DIR: DIST,
      LIKENESS_HOST: '127.0.0.1',
      LIKENESS_PORT: String(port),
      LIKENESS_WORKERS: '1',
      LIKENESS_THREADS: '2',
      LIKENESS_LOG_LEVEL: 'WARNING',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const keep = (chunk) => {
    log = (log + chunk).slice(-20_000);
  };
  server.stdout.on('data', keep);
  server.stderr.on('data', keep);
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (server.exitCode !== null) throw new Error(`e2e: backend exited (${server.exitCode}):\n${log}`);
    try {
      if ((await fetch(`${url}/api/ready`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`e2e: backend not ready after 90 s:\n${log}`);
    await new Promise((done) => setTimeout(done, 250));
  }
  const stop = async () => {
    if (server.exitCode !== null) return;
    const exited = new Promise((done) => server.once('exit', done));
    server.kill('SIGTERM');
    await Promise.race([exited, new Promise((done) => setTimeout(done, 10_000))]);
    if (server.exitCode === null) server.kill('SIGKILL');
  };
  return { url, stop, log: () => log };
}

export function removeWork(work) {
  if (work) rmSync(work, { recursive: true, force: true });
}

/** Headless Debian Chromium; `args` adds flags (e.g. a fake camera). */
export function launchBrowser(args = []) {
  requireFile(CHROMIUM, 'Chromium (apt-get install chromium, or set LIKENESS_CHROMIUM)');
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      ...args,
    ],
  });
}

/** A fresh browser context and page; `errors` collects the page's uncaught errors. */
export async function openPage(browser) {
  const context = await browser.newContext({ viewport: { width: 1200, height: 1000 } });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (error) => errors.push(String(error)));
  return { context, page, errors };
}

/** Close what a test file started: the browser, the backend, its work folder. */
export async function shutdown(browser, backend, work) {
  await browser?.close();
  await backend?.stop();
  removeWork(work);
}
