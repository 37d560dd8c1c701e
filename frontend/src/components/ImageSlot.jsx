import { useId, useState } from 'react';
import FaceCanvas from './FaceCanvas.jsx';
import FaceChecks from './FaceChecks.jsx';
import Webcam from './Webcam.jsx';

/**
 * One of the two photos: a file (picker or drag and drop) or a camera shot,
 * drawn with its faces once compared; the API's error for this image below it.
 */
export default function ImageSlot({ field, label, file, analysis, error, disabled, onFile, onPick }) {
  const inputId = useId();
  const errorId = useId();
  const [camera, setCamera] = useState(false);
  const [dragging, setDragging] = useState(false);

  const choose = (chosen) => {
    if (chosen) onFile(chosen);
  };

  const onDrop = (event) => {
    event.preventDefault();
    setDragging(false);
    if (disabled) return;
    choose(event.dataTransfer?.files?.[0]);
  };

  return (
    <section
      className={`slot${dragging ? ' dragging' : ''}${error ? ' has-error' : ''}`}
      data-field={field}
      aria-labelledby={`${inputId}-title`}
      onDragOver={(event) => {
        event.preventDefault();
        if (!disabled) setDragging(true);
      }}
      onDragLeave={() => setDragging(false)}
      onDrop={onDrop}
    >
      <h2 id={`${inputId}-title`} className="slot-title">
        {label}
        {file && <span className="file-name">{file.name}</span>}
      </h2>

      {camera ? (
        <Webcam
          label={label}
          onCapture={(shot) => {
            setCamera(false);
            shot.fromCamera = true; // compared with a liveness check
            choose(shot);
          }}
          onClose={() => setCamera(false)}
        />
      ) : (
        <>
          {file ? (
            <>
              <FaceCanvas
                file={file}
                analysis={analysis}
                label={label}
                onPick={disabled ? undefined : onPick}
                pickLabel="Compare face"
              />
              <FaceChecks checks={analysis?.checks} />
            </>
          ) : (
            <div className="drop-hint">
              <span aria-hidden="true" className="drop-icon">
                ⬆
              </span>
              <span>Drop a photo here</span>
            </div>
          )}
          <div className="slot-actions">
            <input
              id={inputId}
              className="visually-hidden"
              type="file"
              accept="image/*"
              disabled={disabled}
              aria-describedby={error ? errorId : undefined}
              onChange={(event) => {
                choose(event.target.files?.[0]);
                event.target.value = ''; // choosing the same file again still counts
              }}
            />
            <label htmlFor={inputId} className={`button${disabled ? ' disabled' : ''}`}>
              {file ? 'Choose another photo' : 'Choose a photo'}
              <span className="visually-hidden"> for {label}</span>
            </label>
            <button type="button" className="button" disabled={disabled} onClick={() => setCamera(true)}>
              Use camera<span className="visually-hidden"> for {label}</span>
            </button>
          </div>
        </>
      )}

      {error && (
        <p id={errorId} className="slot-error" role="alert">
          {error}
        </p>
      )}
    </section>
  );
}
