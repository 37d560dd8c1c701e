import axios from 'axios';

// Relative URLs: the same build works from Vite's dev proxy, behind nginx and
// served by the Flask app itself.
export const client = axios.create({
  baseURL: '/api',
  timeout: 60_000, // never a spinner forever; the server's own timeout is 60 s too
});

// An API key, when the server needs one (it asks with 401 UNAUTHENTICATED). Kept in
// this browser's local storage and sent as a Bearer token with every call.
const KEY_STORE = 'likeness.apiKey';

export function getApiKey() {
  try {
    return window.localStorage.getItem(KEY_STORE) || '';
  } catch {
    return '';
  }
}

export function setApiKey(key) {
  try {
    if (key) window.localStorage.setItem(KEY_STORE, key.trim());
    else window.localStorage.removeItem(KEY_STORE);
  } catch {
    // storage refused (private mode): the key lasts for this page only
  }
  memoryKey = key ? key.trim() : '';
  forgetCrops([...crops.keys()]); // pictures fetched with another key are not kept
}

let memoryKey = '';

/** Fired on `window` when the server wants a (better) key: the layout asks for one. */
export const KEY_NEEDED = 'likeness:key-needed';

client.interceptors.response.use(
  (response) => response,
  (error) => {
    const code = error?.response?.data?.error?.code;
    if (code === 'UNAUTHENTICATED' || code === 'FORBIDDEN') {
      window.dispatchEvent(new CustomEvent(KEY_NEEDED, { detail: code }));
    }
    return Promise.reject(error);
  },
);

client.interceptors.request.use((config) => {
  const key = getApiKey() || memoryKey;
  if (key) config.headers.Authorization = `Bearer ${key}`;
  return config;
});

/**
 * POST /api/verify with two image files (File or Blob). `faces`: {image1, image2}
 * face indexes to use instead of the face policy's choice. `liveness`: also check that
 * the face of the camera shot is live ('image1', 'image2', or 'true' for both); a
 * face that is not gives is_match false, reason "spoof".
 */
export async function verify(image1, image2, { facePolicy, liveness, faces = {}, signal } = {}) {
  const form = new FormData();
  form.append('image1', image1, image1.name || 'image1.jpg');
  form.append('image2', image2, image2.name || 'image2.jpg');
  if (facePolicy) form.append('face_policy', facePolicy);
  // a face the user clicked in a group photo (its index in the last answer)
  if (Number.isInteger(faces.image1)) form.append('face1', String(faces.image1));
  if (Number.isInteger(faces.image2)) form.append('face2', String(faces.image2));
  if (liveness) form.append('liveness', liveness);
  const { data } = await client.post('/verify', form, { signal });
  return data;
}

/** POST /api/feedback: record or change the vote on one verification. */
export async function sendFeedback(verificationId, vote, comment) {
  const body = { verification_id: verificationId, vote };
  if (comment) body.comment = comment;
  const { data } = await client.post('/feedback', body);
  return data;
}

// --- the gallery: persons, photos, face thumbnails ------------------------------

/** GET /api/persons: a page of persons; `origin` 'enrolled' or 'auto' (clusters). */
export async function listPersons({ origin = 'enrolled', offset = 0, limit = 200 } = {}) {
  const { data } = await client.get('/persons', { params: { origin, offset, limit } });
  return data;
}

/** GET /api/persons/<id>: one person with every face ({face_id, image_id}). */
export async function getPerson(id) {
  const { data } = await client.get(`/persons/${id}`);
  return data;
}

function photosForm(files, fields = {}) {
  const form = new FormData();
  for (const file of files) form.append('image', file, file.name || 'photo.jpg');
  for (const [key, value] of Object.entries(fields)) {
    if (value !== undefined && value !== null && value !== '') form.append(key, value);
  }
  return form;
}

/**
 * Enrol photos: into a new person (`personId` null: name and consent are needed;
 * nothing is made if no photo is accepted) or an existing one. Resolves with the
 * server's answer, {person, accepted, rejected}, also when every photo was refused
 * (HTTP 422: `rejected` says why, photo by photo).
 */
export async function enrolPhotos(files, { personId = null, name, consentBasis, facePolicy } = {}) {
  const url = personId === null ? '/persons' : `/persons/${personId}/faces`;
  const fields = personId === null ? { name, consent_basis: consentBasis } : {};
  if (facePolicy) fields.face_policy = facePolicy;
  try {
    const { data } = await client.post(url, photosForm(files, fields));
    return data;
  } catch (error) {
    if (error?.response?.status === 422 && error.response.data?.rejected) return error.response.data;
    throw error;
  }
}

/** DELETE /api/persons/<id>: the person and every embedding, crop and vote. */
export async function erasePerson(id) {
  const { data } = await client.delete(`/persons/${id}`);
  return data;
}

/** DELETE /api/gallery/images/<image_id>: one photo and its faces. */
export async function removePhoto(imageId) {
  const { data } = await client.delete(`/gallery/images/${encodeURIComponent(imageId)}`);
  return data;
}

// Thumbnails come through the client (with the API key, which an <img> could not
// send), cached as object URLs for the page's lifetime; an erased face is dropped.
const crops = new Map();
const MAX_CROPS = 400; // about 2 MB of thumbnails; the oldest go first

/** An object URL of a face's stored 112x112 crop (rejects if none is kept). */
export function faceCropUrl(faceId) {
  if (!crops.has(faceId)) {
    if (crops.size >= MAX_CROPS) forgetCrops([...crops.keys()].slice(0, crops.size - MAX_CROPS + 1));
    const loading = client
      .get(`/faces/${faceId}/crop`, { responseType: 'blob' })
      .then(({ data }) => URL.createObjectURL(data));
    loading.catch(() => crops.delete(faceId));
    crops.set(faceId, loading);
  }
  return crops.get(faceId);
}

/** Forget cached thumbnails (after an erasure). */
export function forgetCrops(faceIds) {
  for (const id of faceIds) {
    const url = crops.get(id);
    crops.delete(id);
    url?.then((value) => URL.revokeObjectURL(value)).catch(() => {});
  }
}

// --- search ---------------------------------------------------------------------

/** POST /api/search with every face of the photo searched (one list per face). */
export async function searchPhoto(file, { topK = 5 } = {}) {
  const form = new FormData();
  form.append('image', file, file.name || 'photo.jpg');
  form.append('every_face', 'true');
  form.append('top_k', String(topK));
  const { data } = await client.post('/search', form);
  return data;
}

/** POST /api/search/feedback: thumbs up or down on one result (changes an earlier vote). */
export async function voteOnSearch({ searchId, face, personId = null, faceId = null, vote }) {
  const body = { search_id: searchId, face, vote };
  if (personId !== null) body.person_id = personId;
  else body.face_id = faceId;
  const { data } = await client.post('/search/feedback', body);
  return data;
}

/** GET /api/persons/<id>/exemplars: the faces users confirmed as the person. */
export async function listExemplars(personId) {
  const { data } = await client.get(`/persons/${personId}/exemplars`);
  return data;
}

/** DELETE /api/persons/<id>/exemplars/<id>: undo a confirmation (the searched face
 * leaves the person's template). */
export async function forgetExemplar(personId, exemplarId) {
  const { data } = await client.delete(`/persons/${personId}/exemplars/${exemplarId}`);
  return data;
}

// --- clusters ---------------------------------------------------------------------

/** GET /api/clusters: the people found automatically, largest first. */
export async function listClusters({ offset = 0, limit = 200 } = {}) {
  const { data } = await client.get('/clusters', { params: { offset, limit } });
  return data;
}

/** GET /api/clusters/<id>: one cluster with its face ids. */
export async function getCluster(id) {
  const { data } = await client.get(`/clusters/${id}`);
  return data;
}

export async function nameCluster(id, name) {
  const { data } = await client.post(`/clusters/${id}/name`, { name });
  return data;
}

/** Merge cluster `other` into `id` (which keeps its id and name). */
export async function mergeClusters(id, other) {
  const { data } = await client.post(`/clusters/${id}/merge`, { other });
  return data;
}

/** Split the chosen faces off into a new cluster. */
export async function splitCluster(id, faceIds) {
  const { data } = await client.post(`/clusters/${id}/split`, { face_ids: faceIds });
  return data;
}

/** "Not this person": the face leaves its cluster and never rejoins it. */
export async function notThisPerson(faceId) {
  const { data } = await client.post(`/faces/${faceId}/not-this-person`);
  return data;
}

/** POST /api/clusters/run: a full clustering run, as a job. */
export async function runClustering() {
  const { data } = await client.post('/clusters/run', {});
  return data;
}

/** GET /api/jobs/<id>: a job's state and progress. */
export async function getJob(id) {
  const { data } = await client.get(`/jobs/${id}`);
  return data;
}
