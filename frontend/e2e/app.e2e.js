// End-to-end: the REAL backend (gunicorn, buffalo_s, a temp SQLite database)
// serving the production build (frontend/dist), driven in Debian's headless
// Chromium through playwright-core. Missing Chromium, models or LFW fail loudly.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import {
  FRONTEND,
  launchBrowser,
  makeWork,
  openPage,
  photo,
  python,
  requireFile,
  SCREENSHOTS,
  shutdown,
  sqlite,
  startBackend,
  VENV,
} from './harness.js';

// `npm run screenshot` refreshes the committed docs/img/webapp.png; plain test
// runs leave the working tree alone.
const SCREENSHOT = SCREENSHOTS ? join(SCREENSHOTS, 'webapp.png') : null;

const SAME_A = photo('Abel_Pacheco', 1);
const SAME_B = photo('Abel_Pacheco', 4);
const OTHER = photo('Aaron_Sorkin', 1);

let work;
let backend;
let baseUrl;
let browser;
let context;
let page;
let pageErrors;

/** The stored vote of one verification, read straight from the SQLite file. */
function storedVote(verificationId) {
  return sqlite(work, 'SELECT vote FROM feedback WHERE verification_id = ?', verificationId);
}

const slot = (field) => page.locator(`section[data-field="${field}"]`);

async function choose(field, file) {
  await slot(field).locator('input[type=file]').setInputFiles(file);
  await expect.poll(() => slot(field).locator('.canvas-wrap').getAttribute('data-state')).not.toBe('loading');
}

/** Click Compare and return the /api/verify response (status and body). */
async function compare() {
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/api/verify')),
    page.getByRole('button', { name: 'Compare' }).click(),
  ]);
  return { status: response.status(), body: await response.json() };
}

/** RGB of one canvas pixel (canvas coordinates). */
function canvasPixel(field, x, y) {
  return slot(field)
    .locator('canvas')
    .evaluate((canvas, [px, py]) => [...canvas.getContext('2d').getImageData(px, py, 1, 1).data].slice(0, 3), [
      Math.round(x),
      Math.round(y),
    ]);
}

/** The used face's box edge is green on the canvas where the API put it, scaled. */
async function expectUsedFaceDrawn(image) {
  const canvas = slot(image.field).locator('canvas');
  await expect.poll(() => canvas.getAttribute('data-overlay')).toBe('drawn');
  expect(Number(await canvas.getAttribute('data-faces'))).toBe(image.faces.length);
  const [width, height] = await canvas.evaluate((c) => [c.width, c.height]);
  expect(width / height).toBeCloseTo(image.width / image.height, 2);
  const [x1, y1, , y2] = image.face.box;
  const [r, g, b] = await canvasPixel(image.field, (x1 * width) / image.width, ((y1 + y2) / 2) * (height / image.height));
  expect(g).toBeGreaterThan(150);
  expect(r).toBeLessThan(110);
  expect(b).toBeLessThan(140);
}

beforeAll(async () => {
  for (const file of [SAME_A, SAME_B, OTHER]) requireFile(file, 'LFW photo (set LIKENESS_SHARED)');
  work = makeWork();
  const camera = join(work, 'camera.y4m');
  for (const [kind, source, target] of [
    ['camera', SAME_A, camera],
    ['exif', SAME_A, join(work, 'rotated.jpg')],
  ]) {
    const made = spawnSync(join(VENV, 'python'), [join(FRONTEND, 'e2e/fixtures.py'), kind, source, target], {
      encoding: 'utf8',
    });
    if (made.status !== 0) throw new Error(`e2e: making the ${kind} fixture failed: ${made.stderr}`);
  }
  writeFileSync(join(work, 'notes.txt'), 'This is a text file, not a photo.\n');
  backend = await startBackend(work);
  baseUrl = backend.url;
  browser = await launchBrowser([
    '--use-fake-ui-for-media-stream',
    '--use-fake-device-for-media-stream',
    `--use-file-for-fake-video-capture=${camera}`,
  ]);
});

afterAll(() => shutdown(browser, backend, work));

beforeEach(async () => {
  ({ context, page, errors: pageErrors } = await openPage(browser));
  await page.goto(baseUrl);
});

afterEach(async () => {
  await context?.close();
  expect(pageErrors).toEqual([]);
});

describe('web app on the real backend', () => {
  test('same person: match, faces drawn, vote stored and changed', async () => {
    await choose('image1', SAME_A);
    await choose('image2', SAME_B);
    const { status, body } = await compare();
    expect(status).toBe(200);

    const result = page.locator('.result');
    await expect.poll(() => result.getAttribute('data-match')).toBe('true');
    expect(await result.locator('.verdict').textContent()).toContain('Match');
    expect(await result.locator('.similarity').textContent()).toBe(body.similarity.toFixed(3));
    expect(await result.locator('.timings').textContent()).toMatch(/Detect\d/);

    for (const image of body.images) await expectUsedFaceDrawn(image);

    await page.getByRole('button', { name: 'Right' }).click();
    await expect.poll(() => page.locator('.feedback-status').textContent()).toContain('marked this result as right');
    expect(await page.getByRole('button', { name: 'Right' }).getAttribute('aria-pressed')).toBe('true');
    expect(storedVote(body.verification_id)).toBe('up');
    if (SCREENSHOT) {
      mkdirSync(dirname(SCREENSHOT), { recursive: true });
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
    }

    await page.getByRole('button', { name: 'Wrong' }).click();
    await expect.poll(() => page.locator('.feedback-status').textContent()).toContain('marked this result as wrong');
    expect(storedVote(body.verification_id)).toBe('down');
  });

  test('in a group photo, clicking a face compares that face', async () => {
    const group = python([
      '-c',
      'import insightface, pathlib; print(pathlib.Path(insightface.__file__).parent / "data/images/t1.jpg")',
    ]);
    await choose('image1', group);
    await choose('image2', SAME_B);
    const first = await compare();
    expect(first.status).toBe(200);
    const chosen = first.body.images[0].face_index;
    const other = (chosen + 1) % first.body.images[0].faces.length;
    const canvas = slot('image1').locator('canvas');
    await expect.poll(() => canvas.getAttribute('data-faces')).toBe('6');
    const [x1, y1, x2, y2] = first.body.images[0].faces[other].box;
    const box = await canvas.boundingBox();
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/api/verify')),
      canvas.click({
        position: {
          x: (((x1 + x2) / 2) * box.width) / first.body.images[0].width,
          y: (((y1 + y2) / 2) * box.height) / first.body.images[0].height,
        },
      }),
    ]);
    const again = await response.json();
    expect(again.images[0].face_index).toBe(other);
    await expect.poll(() => canvas.getAttribute('data-used-face')).toBe(String(other));
  });

  test('two people: no match', async () => {
    await choose('image1', SAME_A);
    await choose('image2', OTHER);
    const { status, body } = await compare();
    expect(status).toBe(200);
    expect(body.is_match).toBe(false);
    await expect.poll(() => page.locator('.result').getAttribute('data-match')).toBe('false');
    expect(await page.locator('.result .verdict').textContent()).toContain('No match');
  });

  test('an EXIF-rotated, non-square photo is drawn upright with its face box in place', async () => {
    await choose('image1', join(work, 'rotated.jpg'));
    await choose('image2', SAME_B);
    const { status, body } = await compare();
    expect(status).toBe(200);
    expect([body.images[0].width, body.images[0].height]).toEqual([400, 250]); // upright
    expect(body.is_match).toBe(true);
    await expectUsedFaceDrawn(body.images[0]);
  });

  test('a file that is not an image: the error is shown beside that photo', async () => {
    await choose('image1', SAME_A);
    await choose('image2', join(work, 'notes.txt'));
    const { status, body } = await compare();
    expect(status).toBeGreaterThanOrEqual(400);
    expect(body.error.field).toBe('image2');
    const error = slot('image2').locator('.slot-error');
    await expect.poll(() => error.textContent()).toMatch(/not an image|not supported/);
    expect(await slot('image1').locator('.slot-error').count()).toBe(0);
    expect(await page.locator('.result').count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Compare' }).isEnabled()).toBe(true);
  });

  test('webcam shot from the fake camera is compared', async () => {
    await slot('image1').getByRole('button', { name: /Use camera/ }).click();
    await expect.poll(() => slot('image1').locator('.webcam').getAttribute('data-status')).toBe('live');
    await expect
      .poll(() => slot('image1').locator('video').evaluate((v) => v.videoWidth))
      .toBeGreaterThan(0);
    await slot('image1').getByRole('button', { name: 'Take photo' }).click();
    await expect.poll(() => slot('image1').locator('.file-name').textContent()).toMatch(/^camera-.*\.jpg$/);
    await choose('image2', SAME_B);
    const { status, body } = await compare();
    expect(status).toBe(200);
    expect(body.images[0].width).toBe(640);
    // a camera shot is compared with liveness=true: the server ran it (is_live is
    // null when it was not asked)
    const live = body.images[0].checks.scores.is_live;
    expect(typeof live).toBe('boolean');
    expect(body.images[1].checks.scores.is_live).toBeNull(); // the chosen file is not judged
    console.log(`fake camera frame: live=${live} score=${body.images[0].checks.scores.liveness_score} similarity=${body.similarity}`);
    // the verdict and the badge agree with the server's answer
    expect(body.is_match).toBe(live && body.similarity >= body.threshold);
    expect(body.reason).toBe(live ? null : 'spoof');
    await expect
      .poll(() => slot('image1').locator('.live-badge').getAttribute('data-live'))
      .toBe(String(live));
    if (!live) await expect.poll(() => page.locator('.verdict').textContent()).toMatch(/did not look live/);
    await expect.poll(() => slot('image1').locator('canvas').getAttribute('data-overlay')).toBe('drawn');
  });

  test('phone-sized screen: one column, nothing wider than the screen', async () => {
    await page.setViewportSize({ width: 375, height: 740 });
    const [one, two] = await Promise.all([slot('image1').boundingBox(), slot('image2').boundingBox()]);
    expect(two.y).toBeGreaterThan(one.y + one.height - 1);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
  });
});
