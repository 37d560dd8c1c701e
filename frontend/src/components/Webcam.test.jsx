import { render, screen } from '@testing-library/react';
import { afterEach, expect, test, vi } from 'vitest';
import Webcam from './Webcam.jsx';

const original = Object.getOwnPropertyDescriptor(navigator, 'mediaDevices');
afterEach(() => {
  if (original) Object.defineProperty(navigator, 'mediaDevices', original);
  else delete navigator.mediaDevices;
});

const withCamera = (mediaDevices) => Object.defineProperty(navigator, 'mediaDevices', { value: mediaDevices, configurable: true });

test.each([
  ['NotAllowedError', /permission was denied/],
  ['NotFoundError', /No camera was found/],
  ['NotReadableError', /another app may be using it/],
])('getUserMedia failing with %s says so plainly', async (name, message) => {
  const error = Object.assign(new Error('nope'), { name });
  withCamera({ getUserMedia: vi.fn().mockRejectedValue(error), enumerateDevices: vi.fn().mockResolvedValue([]) });
  render(<Webcam label="Photo 1" onCapture={() => {}} onClose={() => {}} />);
  expect((await screen.findByRole('alert')).textContent).toMatch(message);
  expect(screen.queryByRole('button', { name: 'Take photo' })).toBeNull();
  expect(screen.getByRole('button', { name: 'Close' })).toBeTruthy();
});

test('no camera API at all (e.g. plain HTTP) is explained too', async () => {
  withCamera(undefined);
  render(<Webcam label="Photo 1" onCapture={() => {}} onClose={() => {}} />);
  expect((await screen.findByRole('alert')).textContent).toMatch(/HTTPS|cannot use a camera/);
});
