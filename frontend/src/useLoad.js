import { useCallback, useEffect, useMemo, useState } from 'react';

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

/**
 * A list loaded a page at a time: `fetchPage(offset, limit)` (memoised by the
 * caller) resolves to {items, total}. Returns {items, total, error, more, reload}:
 * `more()` appends the next page; `reload()` starts again from the first.
 */
export function usePaged(fetchPage, pageSize = 100) {
  const first = useCallback(() => fetchPage(0, pageSize), [fetchPage, pageSize]);
  const { data, error, reload } = useLoad(first);
  const [extra, setExtra] = useState({ base: null, items: [] });
  const [failure, setFailure] = useState(null);
  // pages appended to an older first page are dropped when it reloads
  const appended = useMemo(() => (extra.base === data ? extra.items : []), [extra, data]);
  const items = data ? [...data.items, ...appended] : null;
  const more = useCallback(async () => {
    if (!data) return;
    try {
      const page = await fetchPage(data.items.length + appended.length, pageSize);
      setExtra({ base: data, items: [...appended, ...page.items] });
      setFailure(null);
    } catch (caught) {
      setFailure(caught);
    }
  }, [data, appended, fetchPage, pageSize]);
  return { items, total: data?.total ?? 0, error: error || failure, more, reload };
}
