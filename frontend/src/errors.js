import axios from 'axios';

// Plain sentences for the API's error codes (see likeness/errors.py). Messages
// for one image are shown next to that image, so they say "this image".
const IMAGE_MESSAGES = {
  NO_FACE: 'No face was found in this image. Try a sharper, well-lit photo of a face looking at the camera.',
  MULTIPLE_FACES: 'This image shows more than one face. Use a photo of one person, or let the app pick the largest face.',
  INVALID_IMAGE: 'This file is not an image we can read. Choose a JPEG, PNG, WebP or BMP photo.',
  INVALID_BASE64: 'This image could not be read. Choose the file again.',
  TRUNCATED_IMAGE: 'This image file is incomplete or damaged. Try another copy of it.',
  UNSUPPORTED_FORMAT: 'This file type is not supported. Choose a JPEG, PNG, WebP or BMP photo.',
  IMAGE_TOO_LARGE: 'This file is too large. Choose a smaller photo (at most 10 MB).',
  IMAGE_TOO_MANY_PIXELS: 'This image has too many pixels. Resize it and try again.',
  IMAGE_TOO_SMALL: 'This image is too small to find a face in. Use a larger photo.',
  IMAGE_TOO_COMPLEX: 'This image would take too long to decode. Save it again as an ordinary JPEG or PNG.',
  EMPTY_FILE: 'This file is empty. Choose another one.',
  MISSING_FIELD: 'Choose a photo or take one with the camera here.',
  IMAGE_ERROR: 'This image could not be used. Try another photo.',
  FACE_ERROR: 'The face in this image could not be used. Try another photo.',
};

const GENERAL_MESSAGES = {
  PAYLOAD_TOO_LARGE: 'The two photos together are too large. Choose smaller files.',
  MODELS_NOT_READY: 'The face models are still loading. Try again in a moment.',
  UNSUPPORTED_MEDIA_TYPE: 'The request was not understood by the server. Reload the page and try again.',
  VALIDATION_ERROR: 'The request was not accepted. Reload the page and try again.',
  NOT_FOUND: 'The server does not know this request. Is the app talking to a Likeness server?',
  UNAUTHENTICATED: 'This server needs an API key for this. Enter one below.',
  FORBIDDEN: 'Your API key does not allow this. Enter a key with more rights below.',
  RATE_LIMITED: 'Too many requests from here just now. Wait a minute and try again.',
  LIVENESS_UNAVAILABLE: 'This server cannot check that a camera shot is live (its liveness models are not installed).',
};

/** Error codes that a (better) API key would cure. */
export const KEY_CODES = new Set(['UNAUTHENTICATED', 'FORBIDDEN']);

export const IMAGE_FIELDS = ['image1', 'image2'];

/**
 * Turn anything the API call threw into `{field, message, code}`: `field` is
 * "image1"/"image2" when the error concerns one image (show it beside that
 * image), otherwise null (show it as a general message).
 */
function imageMessage(detail) {
  return IMAGE_MESSAGES[detail.code] || detail.message || 'This image could not be used. Try another photo.';
}

/**
 * The message of a failed gallery call: the server's own sentence (written for
 * people: "Person 3 is already named 'Ada'"), or a general one.
 */
export function galleryError(error) {
  return describeError(error, { serverWords: true });
}

export function describeError(error, { serverWords = false } = {}) {
  if (axios.isCancel?.(error) || error?.code === 'ERR_CANCELED') {
    return { field: null, code: 'CANCELED', message: 'The comparison was cancelled.' };
  }
  const response = error?.response;
  if (!response) {
    if (error?.code === 'ECONNABORTED' || error?.code === 'ETIMEDOUT') {
      return {
        field: null,
        code: 'TIMEOUT',
        message: 'The server took too long to answer. Try again, perhaps with smaller photos.',
      };
    }
    if (error?.request || error?.code === 'ERR_NETWORK') {
      return {
        field: null,
        code: 'NETWORK',
        message: 'The server could not be reached. Check your connection and try again.',
      };
    }
    return { field: null, code: 'CLIENT', message: 'Something went wrong in the app. Reload the page and try again.' };
  }
  const detail = response.data?.error;
  const code = detail?.code || `HTTP_${response.status}`;
  const field = IMAGE_FIELDS.includes(detail?.field) ? detail.field : null;
  if (field) {
    // the other image's error, when both were bad
    const also = (detail.also || [])
      .filter((other) => IMAGE_FIELDS.includes(other.field))
      .map((other) => ({ field: other.field, code: other.code, message: imageMessage(other) }));
    return { field, code, message: imageMessage(detail), also };
  }
  if (serverWords && detail?.message && !KEY_CODES.has(code)) {
    return { field: null, code, message: detail.message };
  }
  if (GENERAL_MESSAGES[code]) return { field: null, code, message: GENERAL_MESSAGES[code] };
  if (response.status === 413) return { field: null, code, message: GENERAL_MESSAGES.PAYLOAD_TOO_LARGE };
  if (response.status >= 500) {
    return {
      field: null,
      code,
      message: 'The server had a problem and could not compare the photos. Try again in a moment.',
    };
  }
  return { field: null, code, message: detail?.message || `The request failed (HTTP ${response.status}).` };
}
