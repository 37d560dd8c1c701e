import { render, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { client, setApiKey } from '../api.js';
import Feedback from './Feedback.jsx';

let requests;

beforeEach(() => {
  requests = [];
  setApiKey('');
  // The network is replaced; axios (and its interceptor) is real.
  client.defaults.adapter = async (config) => {
    requests.push(config);
    const auth = config.headers.Authorization;
    if (auth !== 'Bearer lk_test_secretsecretsecret') {
      const body = { error: { code: 'UNAUTHENTICATED', message: 'An API key is needed.', field: null } };
      const error = new Error('401');
      error.response = { status: 401, data: body, headers: {}, config };
      error.config = config;
      error.isAxiosError = true;
      throw error;
    }
    return { status: 201, data: { vote: 'up' }, headers: {}, config, statusText: 'Created' };
  };
});

afterEach(() => setApiKey(''));

test('a vote the server refuses without a key asks for one, then goes through with it', async () => {
  const user = userEvent.setup();
  render(<Feedback verificationId="v1" />);
  await user.click(screen.getByRole('button', { name: /right/i }));
  expect(await screen.findByText(/needs an API key/i)).toBeTruthy();
  await user.type(screen.getByLabelText('API key'), 'lk_test_secretsecretsecret');
  await user.click(screen.getByRole('button', { name: /use this key/i }));
  await waitFor(() => expect(screen.getByText(/you marked this result as right/i)).toBeTruthy());
  expect(requests).toHaveLength(2);
  expect(requests[1].headers.Authorization).toBe('Bearer lk_test_secretsecretsecret');
  expect(window.localStorage.getItem('likeness.apiKey')).toBe('lk_test_secretsecretsecret');
});
