import { useEffect, useState } from 'react';
import { faceCropUrl } from '../api.js';

/**
 * A face's stored 112x112 crop (from the server; an erased face or a gallery
 * indexed without crops shows a plain placeholder).
 */
export default function FaceThumb({ faceId, alt, size = 112 }) {
  const [src, setSrc] = useState(null);
  const [failed, setFailed] = useState(false);
  const [shown, setShown] = useState(faceId);
  if (shown !== faceId) {
    setShown(faceId);
    setSrc(null);
    setFailed(false);
  }

  useEffect(() => {
    if (faceId === null || faceId === undefined) return undefined;
    let live = true;
    faceCropUrl(faceId)
      .then((url) => live && setSrc(url))
      .catch(() => live && setFailed(true));
    return () => {
      live = false;
    };
  }, [faceId]);

  const style = { width: size, height: size };
  if (faceId === null || faceId === undefined || failed) {
    return (
      <span className="thumb placeholder" style={style} role="img" aria-label={`${alt} (no picture kept)`}>
        ?
      </span>
    );
  }
  return src ? (
    <img className="thumb" style={style} src={src} alt={alt} data-face-id={faceId} />
  ) : (
    <span className="thumb loading" style={style} role="img" aria-label={`${alt} (loading)`} />
  );
}
