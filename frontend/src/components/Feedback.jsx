import { useState } from 'react';
import { sendFeedback } from '../api.js';
import { describeError } from '../errors.js';

const VOTES = {
  up: { icon: '👍', text: 'Right', thanks: 'Thanks: you marked this result as right.' },
  down: { icon: '👎', text: 'Wrong', thanks: 'Thanks: you marked this result as wrong.' },
};

/** Thumbs up / down on one verification; the vote can be changed. */
export default function Feedback({ verificationId }) {
  const [vote, setVote] = useState(null); // the vote the server has
  const [pending, setPending] = useState(null);
  const [error, setError] = useState('');

  const cast = async (choice) => {
    if (pending || choice === vote) return;
    setPending(choice);
    setError('');
    try {
      await sendFeedback(verificationId, choice);
      setVote(choice);
    } catch (err) {
      const { code, message } = describeError(err);
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
      {Object.entries(VOTES).map(([choice, { icon, text }]) => (
        <button
          key={choice}
          type="button"
          className={`button vote${vote === choice ? ' chosen' : ''}`}
          aria-pressed={vote === choice}
          disabled={pending !== null}
          data-vote={choice}
          onClick={() => cast(choice)}
        >
          <span aria-hidden="true">{icon}</span> {text}
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
    </div>
  );
}
