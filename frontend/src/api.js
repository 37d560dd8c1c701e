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
}

let memoryKey = '';

client.interceptors.request.use((config) => {
  const key = getApiKey() || memoryKey;
  if (key) config.headers.Authorization = `Bearer ${key}`;
  return config;
});

/**
 * POST /api/verify with two image files (File or Blob). `liveness`: also check that
 * the face of the camera shot is live ('image1', 'image2', or 'true' for both); a
 * face that is not gives is_match false, reason "spoof".
 */
export async function verify(image1, image2, { facePolicy, liveness, signal } = {}) {
  const form = new FormData();
  form.append('image1', image1, image1.name || 'image1.jpg');
  form.append('image2', image2, image2.name || 'image2.jpg');
  if (facePolicy) form.append('face_policy', facePolicy);
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
