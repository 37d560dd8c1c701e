import { useState } from 'react';
import { sendFeedback } from '../api.js';
import { describeError, KEY_CODES } from '../errors.js';
import ApiKeyPrompt from './ApiKeyPrompt.jsx';

// Drawn icons, not emoji: many systems (and headless browsers) lack an emoji font.
function Thumb({ down }) {
  return (
    <svg className="thumb" viewBox="0 0 24 24" width="20" height="20" aria-hidden="true" focusable="false">
      <g transform={down ? 'rotate(180 12 12)' : undefined}>
        <path
          d="M7 10v11H3V10h4zm2 11h8.3a2 2 0 0 0 2-1.6l1.4-7A2 2 0 0 0 18.7 10H14l.8-4.2A2 2 0 0 0 12.9 3.4L9 10v11z"
          fill="currentColor"
        />
      </g>
    </svg>
  );
}

const VOTES = {
  up: { text: 'Right', thanks: 'Thanks: you marked this result as right.' },
  down: { text: 'Wrong', thanks: 'Thanks: you marked this result as wrong.' },
};

/** Thumbs up / down on one verification; the vote can be changed. */
export default function Feedback({ verificationId }) {
  const [vote, setVote] = useState(null); // the vote the server has
  const [pending, setPending] = useState(null);
  const [error, setError] = useState('');
  const [needsKey, setNeedsKey] = useState(null); // the vote to retry with a key

  const cast = async (choice) => {
    if (pending || choice === vote) return;
    setPending(choice);
    setError('');
    try {
      await sendFeedback(verificationId, choice);
      setVote(choice);
    } catch (err) {
      const { code, message } = describeError(err);
      setNeedsKey(KEY_CODES.has(code) ? choice : null);
      setError(
        code === 'NOT_FOUND' || code === 'HTTP_404'
          ? 'Your vote could not be saved: the server no longer knows this comparison.'
          : `Your vote could not be saved. ${message}`,
      );
    } finally {
      setPending(null);
    }
  };

  return (
    <div className="feedback" role="group" aria-label="Was this result right?">
      <span className="feedback-question">Was this result right?</span>
      {Object.entries(VOTES).map(([choice, { text }]) => (
        <button
          key={choice}
          type="button"
          className={`button vote${vote === choice ? ' chosen' : ''}`}
          aria-pressed={vote === choice}
          disabled={pending !== null}
          data-vote={choice}
          onClick={() => cast(choice)}
        >
          <Thumb down={choice === 'down'} /> {text}
        </button>
      ))}
      <p className={`feedback-status${error ? ' error' : ''}`} aria-live="polite">
        {pending && 'Saving your vote…'}
        {!pending && error}
        {!pending && !error && vote && (
          <>
            <span aria-hidden="true">✓ </span>
            {VOTES[vote].thanks} You can still change it.
          </>
        )}
      </p>
      {needsKey && !pending && (
        <ApiKeyPrompt
          onSaved={() => {
            const retry = needsKey;
            setNeedsKey(null);
            cast(retry);
          }}
        />
      )}
    </div>
  );
}
