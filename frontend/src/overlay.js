// Face overlays: API coordinates are pixels of the upright (EXIF-rotated) image
// the server decoded; the canvas may be any size, so everything is scaled by
// canvas size / API width and height, on each axis separately.

export const MIN_CANVAS_SIDE = 640;
export const MAX_CANVAS_SIDE = 1280;

/**
 * Canvas size for an image: its own proportions, the longer side between
 * MIN (small photos are enlarged so the overlays stay crisp) and MAX.
 */
export function canvasSize(width, height, minSide = MIN_CANVAS_SIDE, maxSide = MAX_CANVAS_SIDE) {
  const longer = Math.max(width, height);
  const scale = Math.min(maxSide, Math.max(minSide, longer)) / longer;
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

/** Scale factors from API pixels to canvas pixels. */
export function scaleFactors(canvas, api) {
  if (!api?.width || !api?.height) return { sx: 1, sy: 1 };
  return { sx: canvas.width / api.width, sy: canvas.height / api.height };
}

/** One face in canvas pixels: {x, y, w, h, landmarks: [[x, y] x5], score}. */
export function scaleFace(face, { sx, sy }) {
  const [x1, y1, x2, y2] = face.box;
  return {
    x: x1 * sx,
    y: y1 * sy,
    w: (x2 - x1) * sx,
    h: (y2 - y1) * sy,
    landmarks: (face.landmarks || []).map(([x, y]) => [x * sx, y * sy]),
    score: face.score,
  };
}

/** All faces of one API image result, scaled, with the used one marked. */
export function overlayShapes(canvas, image) {
  if (!image) return [];
  const factors = scaleFactors(canvas, image);
  return (image.faces || []).map((face, index) => ({
    ...scaleFace(face, factors),
    used: index === image.face_index,
    index,
  }));
}

export const COLORS = {
  used: '#22c55e',
  other: '#f59e0b',
  landmark: '#38bdf8',
  outline: 'rgba(0, 0, 0, 0.55)',
};

/**
 * The line unit for one face: the canvas's unit, but never more than a 40th of the
 * face's smaller side, so a small face in a group photo is not hidden by its own
 * box and dots.
 */
export function faceUnit(unit, shape) {
  return Math.max(0.5, Math.min(unit, Math.min(shape.w, shape.h) / 40));
}

/** Landmark dot radius: follows the face, at most 3% of its smaller side. */
export function landmarkRadius(unit, shape) {
  const size = faceUnit(unit, shape);
  const radius = size * (shape.used ? 1.5 : 1.1);
  return Math.max(0.75, Math.min(radius, Math.min(shape.w, shape.h) * 0.03));
}

/** Draw the image and its face overlays on a 2D canvas context. */
export function drawOverlay(ctx, source, image) {
  const { width, height } = ctx.canvas;
  ctx.clearRect(0, 0, width, height);
  if (source) ctx.drawImage(source, 0, 0, width, height);
  const shapes = overlayShapes(ctx.canvas, image);
  // Line widths follow the canvas size so overlays look alike at any resolution.
  const unit = Math.max(1.5, Math.min(width, height) / 160);
  // Other faces first, so the used face's box is drawn on top.
  const ordered = [...shapes].sort((a, b) => Number(a.used) - Number(b.used));
  for (const shape of ordered) {
    const size = faceUnit(unit, shape);
    const line = shape.used ? size * 1.6 : size;
    ctx.setLineDash(shape.used ? [] : [size * 4, size * 3]);
    // A dark halo under each box keeps it visible on light and dark photos.
    ctx.lineWidth = line + size;
    ctx.strokeStyle = COLORS.outline;
    ctx.strokeRect(shape.x, shape.y, shape.w, shape.h);
    ctx.lineWidth = line;
    ctx.strokeStyle = shape.used ? COLORS.used : COLORS.other;
    ctx.strokeRect(shape.x, shape.y, shape.w, shape.h);
    ctx.setLineDash([]);
    ctx.fillStyle = COLORS.landmark;
    ctx.strokeStyle = COLORS.outline;
    ctx.lineWidth = size * 0.6;
    for (const [x, y] of shape.landmarks) {
      ctx.beginPath();
      ctx.arc(x, y, landmarkRadius(unit, shape), 0, Math.PI * 2);
      ctx.fill();
      ctx.stroke();
    }
  }
  return shapes;
}
