import { render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, beforeEach, expect, test, vi } from 'vitest';
import App from './App.jsx';
import { client } from './api.js';

// Decoding is the browser's job; here every file "decodes" to a 200x100 picture.
vi.mock('./image.js', () => ({
  loadPicture: vi.fn(async () => ({ source: { fake: 'bitmap' }, width: 200, height: 100, close() {} })),
}));

const FACE = { box: [40, 10, 120, 90], landmarks: [[60, 40], [100, 40], [80, 60], [65, 75], [95, 75]], score: 0.9 };
const RESULT = {
  verification_id: 'v123',
  similarity: 0.61234,
  threshold: 0.28,
  is_match: true,
  model: { pack: 'buffalo_s' },
  face_policy: 'largest',
  images: ['image1', 'image2'].map((field) => ({
    field,
    width: 200,
    height: 100,
    faces: [FACE, { ...FACE, box: [150, 5, 190, 45] }],
    face_index: 0,
    face: FACE,
    embedding_norm: 21.3,
  })),
  timings_ms: { decode: 3.2, detect: 30.5, embed: 60.1, compare: 0.1, total: 95.2 },
};

let requests;
let reply;

// axios itself is real; only its adapter (the network) is replaced.
beforeEach(() => {
  requests = [];
  client.defaults.adapter = async (config) => {
    requests.push(config);
    return reply(config);
  };
  // A 2D context that accepts every call and property (happy-dom has no canvas).
  vi.spyOn(HTMLCanvasElement.prototype, 'getContext').mockImplementation(function getContext() {
    const canvas = this;
    return new Proxy({}, { get: (_, key) => (key === 'canvas' ? canvas : () => {}), set: () => true });
  });
});

afterEach(() => vi.restoreAllMocks());

const ok = (data, config) => ({ data, status: 200, statusText: 'OK', headers: {}, config });
const fail = (status, data, config) => {
  const error = new Error(`Request failed with status code ${status}`);
  Object.assign(error, { config, response: { status, data, headers: {}, config }, isAxiosError: true });
  throw error;
};

async function chooseBoth(user) {
  const inputs = document.querySelectorAll('input[type=file]');
  await user.upload(inputs[0], new File(['a'], 'a.jpg', { type: 'image/jpeg' }));
  await user.upload(inputs[1], new File(['b'], 'b.jpg', { type: 'image/jpeg' }));
}

test('compare shows the verdict, numbers, timings and draws every face', async () => {
  const user = userEvent.setup();
  reply = (config) => ok(RESULT, config);
  render(<App />);
  await chooseBoth(user);
  await user.click(screen.getByRole('button', { name: 'Compare' }));

  const result = await screen.findByRole('region', { name: /Match: same person/ });
  expect(within(result).getByText('0.612')).toBeTruthy();
  expect(within(result).getByText('0.280')).toBeTruthy();
  expect(within(result).getByText('95 ms')).toBeTruthy();
  expect(requests[0].url).toBe('/verify');
  expect(requests[0].baseURL).toBe('/api');
  expect(requests[0].data.get('image1').name).toBe('a.jpg');
  expect(requests[0].data.get('face_policy')).toBe('largest');
  await waitFor(() => expect(document.querySelectorAll('canvas[data-overlay="drawn"]')).toHaveLength(2));
  expect(document.querySelector('canvas').dataset.faces).toBe('2');
  expect(screen.getByRole('button', { name: 'Compare' }).disabled).toBe(false);
});

test("an image's error appears next to that image, and the spinner stops", async () => {
  const user = userEvent.setup();
  reply = (config) =>
    fail(422, { error: { code: 'NO_FACE', message: 'No face found.', field: 'image2' } }, config);
  render(<App />);
  await chooseBoth(user);
  await user.click(screen.getByRole('button', { name: 'Compare' }));

  const slot2 = document.querySelector('section[data-field="image2"]');
  expect((await within(slot2).findByRole('alert')).textContent).toMatch(/No face was found in this image/);
  expect(within(document.querySelector('section[data-field="image1"]')).queryByRole('alert')).toBeNull();
  expect(screen.getByRole('button', { name: 'Compare' }).disabled).toBe(false);
  expect(screen.queryByRole('region', { name: /match/i })).toBeNull();
});

test('a network failure gives a general message and never leaves a spinner', async () => {
  const user = userEvent.setup();
  reply = (config) => {
    const error = new Error('Network Error');
    Object.assign(error, { code: 'ERR_NETWORK', config, request: {}, isAxiosError: true });
    throw error;
  };
  render(<App />);
  await chooseBoth(user);
  await user.click(screen.getByRole('button', { name: 'Compare' }));
  expect((await screen.findByText(/could not be reached/)).getAttribute('role')).toBe('alert');
  expect(screen.getByRole('button', { name: 'Compare' }).disabled).toBe(false);
});

test('votes are sent, confirmed and can be changed', async () => {
  const user = userEvent.setup();
  reply = (config) =>
    config.url === '/verify' ? ok(RESULT, config) : ok({ ...JSON.parse(config.data), id: 1 }, config);
  render(<App />);
  await chooseBoth(user);
  await user.click(screen.getByRole('button', { name: 'Compare' }));
  const up = await screen.findByRole('button', { name: 'Right' });

  await user.click(up);
  await screen.findByText(/you marked this result as right/);
  expect(up.getAttribute('aria-pressed')).toBe('true');
  await user.click(screen.getByRole('button', { name: 'Wrong' }));
  await screen.findByText(/you marked this result as wrong/);
  expect(up.getAttribute('aria-pressed')).toBe('false');

  const votes = requests.filter((r) => r.url === '/feedback').map((r) => JSON.parse(r.data));
  expect(votes).toEqual([
    { verification_id: 'v123', vote: 'up' },
    { verification_id: 'v123', vote: 'down' },
  ]);
});

const checks = (live, score) => ({
  is_valid: live,
  rejection_reason: live ? null : 'spoof',
  reasons: live ? [] : ['spoof'],
  scores: { quality: 0.97, is_cartoon: false, cartoon_prob: 0.01, is_live: live, liveness_score: score },
});

async function chooseCameraShotAndFile(user) {
  const inputs = document.querySelectorAll('input[type=file]');
  const shot = new File(['a'], 'camera-1.jpg', { type: 'image/jpeg' });
  shot.fromCamera = true; // what ImageSlot marks on a webcam capture
  await user.upload(inputs[0], shot);
  await user.upload(inputs[1], new File(['b'], 'b.jpg', { type: 'image/jpeg' }));
}

test('a camera shot is checked for liveness; a spoof is no match, with a badge saying why', async () => {
  const user = userEvent.setup();
  const spoofed = {
    ...RESULT,
    is_match: false,
    reason: 'spoof',
    images: [
      { ...RESULT.images[0], checks: checks(false, 0.08) },
      { ...RESULT.images[1], checks: { ...checks(true, 0.99), scores: { ...checks(true).scores, is_live: null, liveness_score: null } } },
    ],
  };
  reply = (config) => ok(spoofed, config);
  render(<App />);
  await chooseCameraShotAndFile(user);
  await user.click(screen.getByRole('button', { name: 'Compare' }));
  expect(await screen.findByRole('region', { name: /a face did not look live/ })).toBeTruthy();
  expect(requests[0].data.get('liveness')).toBe('image1'); // the camera shot only
  const [first, second] = document.querySelectorAll('.slot');
  expect(within(first).getByText(/Not live: looks like a photo or a screen/).textContent).toMatch(/0\.08/);
  expect(second.querySelector('.live-badge')).toBeNull(); // a chosen file is not judged
});

test('plain files are compared without liveness; a server without the models still compares shots', async () => {
  const user = userEvent.setup();
  reply = (config) => ok(RESULT, config);
  render(<App />);
  await chooseBoth(user);
  await user.click(screen.getByRole('button', { name: 'Compare' }));
  await screen.findByRole('region', { name: /Match: same person/ });
  expect(requests[0].data.get('liveness')).toBeNull();
  expect(document.querySelector('.live-badge')).toBeNull();

  requests = [];
  reply = (config) =>
    config.data.get('liveness')
      ? fail(503, { error: { code: 'LIVENESS_UNAVAILABLE', message: 'missing', field: null } }, config)
      : ok(RESULT, config);
  await chooseCameraShotAndFile(user);
  await user.click(screen.getByRole('button', { name: 'Compare' }));
  expect(await screen.findByText(/cannot check that a camera shot is live/)).toBeTruthy();
  expect(requests.map((r) => r.data.get('liveness'))).toEqual(['image1', null]);
  expect(screen.getByRole('region', { name: /Match: same person/ })).toBeTruthy();
});

test('a gallery page that needs a key asks for one, and loads again with it', async () => {
  window.history.pushState({}, '', '/people');
  const user = userEvent.setup();
  reply = (config) =>
    config.headers.Authorization === 'Bearer lk_good'
      ? ok({ persons: [], total: 0, offset: 0, limit: 100 }, config)
      : fail(401, { error: { code: 'UNAUTHENTICATED', message: 'A key is needed.' } }, config);
  render(<App />);
  await waitFor(() => expect(document.querySelector('.key-banner')).not.toBeNull());
  const banner = within(document.querySelector('.key-banner'));
  await user.type(banner.getByLabelText('API key'), 'lk_good');
  await user.click(banner.getByRole('button', { name: 'Use this key' }));
  await screen.findByText('Nobody is enrolled yet. Enrol someone above.');
  expect(document.querySelector('.key-banner')).toBeNull();
  expect(requests.at(-1).headers.Authorization).toBe('Bearer lk_good');
  window.localStorage.clear();
  window.history.pushState({}, '', '/');
});
