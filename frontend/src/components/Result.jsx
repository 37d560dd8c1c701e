import Feedback from './Feedback.jsx';

const STAGES = [
  ['decode', 'Decode'],
  ['detect', 'Detect'],
  ['embed', 'Embed'],
  ['compare', 'Compare'],
  ['total', 'Total'],
];

const ms = (value) => (typeof value === 'number' ? `${value.toFixed(value < 10 ? 1 : 0)} ms` : '–');

/** Similarity on a bar from -0.2 to 1 with the threshold marked. */
function ScoreBar({ similarity, threshold }) {
  const low = -0.2;
  const position = (value) => `${Math.min(100, Math.max(0, ((value - low) / (1 - low)) * 100))}%`;
  return (
    <div className="score-bar" aria-hidden="true">
      <div className="score-fill" style={{ width: position(similarity) }} />
      <div className="score-threshold" style={{ left: position(threshold) }} title="threshold" />
    </div>
  );
}

export default function Result({ result }) {
  const match = result.is_match;
  return (
    <section className={`result ${match ? 'match' : 'no-match'}`} aria-labelledby="result-title" data-match={match}>
      <h2 id="result-title" className="verdict">
        <span className="verdict-icon" aria-hidden="true">
          {match ? '✓' : '✕'}
        </span>
        {match
          ? 'Match: same person'
          : result.reason === 'spoof'
            ? 'No match: a face did not look live'
            : 'No match: different people'}
      </h2>
      <dl className="numbers">
        <div>
          <dt>Similarity</dt>
          <dd className="similarity">{result.similarity.toFixed(3)}</dd>
        </div>
        <div>
          <dt>Threshold</dt>
          <dd>{result.threshold.toFixed(3)}</dd>
        </div>
        <div>
          <dt>Model</dt>
          <dd>{result.model?.pack ?? '–'}</dd>
        </div>
      </dl>
      <ScoreBar similarity={result.similarity} threshold={result.threshold} />
      <p className="explain">
        Photos count as the same person when the similarity is at least the threshold ({result.threshold.toFixed(2)})
        {result.reason === 'spoof' ? ' and every camera shot shows a live face.' : '.'}
      </p>
      {result.livenessUnavailable && (
        <p className="explain">This server cannot check that a camera shot is live; only the faces were compared.</p>
      )}
      <div className="timings">
        <h3>Time per stage</h3>
        <dl>
          {STAGES.map(([key, name]) => (
            <div key={key} className={key === 'total' ? 'total' : undefined}>
              <dt>{name}</dt>
              <dd>{ms(result.timings_ms?.[key])}</dd>
            </div>
          ))}
        </dl>
      </div>
      <Feedback key={result.verification_id} verificationId={result.verification_id} />
    </section>
  );
}
