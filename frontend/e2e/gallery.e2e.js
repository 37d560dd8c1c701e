// End-to-end, the gallery pages (issue 13) on the REAL backend and Chromium: a
// gallery indexed and clustered from LFW photos by the CLI, then, in the browser:
// enrol a person by upload, search a group photo (one list per face), vote on a
// result and find the vote stored, name and merge clusters, erase a person and
// see them gone from search. `npm run screenshot` writes each page to docs/img/.
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import {
  backendEnv,
  launchBrowser,
  makeWork,
  openPage,
  photosOf,
  python,
  requireFile,
  SCREENSHOTS,
  shutdown,
  sqlite,
  startBackend,
} from './harness.js';

const [ENROL_A, ENROL_B, PROBE] = photosOf('Abel_Pacheco', 3);
const ENROL = [ENROL_A, ENROL_B];
const INDEXED = [
  ...photosOf('Jiang_Zemin', 4),
  ...photosOf('Hans_Blix', 4),
  ...photosOf('Vladimir_Putin', 3),
];

let work;
let backend;
let browser;
let context;
let page;
let pageErrors;
let group;

async function shoot(name) {
  if (!SCREENSHOTS) return;
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, name), fullPage: true });
}

/** Every thumbnail on the page has loaded a real 112x112 crop. */
async function expectThumbnails(minimum) {
  const images = page.locator('img.thumb');
  await expect.poll(() => images.count()).toBeGreaterThanOrEqual(minimum);
  await expect
    .poll(() => images.evaluateAll((all) => all.every((img) => img.complete && img.naturalWidth === 112)))
    .toBe(true);
}

async function searchFor(file) {
  await page.locator('section[data-field="image"] input[type=file]').setInputFiles(file);
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/api/search')),
    page.getByRole('button', { name: 'Search', exact: true }).click(),
  ]);
  expect(response.status()).toBe(200);
  return response.json();
}

beforeAll(async () => {
  work = makeWork();
  group = python(['-c', 'import insightface, pathlib; print(pathlib.Path(insightface.__file__).parent / "data/images/t1.jpg")']);
  requireFile(group, "insightface's group photo t1.jpg");
  // a photo collection, indexed and clustered by the CLI before the server starts
  const folder = join(work, 'photos');
  mkdirSync(folder);
  for (const file of INDEXED) copyFileSync(file, join(folder, file.split('/').pop()));
  const env = backendEnv(work);
  python(['-m', 'likeness.cli', 'index', folder], env);
  python(['-m', 'likeness.cli', 'cluster'], env);
  backend = await startBackend(work);
  browser = await launchBrowser();
});

afterAll(() => shutdown(browser, backend, work));

beforeEach(async () => {
  ({ context, page, errors: pageErrors } = await openPage(browser));
});

afterEach(async () => {
  await context?.close();
  expect(pageErrors).toEqual([]);
});

// The tests run in order on one gallery: each builds on the one before.
describe('gallery pages on the real backend', () => {
  test('enrol a person by upload: each photo accepted, a card with a face thumbnail', async () => {
    await page.goto(`${backend.url}/people`);
    await page.getByRole('textbox', { name: 'Name', exact: true }).fill('Abel Pacheco');
    await page.getByLabel('Basis of consent').fill('e2e test');
    await page.locator('.new-person input[type=file]').setInputFiles([...ENROL, group]);
    await page.getByRole('button', { name: 'Enrol', exact: true }).click();
    const results = page.locator('.enrol-result li');
    await expect.poll(() => results.count()).toBe(3);
    expect(await page.locator('.enrol-result li.accepted').count()).toBe(2);
    // the group photo is refused, with the reason, and the rest enrolled
    expect(await page.locator('.enrol-result li.refused').getAttribute('data-code')).toBe('MULTIPLE_FACES');
    const card = page.locator('.cards .card', { hasText: 'Abel Pacheco' });
    await expect.poll(() => card.count()).toBe(1);
    expect(await card.textContent()).toContain('2 faces');
    await expectThumbnails(1);
    await shoot('people.png');
    await card.getByRole('link').click();
    await expect.poll(() => page.locator('.cards.faces .card').count()).toBe(2);
    await expectThumbnails(2);
  });

  test('search a group photo: one list per face; click a face to see its list', async () => {
    await page.goto(`${backend.url}/search`);
    const body = await searchFor(group);
    expect(body.faces.length).toBe(6);
    const canvas = page.locator('section[data-field="image"] canvas');
    await expect.poll(() => canvas.getAttribute('data-faces')).toBe('6');
    const shown = page.locator('.search-results');
    await expect.poll(() => shown.getAttribute('data-face')).toBe(String(body.chosen_face));
    // click the middle of another face's box on the canvas
    const other = (body.chosen_face + 1) % 6;
    const [x1, y1, x2, y2] = body.faces[other].face.box;
    const box = await canvas.boundingBox();
    await canvas.click({
      position: {
        x: (((x1 + x2) / 2) * box.width) / body.width,
        y: (((y1 + y2) / 2) * box.height) / body.height,
      },
    });
    await expect.poll(() => shown.getAttribute('data-face')).toBe(String(other));
    expect(await shown.locator('h3').textContent()).toContain(`Face ${other + 1} of 6`);
    // the buttons do the same, for keyboards
    await page.getByRole('button', { name: 'Face 1', exact: true }).click();
    await expect.poll(() => shown.getAttribute('data-face')).toBe('0');
    await shoot('search-group.png');
  });

  test('search a face, vote on the result, find the vote stored', async () => {
    await page.goto(`${backend.url}/search`);
    const body = await searchFor(PROBE);
    expect(body.identity.name).toBe('Abel Pacheco');
    await expect.poll(() => page.locator('.search-results h3').textContent()).toContain('Abel Pacheco');
    await expectThumbnails(1);
    const first = page.locator('.candidates li').first();
    await first.getByRole('button', { name: 'Right: Abel Pacheco' }).click();
    // a confirmed person learns the searched face (its template), with an undo
    await expect.poll(() => first.locator('.vote-note').textContent()).toContain('now helps find Abel Pacheco');
    const stored = () =>
      sqlite(work, 'SELECT vote FROM search_feedback WHERE search_id = ? AND person_id = ?', body.search_id, body.identity.person_id);
    const learned = () => sqlite(work, 'SELECT count(*) FROM person_exemplars WHERE person_id = ?', body.identity.person_id);
    expect(stored()).toBe('up');
    expect(learned()).toBe('1');
    await shoot('search.png');
    await first.getByRole('button', { name: 'Undo' }).click();
    await expect.poll(() => first.locator('.vote-note').textContent()).toContain('Undone');
    expect(learned()).toBe('0');
    expect(stored()).toBe('up'); // the vote stays: only the template forgets
    await first.getByRole('button', { name: 'Right: Abel Pacheco' }).click();
    await expect.poll(learned).toBe('1');
    await first.getByRole('button', { name: 'Wrong: Abel Pacheco' }).click();
    await expect.poll(stored).toBe('down');
    expect(learned()).toBe('0'); // changing the vote takes the face out too
    // the person's page lists what it learned, each undoable
    await first.getByRole('button', { name: 'Right: Abel Pacheco' }).click();
    await expect.poll(learned).toBe('1');
    await page.goto(`${backend.url}/people/${body.identity.person_id}`);
    const confirmed = page.getByRole('list', { name: 'Confirmed likenesses of Abel Pacheco' });
    await expect.poll(() => confirmed.locator('li').count()).toBe(1);
    await shoot('learned.png');
    await confirmed.getByRole('button', { name: /Undo/ }).click();
    await expect.poll(learned).toBe('0');
    await expect.poll(() => page.getByText('Learned from searches').count()).toBe(0);
  });

  test('name a cluster and merge another into it', async () => {
    await page.goto(`${backend.url}/clusters`);
    const cards = page.locator('.cards .card');
    await expect.poll(() => cards.count()).toBeGreaterThanOrEqual(3);
    const sizes = await cards.evaluateAll((all) => all.map((card) => Number(card.dataset.size)));
    expect(sizes).toEqual([...sizes].sort((a, b) => b - a)); // largest first
    await expectThumbnails(3);
    await shoot('clusters.png');

    await cards.first().getByRole('link').click();
    await expect.poll(() => page.locator('#cluster-title').textContent()).toMatch(/Unnamed person \d+/);
    const before = await page.locator('.cards.faces .card').count();
    await page.getByRole('textbox', { name: 'Name', exact: true }).fill('Someone Famous');
    await page.getByRole('button', { name: 'Save name' }).click();
    await expect.poll(() => page.locator('#cluster-title').textContent()).toBe('Someone Famous');

    const merge = page.getByRole('combobox', { name: 'Merge with' });
    // another cluster (enrolled people are listed too, marked as such)
    const other = merge.locator('option', { hasText: /Unnamed person \d+ \(\d+ faces\)$/ }).first();
    const option = await other.getAttribute('value');
    const otherSize = Number((await other.textContent()).match(/\((\d+) faces\)/)[1]);
    await merge.selectOption(option);
    await page.getByRole('button', { name: 'Merge', exact: true }).click();
    const dialog = page.getByRole('dialog');
    expect(await dialog.textContent()).toContain(`The ${otherSize} faces of`);
    await dialog.getByRole('button', { name: 'Merge', exact: true }).click();
    await expect.poll(() => page.locator('.cards.faces .card').count()).toBe(before + otherSize);
    expect(await page.locator('.note').textContent()).toContain('Merged');
    await page.goto(`${backend.url}/clusters`);
    await expect.poll(() => page.locator('.cards .card', { hasText: 'Someone Famous' }).count()).toBe(1);
  });

  test('erase a person after a confirmation, and they are gone from search', async () => {
    await page.goto(`${backend.url}/people`);
    await page.locator('.cards .card', { hasText: 'Abel Pacheco' }).getByRole('link').click();
    await page.getByRole('button', { name: 'Erase Abel Pacheco' }).click();
    const dialog = page.getByRole('dialog');
    expect(await dialog.textContent()).toMatch(/2 faces \(each face's embedding and crop\)/);
    await shoot('erase.png');
    await dialog.getByRole('button', { name: 'Erase for good' }).click();
    await expect.poll(() => page.url()).toMatch(/\/people$/);
    await expect.poll(() => page.locator('.cards .card', { hasText: 'Abel Pacheco' }).count()).toBe(0);
    expect(sqlite(work, "SELECT count(*) FROM gallery_persons WHERE name = 'Abel Pacheco'")).toBe('0');
    expect(sqlite(work, 'SELECT count(*) FROM search_feedback WHERE person_id IS NOT NULL')).toBe('0');

    await page.goto(`${backend.url}/search`);
    const body = await searchFor(PROBE);
    expect(body.unknown).toBe(true);
    await expect.poll(() => page.locator('.search-results h3').textContent()).toContain('unknown');
  });

  test('phone-sized screen: the pages fit', async () => {
    await page.setViewportSize({ width: 375, height: 740 });
    for (const path of ['/people', '/search', '/clusters']) {
      await page.goto(`${backend.url}${path}`);
      await expect.poll(() => page.locator('.page-title').count()).toBe(1);
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
    }
  });
});
