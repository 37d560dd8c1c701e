import { useState } from 'react';

/** Faces shown at once on a detail page (each is a thumbnail to fetch). */
export const FACES_PAGE = 120;

/** "Showing N of M" and a button for the next page, while there is one. */
export default function ShowMore({ shown, total, onMore }) {
  const [busy, setBusy] = useState(false);
  if (shown >= total) return null;
  return (
    <p className="show-more">
      Showing {shown} of {total}.{' '}
      <button
        type="button"
        className="button"
        disabled={busy}
        onClick={async () => {
          setBusy(true);
          await onMore();
          setBusy(false);
        }}
      >
        Show more
      </button>
    </p>
  );
}
