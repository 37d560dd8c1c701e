import { useState } from 'react';

/**
 * Thumbs up / down on one answer; `onVote(vote)` stores it (a second click on the
 * other thumb changes it). Shows what was recorded, or why it was not. `onVote` may
 * resolve to `{ note, undo }`: a sentence about what the vote changed, and a way
 * to take that change back (an Undo button).
 */
export default function VoteButtons({ label, onVote }) {
  const [vote, setVote] = useState(null);
  const [state, setState] = useState('idle');
  const [learned, setLearned] = useState(null);

  const send = async (value) => {
    setState('sending');
    try {
      const outcome = await onVote(value);
      setVote(value);
      setLearned(outcome && outcome.note ? outcome : null);
      setState('saved');
    } catch {
      setState('failed');
    }
  };

  const undo = async () => {
    setState('sending');
    try {
      await learned.undo();
      setLearned({ note: learned.undone });
      setState('saved');
    } catch {
      setState('failed');
    }
  };

  return (
    <span className="votes" role="group" aria-label={`Is ${label} right?`}>
      {[
        ['up', '✓', 'Right'],
        ['down', '✗', 'Wrong'],
      ].map(([value, icon, text]) => (
        <button
          key={value}
          type="button"
          className={`vote${vote === value ? ' selected' : ''}`}
          aria-pressed={vote === value}
          disabled={state === 'sending'}
          onClick={() => send(value)}
          title={`${text}: ${label}`}
        >
          <span aria-hidden="true">{icon}</span>
          <span className="visually-hidden">
            {text}: {label}
          </span>
        </button>
      ))}
      {state === 'saved' && !learned && <span className="vote-note">Thanks, recorded.</span>}
      {state === 'saved' && learned && (
        <span className="vote-note" role="status">
          {learned.note}{' '}
          {learned.undo && (
            <button type="button" className="link" onClick={undo}>
              Undo
            </button>
          )}
        </span>
      )}
      {state === 'failed' && (
        <span className="vote-note error" role="alert">
          Not recorded. Try again.
        </span>
      )}
    </span>
  );
}
