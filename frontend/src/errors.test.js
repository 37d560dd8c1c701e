import { describe, expect, test } from 'vitest';
import { describeError, galleryError } from './errors.js';

const apiError = (status, code, field = null, message = 'server says no') => ({
  response: { status, data: { error: { code, message, field } } },
});

describe('describeError', () => {
  test('an error about one image goes to that image, as a plain sentence', () => {
    expect(describeError(apiError(422, 'NO_FACE', 'image2'))).toEqual({
      field: 'image2',
      code: 'NO_FACE',
      message: expect.stringMatching(/^No face was found in this image\./),
      also: [],
    });
    expect(describeError(apiError(400, 'INVALID_IMAGE', 'image1')).message).toMatch(/not an image/);
    expect(describeError(apiError(415, 'UNSUPPORTED_FORMAT', 'image1')).message).toMatch(/JPEG, PNG, WebP or BMP/);
  });

  test("an image error with a code the app does not know keeps the server's message", () => {
    expect(describeError(apiError(422, 'NEW_CODE', 'image1', 'Face too blurry.'))).toEqual({
      field: 'image1',
      code: 'NEW_CODE',
      message: 'Face too blurry.',
      also: [],
    });
  });

  test('when both images are bad, both are told', () => {
    const error = apiError(400, 'INVALID_IMAGE', 'image1');
    error.response.data.error.also = [{ code: 'NO_FACE', field: 'image2', message: 'No face.' }];
    const described = describeError(error);
    expect(described.field).toBe('image1');
    expect(described.also).toEqual([
      { field: 'image2', code: 'NO_FACE', message: expect.stringMatching(/^No face was found/) },
    ]);
  });

  test("gallery pages show the server's own sentence", () => {
    const error = apiError(409, 'PERSON_EXISTS', 'name', "Person 3 is already named 'Ada'.");
    expect(galleryError(error).message).toBe("Person 3 is already named 'Ada'.");
    expect(galleryError(apiError(401, 'UNAUTHENTICATED')).message).toMatch(/API key/);
  });

  test('errors not about an image are general', () => {
    expect(describeError(apiError(400, 'VALIDATION_ERROR', 'face_policy')).field).toBeNull();
    expect(describeError(apiError(413, 'PAYLOAD_TOO_LARGE')).message).toMatch(/too large/);
    expect(describeError(apiError(503, 'MODELS_NOT_READY')).message).toMatch(/still loading/);
    expect(describeError({ response: { status: 502, data: '<html>Bad gateway</html>' } })).toMatchObject({
      field: null,
      code: 'HTTP_502',
      message: expect.stringMatching(/server had a problem/),
    });
  });

  test('no answer at all: timeout or network', () => {
    expect(describeError({ code: 'ECONNABORTED', request: {} }).message).toMatch(/too long/);
    expect(describeError({ code: 'ERR_NETWORK', request: {} }).message).toMatch(/could not be reached/);
  });
});
