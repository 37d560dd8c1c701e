import { useCallback, useState } from 'react';
import { Link, useNavigate, useParams } from 'react-router';
import {
  enrolPhotos,
  erasePerson,
  forgetCrops,
  forgetExemplar,
  getPerson,
  listExemplars,
  listPersons,
  notThisPerson,
  removePhoto,
} from '../api.js';
import ConfirmDialog from '../components/ConfirmDialog.jsx';
import EnrolResult from '../components/EnrolResult.jsx';
import FaceThumb from '../components/FaceThumb.jsx';
import PageLoading from '../components/PageLoading.jsx';
import PhotoDrop from '../components/PhotoDrop.jsx';
import ShowMore, { FACES_PAGE } from '../components/ShowMore.jsx';
import { galleryError } from '../errors.js';
import { useLoad, usePaged } from '../useLoad.js';

const FACE_POLICIES = [
  ['strict', 'each photo must show one face'],
  ['largest', 'use the largest face of each photo'],
];

/** People: enrolled persons as cards; enrol a new one; open one to tidy it. */
export default function PeoplePage() {
  const { personId } = useParams();
  return personId ? <PersonDetail personId={Number(personId)} /> : <PeopleList />;
}

function PeopleList() {
  const page = useCallback(
    (offset, limit) =>
      listPersons({ offset, limit }).then((data) => ({ items: data.persons, total: data.total })),
    [],
  );
  const { items: persons, total, error, more, reload } = usePaged(page);

  return (
    <section className="page" aria-labelledby="people-title">
      <h2 id="people-title" className="page-title">
        People
      </h2>
      <NewPerson onEnrolled={reload} />
      {error && (
        <p className="general-error" role="alert">
          {galleryError(error).message}
        </p>
      )}
      {persons && persons.length === 0 && <p className="empty">Nobody is enrolled yet. Enrol someone above.</p>}
      {persons && persons.length > 0 && (
        <>
          <p className="count">
            {total} {total === 1 ? 'person' : 'people'} enrolled
          </p>
          <ul className="cards" aria-label="Enrolled people">
            {persons.map((person) => (
              <li key={person.id} className="card">
                <Link to={`/people/${person.id}`} className="card-link">
                  <FaceThumb faceId={person.representative_face_id} alt={`Face of ${person.name}`} />
                  <span className="card-title">{person.name}</span>
                  <span className="card-sub">
                    {person.face_count} face{person.face_count === 1 ? '' : 's'}
                  </span>
                </Link>
              </li>
            ))}
          </ul>
          <ShowMore shown={persons.length} total={total} onMore={more} />
        </>
      )}
    </section>
  );
}

function NewPerson({ onEnrolled }) {
  const [name, setName] = useState('');
  const [consent, setConsent] = useState('');
  const [policy, setPolicy] = useState('strict');
  const [files, setFiles] = useState([]);
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState(null);
  const [sent, setSent] = useState([]);
  const [error, setError] = useState('');
  const [existing, setExisting] = useState(null); // the person who has the name

  const submit = async (event) => {
    event.preventDefault();
    if (!name.trim() || !consent.trim() || files.length === 0) {
      setError('Give a name, the basis of consent, and at least one photo.');
      return;
    }
    setBusy(true);
    setError('');
    setResult(null);
    try {
      const answer = await enrolPhotos(files, { name: name.trim(), consentBasis: consent.trim(), facePolicy: policy });
      setResult(answer);
      setSent(files);
      if (answer.accepted.length) {
        setFiles([]);
        setName('');
        onEnrolled();
      }
    } catch (failure) {
      setError(galleryError(failure).message);
      const detail = failure?.response?.data?.error;
      setExisting(detail?.code === 'PERSON_EXISTS' ? detail.person_id : null);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="panel new-person" onSubmit={submit} aria-labelledby="new-person-title" noValidate>
      <h3 id="new-person-title">Enrol a person</h3>
      <div className="fields">
        <label className="field">
          <span>Name</span>
          <input value={name} onChange={(event) => setName(event.target.value)} disabled={busy} required />
        </label>
        <label className="field">
          <span>Basis of consent</span>
          <input
            value={consent}
            onChange={(event) => setConsent(event.target.value)}
            disabled={busy}
            placeholder="e.g. signed form 2026-11"
            required
          />
        </label>
        <label className="field">
          <span>Photos with several faces</span>
          <select value={policy} onChange={(event) => setPolicy(event.target.value)} disabled={busy}>
            {FACE_POLICIES.map(([value, text]) => (
              <option key={value} value={value}>
                {text}
              </option>
            ))}
          </select>
        </label>
      </div>
      <PhotoDrop files={files} onFiles={setFiles} disabled={busy} />
      <button type="submit" className="button primary" disabled={busy}>
        {busy ? 'Enrolling…' : 'Enrol'}
      </button>
      {error && (
        <p className="general-error" role="alert">
          {error}{' '}
          {existing && <Link to={`/people/${existing}`}>Open them to add these photos.</Link>}
        </p>
      )}
      <div aria-live="polite">
        {result && !result.accepted.length && (
          <p className="general-error">No photo was enrolled, so no person was made:</p>
        )}
        <EnrolResult result={result} files={sent} />
      </div>
    </form>
  );
}

function PersonDetail({ personId }) {
  const navigate = useNavigate();
  const loaded = useLoad(useCallback(() => getPerson(personId), [personId]));
  const person = loaded.data;
  const [actionError, setError] = useState('');
  const error = actionError || (loaded.error ? galleryError(loaded.error).message : '');
  const [confirm, setConfirm] = useState(null); // {kind: 'person'} or {kind: 'photo', imageId}
  const [facesShown, setFacesShown] = useState(FACES_PAGE);
  const [busy, setBusy] = useState(false);
  const [files, setFiles] = useState([]);
  const [result, setResult] = useState(null);
  const [sent, setSent] = useState([]);

  const erase = async () => {
    setBusy(true);
    try {
      if (confirm.kind === 'person') {
        await erasePerson(personId);
        forgetCrops(person.faces.map((face) => face.face_id));
        navigate('/people');
        return;
      }
      if (confirm.kind === 'face') {
        await notThisPerson(confirm.faceId);
        setConfirm(null);
        loaded.reload();
        return;
      }
      await removePhoto(confirm.imageId);
      forgetCrops(person.faces.filter((f) => f.image_id === confirm.imageId).map((f) => f.face_id));
      setConfirm(null);
      loaded.reload();
    } catch (failure) {
      setError(galleryError(failure).message);
      setConfirm(null);
    } finally {
      setBusy(false);
    }
  };

  const addPhotos = async () => {
    setBusy(true);
    setResult(null);
    try {
      const answer = await enrolPhotos(files, { personId });
      setResult(answer);
      setSent(files);
      setFiles([]);
      loaded.reload();
    } catch (failure) {
      setError(galleryError(failure).message);
    } finally {
      setBusy(false);
    }
  };

  if (!person) return <PageLoading back="/people" backLabel="People" error={error} />;
  // photos enrolled for this person (one face each) can be removed whole; a face
  // that joined from an indexed photo (perhaps a group photo) only leaves the person
  const enrolled = new Set(person.image_ids);
  const photos = new Set(person.faces.map((face) => face.image_id)).size;
  const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;
  return (
    <section className="page" aria-labelledby="person-title">
      <Link to="/people">← People</Link>
      <h2 id="person-title" className="page-title">
        {person.name}
      </h2>
      <p className="card-sub">
        {plural(person.faces.length, 'face')} from {plural(photos, 'photo')} ({enrolled.size} enrolled), since{' '}
        {person.created_at?.slice(0, 10)}
        {person.consent?.basis ? `; consent: ${person.consent.basis}` : ''}
      </p>
      {error && (
        <p className="general-error" role="alert">
          {error}
        </p>
      )}
      <ul className="cards faces" aria-label={`Faces of ${person.name}`}>
        {person.faces.slice(0, facesShown).map((face) => (
          <li key={face.face_id} className="card">
            <FaceThumb faceId={face.face_id} alt={`Face ${face.face_id} of ${person.name}`} />
            {enrolled.has(face.image_id) ? (
              <button
                type="button"
                className="link danger"
                onClick={() => setConfirm({ kind: 'photo', imageId: face.image_id })}
              >
                Remove photo<span className="visually-hidden"> of face {face.face_id}</span>
              </button>
            ) : (
              <button
                type="button"
                className="link danger"
                onClick={() => setConfirm({ kind: 'face', faceId: face.face_id })}
              >
                Not this person<span className="visually-hidden"> (face {face.face_id})</span>
              </button>
            )}
          </li>
        ))}
      </ul>
      <ShowMore
        shown={Math.min(facesShown, person.faces.length)}
        total={person.faces.length}
        onMore={() => setFacesShown((n) => n + FACES_PAGE)}
      />
      <ConfirmedFaces personId={personId} name={person.name} />
      <div className="panel">
        <h3>Add photos</h3>
        <PhotoDrop files={files} onFiles={setFiles} disabled={busy} />
        <button type="button" className="button primary" disabled={busy || !files.length} onClick={addPhotos}>
          Add
        </button>
        <div aria-live="polite">
          <EnrolResult result={result} files={sent} />
        </div>
      </div>
      <button type="button" className="button danger" onClick={() => setConfirm({ kind: 'person' })}>
        Erase {person.name}
      </button>
      {confirm && (
        <ConfirmDialog
          title={
            { person: `Erase ${person.name}?`, photo: 'Remove this photo?', face: `Not ${person.name}?` }[
              confirm.kind
            ]
          }
          confirmLabel={{ person: 'Erase for good', photo: 'Remove photo', face: 'Not this person' }[confirm.kind]}
          busy={busy}
          onCancel={() => setConfirm(null)}
          onConfirm={erase}
        >
          {confirm.kind === 'person' && (
            <p>
              This deletes {person.name} and everything kept about them: {plural(person.faces.length, 'face')} (each
              face&apos;s embedding and crop), the {plural(enrolled.size, 'photo')} enrolled for them, and the votes
              given on them. They will no longer be found by search. Photos indexed from folders keep their other
              people&apos;s faces and are not indexed again. It cannot be undone.
            </p>
          )}
          {confirm.kind === 'photo' && (
            <p>
              This deletes the photo enrolled for {person.name}: its record, its face embedding and face crop. The
              person keeps their other photos. It cannot be undone.
            </p>
          )}
          {confirm.kind === 'face' && (
            <p>
              This face came from an indexed photo. It leaves {person.name} (and never rejoins them); it stays in the
              gallery, and so do the photo&apos;s other faces.
            </p>
          )}
        </ConfirmDialog>
      )}
    </section>
  );
}

/** Faces users confirmed in searches: part of the person's template, each undoable. */
function ConfirmedFaces({ personId, name }) {
  const loaded = useLoad(useCallback(() => listExemplars(personId), [personId]));
  const [failure, setFailure] = useState('');
  const exemplars = loaded.data?.exemplars;
  if (!exemplars?.length) return null;
  const undo = async (exemplarId) => {
    setFailure('');
    try {
      await forgetExemplar(personId, exemplarId);
      loaded.reload();
    } catch (error) {
      setFailure(galleryError(error).message);
    }
  };
  return (
    <div className="panel" aria-labelledby="confirmed-title">
      <h3 id="confirmed-title">Learned from searches</h3>
      <p className="card-sub">
        Photos someone confirmed as {name} in a search. Search also finds {name} by them; the photos themselves are
        not kept, only their likeness.
      </p>
      {failure && (
        <p className="general-error" role="alert">
          {failure}
        </p>
      )}
      <ul className="confirmed" aria-label={`Confirmed likenesses of ${name}`}>
        {exemplars.map((exemplar) => (
          <li key={exemplar.id}>
            Confirmed {exemplar.created_at.slice(0, 10)}
            {exemplar.centroid_score !== null && `, similarity to the photos ${exemplar.centroid_score.toFixed(2)}`}{' '}
            <button type="button" className="link" onClick={() => undo(exemplar.id)}>
              Undo<span className="visually-hidden"> confirmation {exemplar.id}</span>
            </button>
          </li>
        ))}
      </ul>
    </div>
  );
}
