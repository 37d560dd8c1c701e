import { useCallback, useRef, useState } from 'react';
import { verify } from '../api.js';
import { describeError, KEY_CODES } from '../errors.js';
import ApiKeyPrompt from '../components/ApiKeyPrompt.jsx';
import ImageSlot from '../components/ImageSlot.jsx';
import Result from '../components/Result.jsx';

const SLOTS = [
  { field: 'image1', label: 'Photo 1' },
  { field: 'image2', label: 'Photo 2' },
];

const POLICIES = [
  ['largest', 'the largest face'],
  ['central', 'the face nearest the centre'],
  ['reject', 'none: refuse photos with several faces'],
];

export default function ComparePage() {
  const [files, setFiles] = useState({ image1: null, image2: null });
  const [chosen, setChosen] = useState({ image1: null, image2: null }); // clicked faces
  const [errors, setErrors] = useState({ image1: '', image2: '' });
  const [policy, setPolicy] = useState('largest');
  const [result, setResult] = useState(null);
  const [generalError, setGeneralError] = useState('');
  const [needsKey, setNeedsKey] = useState(false);
  const [loading, setLoading] = useState(false);
  const request = useRef(0);

  const setFile = useCallback((field, file) => {
    request.current += 1; // a comparison still running is for other photos now
    setFiles((current) => ({ ...current, [field]: file }));
    setChosen((current) => ({ ...current, [field]: null }));
    setErrors((current) => ({ ...current, [field]: '' }));
    setResult(null);
    setGeneralError('');
    setLoading(false);
  }, []);

  const compare = async (event, faces = chosen) => {
    event?.preventDefault();
    const missing = SLOTS.filter(({ field }) => !files[field]);
    if (missing.length) {
      setErrors((current) => {
        const next = { ...current };
        for (const { field } of missing) next[field] = 'Choose a photo or take one with the camera here.';
        return next;
      });
      return;
    }
    const mine = ++request.current;
    setLoading(true);
    setResult(null);
    setGeneralError('');
    setNeedsKey(false);
    setErrors({ image1: '', image2: '' });
    try {
      // Camera shots are checked for liveness; a server without the liveness models
      // still compares them, and says so.
      // Only the camera shots: an uploaded photo is a photo, and may look like one.
      const shots = SLOTS.filter(({ field }) => files[field]?.fromCamera).map(({ field }) => field);
      const liveness = shots.length === SLOTS.length ? 'true' : shots[0];
      let data;
      try {
        data = await verify(files.image1, files.image2, { facePolicy: policy, liveness, faces });
      } catch (error) {
        if (!liveness || error?.response?.data?.error?.code !== 'LIVENESS_UNAVAILABLE') throw error;
        data = await verify(files.image1, files.image2, { facePolicy: policy, faces });
        data = { ...data, livenessUnavailable: true };
      }
      if (mine === request.current) setResult(data);
    } catch (error) {
      if (mine !== request.current) return;
      const { field, message, code, also = [] } = describeError(error);
      if (field) {
        setErrors((current) => {
          const next = { ...current, [field]: message };
          for (const other of also) next[other.field] = other.message;
          return next;
        });
      }
      else setGeneralError(message);
      setNeedsKey(KEY_CODES.has(code));
    } finally {
      if (mine === request.current) setLoading(false);
    }
  };

  const analysisFor = (field) => result?.images?.find((image) => image.field === field) ?? null;

  // Clicking a face of a group photo compares that face instead.
  const pickFace = (field, index) => {
    const next = { ...chosen, [field]: index };
    setChosen(next);
    compare(null, next);
  };

  return (
    <>
      <section className="page" aria-labelledby="compare-title">
        <h2 id="compare-title" className="page-title">
          Are these two photos of the same person?
        </h2>
        <form className="compare-form" onSubmit={compare} aria-busy={loading} noValidate>
          <div className="slots">
            {SLOTS.map(({ field, label }) => (
              <ImageSlot
                key={field}
                field={field}
                label={label}
                file={files[field]}
                analysis={analysisFor(field)}
                error={errors[field]}
                disabled={loading}
                onFile={(file) => setFile(field, file)}
                onPick={result ? (index) => pickFace(field, index) : undefined}
              />
            ))}
          </div>

          <div className="controls">
            <label className="field">
              <span>If a photo shows several faces, use</span>
              <select value={policy} onChange={(event) => setPolicy(event.target.value)} disabled={loading}>
                {POLICIES.map(([value, text]) => (
                  <option key={value} value={value}>
                    {text}
                  </option>
                ))}
              </select>
            </label>
            <button type="submit" className="button primary compare" disabled={loading}>
              {loading ? (
                <>
                  <span className="spinner" aria-hidden="true" /> Comparing…
                </>
              ) : (
                'Compare'
              )}
            </button>
          </div>
        </form>

        <div className="outcome" aria-live="polite">
          {generalError && (
            <p className="general-error" role="alert">
              {generalError}
            </p>
          )}
          {needsKey && <ApiKeyPrompt onSaved={() => setNeedsKey(false)} />}
          {loading && <p className="visually-hidden">Comparing the photos…</p>}
          {result && <Result result={result} />}
        </div>
      </section>
      <p className="page-note">
        Green box: the face compared (click another face of a group photo to compare it instead). Dashed orange
        box: other faces found. Blue dots: eyes, nose tip and mouth corners.
      </p>
    </>
  );
}
