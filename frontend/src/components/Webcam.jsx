import { useCallback, useEffect, useRef, useState } from 'react';

/** A plain sentence for a getUserMedia failure (or a missing camera API). */
export function cameraErrorMessage(error) {
  const name = error?.name || '';
  if (name === 'InsecureContext') {
    return 'The camera only works over HTTPS or on localhost. Open the app over HTTPS, or choose a photo file instead.';
  }
  if (name === 'Unsupported') {
    return 'This browser cannot use a camera. Choose a photo file instead.';
  }
  if (name === 'NotAllowedError' || name === 'SecurityError' || name === 'PermissionDeniedError') {
    return "Camera permission was denied. Allow camera access in your browser's site settings, or choose a photo file instead.";
  }
  if (name === 'NotFoundError' || name === 'DevicesNotFoundError' || name === 'OverconstrainedError') {
    return 'No camera was found. Connect a camera, or choose a photo file instead.';
  }
  if (name === 'NotReadableError' || name === 'TrackStartError' || name === 'AbortError') {
    return 'The camera could not be started; another app may be using it.';
  }
  return `The camera could not be started${name ? ` (${name})` : ''}.`;
}

function stop(stream) {
  stream?.getTracks().forEach((track) => track.stop());
}

/**
 * Live camera preview with a camera picker and a capture button; calls
 * onCapture(File) with a JPEG of the current frame.
 */
export default function Webcam({ label, onCapture, onClose }) {
  const videoRef = useRef(null);
  const streamRef = useRef(null);
  const supported = Boolean(navigator.mediaDevices?.getUserMedia);
  const [devices, setDevices] = useState([]);
  const [deviceId, setDeviceId] = useState('');
  const [activeId, setActiveId] = useState('');
  const [status, setStatus] = useState(supported ? 'starting' : 'error');
  const [error, setError] = useState(() =>
    supported ? '' : cameraErrorMessage({ name: window.isSecureContext === false ? 'InsecureContext' : 'Unsupported' }),
  );

  useEffect(() => {
    if (!supported) return undefined;
    let cancelled = false;
    const media = navigator.mediaDevices;
    const video = deviceId
      ? { deviceId: { exact: deviceId } }
      : { facingMode: 'user', width: { ideal: 1280 }, height: { ideal: 720 } };
    media
      .getUserMedia({ video, audio: false })
      .then(async (stream) => {
        if (cancelled) return stop(stream);
        streamRef.current = stream;
        setActiveId(deviceId || stream.getVideoTracks()[0]?.getSettings?.().deviceId || '');
        const element = videoRef.current;
        if (element) {
          element.srcObject = stream;
          await element.play?.().catch(() => {});
        }
        // Labels are only known once permission is granted, so list afterwards.
        const all = await media.enumerateDevices().catch(() => []);
        if (cancelled) return undefined;
        setDevices(all.filter((d) => d.kind === 'videoinput'));
        setStatus('live');
        return undefined;
      })
      .catch((err) => {
        if (cancelled) return;
        setStatus('error');
        setError(cameraErrorMessage(err));
      });
    return () => {
      cancelled = true;
      stop(streamRef.current);
      streamRef.current = null;
    };
  }, [deviceId, supported]);

  const chooseCamera = (event) => {
    setStatus('starting');
    setError('');
    setDeviceId(event.target.value);
  };

  const capture = useCallback(() => {
    const video = videoRef.current;
    if (!video || !video.videoWidth) return;
    const canvas = document.createElement('canvas');
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    canvas.getContext('2d').drawImage(video, 0, 0);
    canvas.toBlob(
      (blob) => {
        if (!blob) return;
        const stamp = new Date().toISOString().replace(/[:.]/g, '-');
        onCapture(new File([blob], `camera-${stamp}.jpg`, { type: 'image/jpeg' }));
      },
      'image/jpeg',
      0.92,
    );
  }, [onCapture]);

  return (
    <div className="webcam" data-status={status}>
      {status !== 'error' && (
        <video ref={videoRef} className="webcam-video" autoPlay playsInline muted aria-label={`${label}: live camera preview`} />
      )}
      {status === 'starting' && <p className="webcam-note">Starting the camera…</p>}
      {error && (
        <p className="slot-error" role="alert">
          {error}
        </p>
      )}
      <div className="webcam-controls">
        {devices.length > 1 && (
          <label className="field">
            <span>Camera</span>
            <select value={activeId} onChange={chooseCamera}>
              {devices.map((device, index) => (
                <option key={device.deviceId || index} value={device.deviceId}>
                  {device.label || `Camera ${index + 1}`}
                </option>
              ))}
            </select>
          </label>
        )}
        {status === 'live' && (
          <button type="button" className="button primary" onClick={capture}>
            Take photo
          </button>
        )}
        <button type="button" className="button" onClick={onClose}>
          {status === 'error' ? 'Close' : 'Cancel'}
        </button>
      </div>
    </div>
  );
}
