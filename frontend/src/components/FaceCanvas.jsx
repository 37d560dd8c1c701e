import { useEffect, useRef, useState } from 'react';
import { loadPicture } from '../image.js';
import { canvasSize, drawOverlay } from '../overlay.js';

/**
 * One photo on a canvas with its detected faces: every box and the 5 landmarks,
 * the face used for the comparison highlighted. `analysis` is the API's entry
 * for this image (or null before a comparison).
 */
export default function FaceCanvas({ file, analysis, label, onPick, pickLabel = 'Use face' }) {
  const canvasRef = useRef(null);
  const [picture, setPicture] = useState(null);
  const [state, setState] = useState(file ? 'loading' : 'empty');
  const [drawn, setDrawn] = useState({ shapes: [], overlay: false });
  // A new file resets the picture during render (React's pattern for state that
  // follows a prop), so the effect below only loads.
  const [shownFile, setShownFile] = useState(file);
  if (shownFile !== file) {
    setShownFile(file);
    setPicture(null);
    setState(file ? 'loading' : 'empty');
  }

  useEffect(() => {
    if (!file) return undefined;
    let cancelled = false;
    let loaded = null;
    loadPicture(file)
      .then((result) => {
        loaded = result;
        if (cancelled) return result.close();
        setPicture(result);
        setState('ready');
      })
      .catch(() => {
        if (!cancelled) {
          setPicture(null);
          setState('unreadable');
        }
      });
    return () => {
      cancelled = true;
      loaded?.close();
    };
  }, [file]);

  useEffect(() => {
    const canvas = canvasRef.current;
    if (!canvas || !picture) {
      setDrawn({ shapes: [], overlay: false });
      return;
    }
    const size = canvasSize(picture.width, picture.height);
    canvas.width = size.width;
    canvas.height = size.height;
    const ctx = canvas.getContext('2d');
    if (ctx) setDrawn({ shapes: drawOverlay(ctx, picture.source, analysis), overlay: Boolean(analysis), used: analysis?.face_index });
  }, [picture, analysis]);

  const faces = drawn.overlay ? drawn.shapes.length : 0;
  let description = `${label}`;
  if (drawn.overlay) {
    description += `: ${faces} face${faces === 1 ? '' : 's'} detected`;
    if (faces > 1) description += '; the face used is outlined in green, others in dashed orange';
  }

  const pick = (event) => {
    const canvas = canvasRef.current;
    if (!onPick || !canvas || !drawn.overlay) return;
    const rect = canvas.getBoundingClientRect();
    const x = ((event.clientX - rect.left) * canvas.width) / rect.width;
    const y = ((event.clientY - rect.top) * canvas.height) / rect.height;
    const hit = faceAt(drawn.shapes, x, y);
    if (hit !== null) onPick(hit);
  };
  const pickable = Boolean(onPick) && drawn.overlay && faces > 1;

  return (
    <>
      <div className="canvas-wrap" data-state={state}>
        {state === 'unreadable' && (
          <p className="canvas-note">No preview: the browser cannot show this file as an image.</p>
        )}
        <canvas
          ref={canvasRef}
          role="img"
          aria-label={description}
          hidden={state !== 'ready'}
          data-faces={drawn.overlay ? faces : ''}
          data-used-face={drawn.overlay ? drawn.used : ''}
          data-overlay={drawn.overlay ? 'drawn' : 'none'}
          className={pickable ? 'pickable' : undefined}
          onClick={pick}
        />
      </div>
      {pickable && (
        <div className="face-picker" role="group" aria-label={`${pickLabel}: choose a face of ${label}`}>
          {drawn.shapes.map((shape) => (
            <button
              type="button"
              key={shape.index}
              className={`chip${shape.used ? ' selected' : ''}`}
              aria-pressed={shape.used}
              onClick={() => onPick(shape.index)}
            >
              Face {shape.index + 1}
            </button>
          ))}
        </div>
      )}
    </>
  );
}

/** The face whose box holds canvas point (x, y); the smallest if boxes overlap. */
export function faceAt(shapes, x, y) {
  let best = null;
  for (const shape of shapes) {
    const inside = x >= shape.x && x <= shape.x + shape.w && y >= shape.y && y <= shape.y + shape.h;
    if (inside && (best === null || shape.w * shape.h < best.w * best.h)) best = shape;
  }
  return best === null ? null : best.index;
}
