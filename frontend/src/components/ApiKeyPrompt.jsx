import { useState } from 'react';
import { setApiKey } from '../api.js';

/** Asks for an API key when the server wants one; `onSaved` retries. */
export default function ApiKeyPrompt({ onSaved }) {
  const [key, setKey] = useState('');
  const save = (event) => {
    event.preventDefault();
    if (!key.trim()) return;
    setApiKey(key);
    onSaved?.();
  };
  return (
    <form className="api-key" onSubmit={save} aria-label="Enter an API key">
      <label className="field">
        <span>API key</span>
        <input
          type="password"
          autoComplete="off"
          placeholder="lk_…"
          value={key}
          onChange={(event) => setKey(event.target.value)}
        />
      </label>
      <button type="submit" className="button">
        Use this key
      </button>
      <p className="api-key-note">Ask the server's administrator for a key. It is kept in this browser.</p>
    </form>
  );
}
