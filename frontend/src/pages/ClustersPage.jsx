import { useCallback, useEffect, useState } from 'react';
import { Link, useNavigate, useParams } from 'react-router';
import {
  getCluster,
  getJob,
  listClusters,
  listPersons,
  mergeClusters,
  nameCluster,
  notThisPerson,
  runClustering,
  splitCluster,
} from '../api.js';
import ConfirmDialog from '../components/ConfirmDialog.jsx';
import FaceThumb from '../components/FaceThumb.jsx';
import PageLoading from '../components/PageLoading.jsx';
import JobProgress from '../components/JobProgress.jsx';
import ShowMore, { FACES_PAGE } from '../components/ShowMore.jsx';
import { galleryError } from '../errors.js';
import { useLoad, usePaged } from '../useLoad.js';

export function clusterLabel(cluster) {
  return cluster.name || `Unnamed person ${cluster.id}`;
}

/** Clusters: the people found automatically; open one to name, merge or split it. */
export default function ClustersPage() {
  const { clusterId } = useParams();
  return clusterId ? <ClusterDetail clusterId={Number(clusterId)} /> : <ClusterList />;
}

function ClusterList() {
  const page = useCallback(
    (offset, limit) =>
      listClusters({ offset, limit }).then((data) => ({ items: data.clusters, total: data.total })),
    [],
  );
  const loaded = usePaged(page);
  const clusters = loaded.items;
  const total = loaded.total;
  const load = loaded.reload;
  const [job, setJob] = useState(null);
  const [actionError, setError] = useState('');
  const error = actionError || (loaded.error ? galleryError(loaded.error).message : '');

  useEffect(() => {
    if (!job || job.state === 'succeeded' || job.state === 'failed') return undefined;
    const timer = setTimeout(async () => {
      try {
        const next = await getJob(job.id);
        setJob(next);
        if (next.state === 'succeeded') load();
      } catch (failure) {
        setError(galleryError(failure).message);
        setJob(null);
      }
    }, 700);
    return () => clearTimeout(timer);
  }, [job, load]);

  const run = async () => {
    setError('');
    try {
      setJob(await runClustering());
    } catch (failure) {
      setError(galleryError(failure).message);
    }
  };

  const running = job && (job.state === 'queued' || job.state === 'running');
  return (
    <section className="page" aria-labelledby="clusters-title">
      <h2 id="clusters-title" className="page-title">
        Clusters
      </h2>
      <p className="hint">
        People found automatically among the indexed photos, largest first. New photos join them as they are indexed;
        a run groups everything again, keeping every id and name.
      </p>
      <button type="button" className="button primary" onClick={run} disabled={running}>
        {running ? 'Clustering…' : 'Run clustering'}
      </button>
      <JobProgress job={job} />
      {error && (
        <p className="general-error" role="alert">
          {error}
        </p>
      )}
      {clusters && clusters.length === 0 && (
        <p className="empty">No clusters yet: index photos (likeness index DIR), then run clustering.</p>
      )}
      {clusters && clusters.length > 0 && (
        <>
          <p className="count">{total} clusters</p>
          <ul className="cards" aria-label="Clusters">
            {clusters.map((cluster) => (
              <li key={cluster.id} className="card" data-size={cluster.size}>
                <Link to={`/clusters/${cluster.id}`} className="card-link">
                  <FaceThumb faceId={cluster.representative_face_id} alt={`Face of ${clusterLabel(cluster)}`} />
                  <span className="card-title">{clusterLabel(cluster)}</span>
                  <span className="card-sub">
                    {cluster.size} face{cluster.size === 1 ? '' : 's'}
                  </span>
                </Link>
              </li>
            ))}
          </ul>
          <ShowMore shown={clusters.length} total={total} onMore={loaded.more} />
        </>
      )}
    </section>
  );
}

function ClusterDetail({ clusterId }) {
  const navigate = useNavigate();
  const loaded = useLoad(
    useCallback(async () => {
      const [cluster, list, people] = await Promise.all([
        getCluster(clusterId),
        listClusters({ limit: 1000 }),
        listPersons({ origin: 'enrolled', limit: 1000 }),
      ]);
      // a cluster may join an enrolled person; an enrolled person never joins anyone
      const enrolled =
        cluster.origin === 'enrolled'
          ? []
          : people.persons.map((p) => ({ id: p.id, name: p.name, size: p.face_count, enrolled: true }));
      return { cluster, others: [...enrolled, ...list.clusters].filter((c) => c.id !== clusterId) };
    }, [clusterId]),
  );
  const cluster = loaded.data?.cluster ?? null;
  const others = loaded.data?.others ?? [];
  const [name, setName] = useState('');
  const [mergeWith, setMergeWith] = useState('');
  const [confirmMerge, setConfirmMerge] = useState(null);
  const [facesShown, setFacesShown] = useState(FACES_PAGE); // a big cluster: a page at a time
  const [selected, setSelected] = useState(() => new Set());
  const [busy, setBusy] = useState(false);
  const [actionError, setError] = useState('');
  const error = actionError || (loaded.error ? galleryError(loaded.error).message : '');
  const [note, setNote] = useState('');
  // a newly loaded cluster resets the form (state that follows the data)
  const [shown, setShown] = useState(null);
  if (cluster && shown !== cluster) {
    setShown(cluster);
    setName(cluster.name || '');
    setSelected(new Set());
  }

  const act = async (action, done) => {
    setBusy(true);
    setError('');
    setNote('');
    try {
      const answer = await action();
      if (done) done(answer);
      loaded.reload();
    } catch (failure) {
      setError(galleryError(failure).message);
    } finally {
      setBusy(false);
    }
  };

  if (!cluster) return <PageLoading back="/clusters" backLabel="Clusters" error={error} />;

  const toggle = (faceId) =>
    setSelected((current) => {
      const next = new Set(current);
      if (next.has(faceId)) next.delete(faceId);
      else next.add(faceId);
      return next;
    });

  return (
    <section className="page" aria-labelledby="cluster-title">
      <Link to="/clusters">← Clusters</Link>
      <h2 id="cluster-title" className="page-title">
        {clusterLabel(cluster)}
      </h2>
      <p className="card-sub">
        {cluster.size} face{cluster.size === 1 ? '' : 's'}
        {cluster.cohesion !== null ? `, cohesion ${cluster.cohesion.toFixed(2)}` : ''}
      </p>
      {error && (
        <p className="general-error" role="alert">
          {error}
        </p>
      )}
      {note && <p className="note">{note}</p>}
      <div className="toolbar">
        <form
          className="inline"
          onSubmit={(event) => {
            event.preventDefault();
            if (name.trim()) act(() => nameCluster(clusterId, name.trim()), () => setNote('Named.'));
          }}
        >
          <label className="field">
            <span>Name</span>
            <input value={name} onChange={(event) => setName(event.target.value)} disabled={busy} />
          </label>
          <button type="submit" className="button" disabled={busy || !name.trim()}>
            Save name
          </button>
        </form>
        <form
          className="inline"
          onSubmit={(event) => {
            event.preventDefault();
            if (mergeWith) setConfirmMerge(others.find((o) => String(o.id) === mergeWith));
          }}
        >
          <label className="field">
            <span>Merge with</span>
            <select value={mergeWith} onChange={(event) => setMergeWith(event.target.value)} disabled={busy}>
              <option value="">choose a person or cluster…</option>
              {others.map((other) => (
                <option key={other.id} value={other.id}>
                  {clusterLabel(other)} ({other.size} faces{other.enrolled ? ', enrolled' : ''})
                </option>
              ))}
            </select>
          </label>
          <button type="submit" className="button" disabled={busy || !mergeWith}>
            Merge
          </button>
        </form>
        <button
          type="button"
          className="button"
          disabled={busy || selected.size === 0 || selected.size >= cluster.face_ids.length}
          onClick={() =>
            act(
              () => splitCluster(clusterId, [...selected]),
              (made) => navigate(`/clusters/${made.id}`),
            )
          }
        >
          Split {selected.size || ''} selected off
        </button>
      </div>
      {confirmMerge && (
        <ConfirmDialog
          title={`Merge ${clusterLabel(confirmMerge)} and ${clusterLabel(cluster)}?`}
          confirmLabel="Merge"
          busy={busy}
          onCancel={() => setConfirmMerge(null)}
          onConfirm={() => {
            const other = confirmMerge;
            setConfirmMerge(null);
            setMergeWith('');
            if (other.enrolled) {
              // an enrolled person keeps its id and name: this cluster joins it
              act(
                () => mergeClusters(other.id, clusterId),
                () => navigate(`/people/${other.id}`),
              );
            } else {
              act(
                () => mergeClusters(clusterId, other.id),
                () => setNote(`Merged: the faces of ${clusterLabel(other)} are in this cluster now.`),
              );
            }
          }}
        >
          <p>
            {confirmMerge.enrolled
              ? `The ${cluster.size} faces of ${clusterLabel(cluster)} join ${clusterLabel(confirmMerge)}, who keeps their id and name.`
              : `The ${confirmMerge.size} faces of ${clusterLabel(confirmMerge)} join ${clusterLabel(cluster)}, which keeps its id${cluster.name ? ' and name' : ''}.`}{' '}
            To separate them again, select faces and split them off.
          </p>
        </ConfirmDialog>
      )}
      <ul className="cards faces" aria-label={`Faces of ${clusterLabel(cluster)}`}>
        {cluster.face_ids.slice(0, facesShown).map((faceId) => (
          <li key={faceId} className={`card${selected.has(faceId) ? ' selected' : ''}`}>
            <label className="face-select">
              <input
                type="checkbox"
                checked={selected.has(faceId)}
                onChange={() => toggle(faceId)}
                disabled={busy}
              />
              <FaceThumb faceId={faceId} alt={`Face ${faceId}`} />
              <span className="visually-hidden">Select face {faceId}</span>
            </label>
            <button
              type="button"
              className="link danger"
              disabled={busy}
              onClick={() =>
                act(
                  () => notThisPerson(faceId),
                  () => setNote(`Face ${faceId} left ${clusterLabel(cluster)} and will not rejoin it.`),
                )
              }
            >
              Not this person<span className="visually-hidden"> (face {faceId})</span>
            </button>
          </li>
        ))}
      </ul>
      <ShowMore
        shown={Math.min(facesShown, cluster.face_ids.length)}
        total={cluster.face_ids.length}
        onMore={() => setFacesShown((n) => n + FACES_PAGE)}
      />
    </section>
  );
}
