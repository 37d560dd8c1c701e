import { useId, useState } from 'react';

/** Several photos by drag and drop or the file picker (keyboard: the button). */
export default function PhotoDrop({ files, onFiles, disabled, label = 'Photos' }) {
  const inputId = useId();
  const [dragging, setDragging] = useState(false);
  const add = (list) => {
    const chosen = Array.from(list || []).filter((file) => !file.type || file.type.startsWith('image/'));
    if (chosen.length) onFiles([...files, ...chosen].slice(0, 10));
  };
  return (
    <div
      className={`photo-drop${dragging ? ' dragging' : ''}`}
      onDragOver={(event) => {
        event.preventDefault();
        if (!disabled) setDragging(true);
      }}
      onDragLeave={() => setDragging(false)}
      onDrop={(event) => {
        event.preventDefault();
        setDragging(false);
        if (!disabled) add(event.dataTransfer?.files);
      }}
    >
      <input
        id={inputId}
        className="visually-hidden"
        type="file"
        accept="image/*"
        multiple
        disabled={disabled}
        onChange={(event) => {
          add(event.target.files);
          event.target.value = '';
        }}
      />
      <span className="drop-icon" aria-hidden="true">
        ⬆
      </span>
      <span>Drop photos here (up to 10), or</span>
      <label htmlFor={inputId} className={`button${disabled ? ' disabled' : ''}`}>
        choose {label.toLowerCase()}
      </label>
      {files.length > 0 && (
        <ul className="file-list" aria-label="Chosen photos">
          {files.map((file, index) => (
            <li key={`${file.name}-${index}`}>
              {file.name}{' '}
              <button
                type="button"
                className="link"
                disabled={disabled}
                onClick={() => onFiles(files.filter((_, i) => i !== index))}
              >
                remove<span className="visually-hidden"> {file.name}</span>
              </button>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
