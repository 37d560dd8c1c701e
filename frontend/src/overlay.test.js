import { describe, expect, test } from 'vitest';
import {
  canvasSize,
  drawOverlay,
  faceUnit,
  landmarkRadius,
  overlayShapes,
  scaleFace,
  scaleFactors,
} from './overlay.js';

const face = (box, score = 0.9) => ({
  box,
  landmarks: [
    [box[0] + 10, box[1] + 10],
    [box[2] - 10, box[1] + 10],
    [(box[0] + box[2]) / 2, (box[1] + box[3]) / 2],
    [box[0] + 12, box[3] - 10],
    [box[2] - 12, box[3] - 10],
  ],
  score,
});

describe('canvasSize', () => {
  test('keeps proportions, enlarges small photos and shrinks big ones', () => {
    expect(canvasSize(250, 250)).toEqual({ width: 640, height: 640 });
    expect(canvasSize(4000, 3000)).toEqual({ width: 1280, height: 960 });
    expect(canvasSize(3000, 4000)).toEqual({ width: 960, height: 1280 });
    expect(canvasSize(800, 600)).toEqual({ width: 800, height: 600 });
  });
});

describe('scaling API coordinates to the canvas', () => {
  test('a large landscape photo drawn smaller', () => {
    const factors = scaleFactors({ width: 1280, height: 960 }, { width: 4000, height: 3000 });
    expect(factors).toEqual({ sx: 0.32, sy: 0.32 });
    const scaled = scaleFace(face([1000, 500, 2000, 1750]), factors);
    expect(scaled).toMatchObject({ x: 320, y: 160, w: 320, h: 400 });
    expect(scaled.landmarks[0][0]).toBeCloseTo(323.2);
    expect(scaled.landmarks[0][1]).toBeCloseTo(163.2);
  });

  test('an EXIF-rotated portrait: API size is the upright size, like the drawn bitmap', () => {
    // A phone photo stored 4000x3000 with orientation 6 is 3000x4000 upright.
    const canvas = canvasSize(3000, 4000);
    const [shape] = overlayShapes(canvas, { width: 3000, height: 4000, faces: [face([750, 1000, 2250, 3000])], face_index: 0 });
    expect(shape).toMatchObject({ x: 240, y: 320, w: 480, h: 640, used: true });
    // The box stays inside the canvas: x and y are scaled on their own axes.
    expect(shape.x + shape.w).toBeLessThanOrEqual(canvas.width);
    expect(shape.y + shape.h).toBeLessThanOrEqual(canvas.height);
  });

  test('only the face at face_index is marked as used', () => {
    const image = { width: 200, height: 100, faces: [face([0, 0, 50, 50]), face([100, 20, 180, 90])], face_index: 1 };
    const shapes = overlayShapes({ width: 400, height: 200 }, image);
    expect(shapes.map((s) => s.used)).toEqual([false, true]);
    expect(shapes[1]).toMatchObject({ x: 200, y: 40, w: 160, h: 140 });
  });
});

test('drawOverlay draws the image, every box and all five landmarks, used face last', () => {
  const calls = [];
  const ctx = new Proxy(
    { canvas: { width: 400, height: 200 } },
    {
      get: (target, key) => (key in target ? target[key] : (...args) => calls.push([key, ...args])),
      set: (target, key, value) => {
        calls.push([`set ${key}`, value]);
        return true;
      },
    },
  );
  const source = { bitmap: true };
  const image = { width: 200, height: 100, faces: [face([100, 20, 180, 90]), face([0, 0, 50, 50])], face_index: 0 };
  drawOverlay(ctx, source, image);
  expect(calls).toContainEqual(['drawImage', source, 0, 0, 400, 200]);
  const rects = calls.filter(([name]) => name === 'strokeRect');
  expect(rects.at(-1)).toEqual(['strokeRect', 200, 40, 160, 140]); // used face on top
  expect(calls.filter(([name]) => name === 'arc')).toHaveLength(10);
});

describe('overlays scale with the face', () => {
  const unit = 8; // a 1280-pixel canvas
  test('a small face in a group photo gets thin lines and small dots', () => {
    const small = { w: 40, h: 48, used: false };
    expect(faceUnit(unit, small)).toBe(1);
    expect(landmarkRadius(unit, small)).toBeLessThanOrEqual(40 * 0.03);
  });
  test('a large face keeps the canvas unit', () => {
    const large = { w: 600, h: 700, used: true };
    expect(faceUnit(unit, large)).toBe(unit);
    expect(landmarkRadius(unit, large)).toBe(unit * 1.5);
  });
});
