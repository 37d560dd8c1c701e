/** A background job as a progress bar with its state and message. */
export default function JobProgress({ job }) {
  if (!job) return null;
  const fraction = job.progress?.fraction;
  const done = job.state === 'succeeded' || job.state === 'failed';
  return (
    <div className={`job job-${job.state}`} role="status" aria-live="polite">
      <progress max={1} value={done ? 1 : (fraction ?? undefined)} aria-label="Clustering progress" />
      <span>
        {job.state === 'queued' && 'Waiting to start…'}
        {job.state === 'running' && `${Math.round((fraction || 0) * 100)}%${job.message ? `: ${job.message}` : ''}`}
        {job.state === 'succeeded' && `Done. ${summary(job.result)}`}
        {job.state === 'failed' && `Failed: ${job.error?.message || 'unknown error'}`}
      </span>
    </div>
  );
}

/** What a clustering run did, in a sentence. */
function summary(result) {
  if (!result || result.clusters === undefined) return '';
  return (
    `${result.clusters} clusters (${result.new_clusters} new, ${result.removed_clusters} removed); ` +
    `${result.changed_faces} faces placed or moved, ${result.unassigned} wait for more evidence.`
  );
}
