import { useRef, useState } from 'react';
import { forgetExemplar, searchPhoto, voteOnSearch } from '../api.js';
import ApiKeyPrompt from '../components/ApiKeyPrompt.jsx';
import FaceThumb from '../components/FaceThumb.jsx';
import ImageSlot from '../components/ImageSlot.jsx';
import VoteButtons from '../components/VoteButtons.jsx';
import { galleryError, KEY_CODES } from '../errors.js';

/** Who is in this photo? Every face is searched; click a face to see its list. */
export default function SearchPage() {
  const [file, setFile] = useState(null);
  const [result, setResult] = useState(null);
  const [selected, setSelected] = useState(0);
  const [error, setError] = useState('');
  const [needsKey, setNeedsKey] = useState(false);
  const [loading, setLoading] = useState(false);
  const request = useRef(0);

  const choose = (chosen) => {
    request.current += 1;
    setFile(chosen);
    setResult(null);
    setError('');
    setLoading(false);
  };

  const search = async (event) => {
    event.preventDefault();
    if (!file) {
      setError('Choose a photo or take one with the camera.');
      return;
    }
    const mine = ++request.current;
    setLoading(true);
    setError('');
    setNeedsKey(false);
    try {
      const data = await searchPhoto(file);
      if (mine !== request.current) return;
      setResult(data);
      setSelected(data.chosen_face);
    } catch (failure) {
      if (mine !== request.current) return;
      const { message, code } = galleryError(failure);
      setError(message);
      setNeedsKey(KEY_CODES.has(code));
    } finally {
      if (mine === request.current) setLoading(false);
    }
  };

  const analysis = result && {
    width: result.width,
    height: result.height,
    faces: result.faces.map((face) => face.face),
    face_index: selected,
  };
  const face = result?.faces[selected];

  return (
    <section className="page" aria-labelledby="search-title">
      <h2 id="search-title" className="page-title">
        Search: who is in this photo?
      </h2>
      <form className="search-form" onSubmit={search} aria-busy={loading} noValidate>
        <ImageSlot
          field="image"
          label="Photo to search"
          file={file}
          analysis={analysis}
          error=""
          disabled={loading}
          onFile={choose}
          onPick={result ? setSelected : undefined}
        />
        <button type="submit" className="button primary" disabled={loading}>
          {loading ? 'Searching…' : 'Search'}
        </button>
      </form>
      <div className="outcome" aria-live="polite">
        {error && (
          <p className="general-error" role="alert">
            {error}
          </p>
        )}
        {needsKey && <ApiKeyPrompt onSaved={() => setNeedsKey(false)} />}
        {result && face && (
          <FaceResults
            key={`${result.search_id}-${selected}`}
            searchId={result.search_id}
            index={selected}
            count={result.faces.length}
            face={face}
          />
        )}
      </div>
    </section>
  );
}

function who(candidate) {
  if (candidate.name) return candidate.name;
  if (candidate.person_id !== null) return `Unnamed person ${candidate.person_id}`;
  return `Unlabelled face (${candidate.source || candidate.image_id})`;
}

function FaceResults({ searchId, index, count, face }) {
  return (
    <div className="search-results" data-face={index}>
      <h3>
        {count > 1 ? `Face ${index + 1} of ${count}` : 'The face'}:{' '}
        {face.unknown ? (
          <span className="unknown">unknown (nobody reaches the threshold)</span>
        ) : (
          <span className="known">{who(face.identity)}</span>
        )}
      </h3>
      {count > 1 && <p className="hint">Click another face on the photo, or its button, to see its list.</p>}
      <p className="hint">
        Threshold {face.threshold.toFixed(3)}: a candidate at or above it is a match.
      </p>
      {face.candidates.length === 0 ? (
        <p className="empty">The gallery is empty.</p>
      ) : (
        <ol className="candidates" aria-label={`Candidates for face ${index + 1}`}>
          {face.candidates.map((candidate) => (
            <li key={`${candidate.person_id}-${candidate.face_id}`} className={candidate.is_match ? 'match' : ''}>
              <FaceThumb faceId={candidate.face_id} alt={`Face of ${who(candidate)}`} size={72} />
              <span className="candidate-name">{who(candidate)}</span>
              <ScoreBar score={candidate.score} threshold={face.threshold} />
              <span className={`badge${candidate.is_match ? ' match' : ''}`}>
                {candidate.is_match ? 'match' : 'below threshold'}
              </span>
              <VoteButtons
                label={who(candidate)}
                onVote={async (vote) => {
                  const saved = await voteOnSearch({
                    searchId,
                    face: index,
                    personId: candidate.person_id,
                    faceId: candidate.person_id === null ? candidate.face_id : null,
                    vote,
                  });
                  if (!saved.exemplar_id) return null;
                  return {
                    note: `Thanks: this photo now helps find ${who(candidate)}.`,
                    undo: () => forgetExemplar(candidate.person_id, saved.exemplar_id),
                    undone: `Undone: this photo is not part of ${who(candidate)}'s likeness.`,
                  };
                }}
              />
            </li>
          ))}
        </ol>
      )}
    </div>
  );
}

/** A score from 0 to 1 as a bar, with the threshold marked on it. */
function ScoreBar({ score, threshold }) {
  const percent = (value) => `${Math.round(Math.min(1, Math.max(0, value)) * 100)}%`;
  return (
    <span className="score" title={`cosine similarity ${score.toFixed(3)}; threshold ${threshold.toFixed(3)}`}>
      <span className="bar" aria-hidden="true">
        <span className={`fill${score >= threshold ? ' match' : ''}`} style={{ width: percent(score) }} />
        <span className="tick" style={{ left: percent(threshold) }} />
      </span>
      {score.toFixed(3)}
    </span>
  );
}
