import { useCallback, useEffect, useState } from 'react';

/**
 * Load data for a page: `fetcher` (memoised by the caller) runs on mount, when it
 * changes, and on `reload()`. Returns {data, error, reload}; a failed reload keeps
 * the data shown before.
 */
export function useLoad(fetcher) {
  const [state, setState] = useState({ data: null, error: null });
  const [version, setVersion] = useState(0);
  useEffect(() => {
    let live = true;
    fetcher().then(
      (data) => live && setState({ data, error: null }),
      (error) => live && setState((current) => ({ data: current.data, error })),
    );
    return () => {
      live = false;
    };
  }, [fetcher, version]);
  const reload = useCallback(() => setVersion((current) => current + 1), []);
  return { ...state, reload };
}
