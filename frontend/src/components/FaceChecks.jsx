/** What the server's face checks said about the face used: a live/spoof badge for
 * camera shots (when liveness was checked) and a note for any failed check. */

const NOTES = {
  too_small: 'The face is very small: a closer photo compares more reliably.',
  low_quality: 'The face is blurred, dark or unclear: the comparison may be unreliable.',
  cartoon: 'The face looks drawn, not photographed.',
};

export default function FaceChecks({ checks }) {
  if (!checks?.scores) return null;
  const { is_live: live, liveness_score: score } = checks.scores;
  const notes = (checks.reasons ?? []).filter((reason) => NOTES[reason]);
  if (typeof live !== 'boolean' && notes.length === 0) return null;
  return (
    <div className="face-checks">
      {typeof live === 'boolean' && (
        <p className={`live-badge ${live ? 'live' : 'spoof'}`} data-live={live}>
          <span aria-hidden="true">{live ? '●' : '▲'}</span>{' '}
          {live ? 'Live face' : 'Not live: looks like a photo or a screen'}
          {typeof score === 'number' && <span className="live-score"> ({score.toFixed(2)})</span>}
        </p>
      )}
      {notes.map((reason) => (
        <p key={reason} className="check-note">
          {NOTES[reason]}
        </p>
      ))}
    </div>
  );
}
