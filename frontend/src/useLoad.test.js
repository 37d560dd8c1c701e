import { act, renderHook, waitFor } from '@testing-library/react';
import { expect, test } from 'vitest';
import { usePaged } from './useLoad.js';

test('usePaged loads the first page, appends the next, and starts again on reload', async () => {
  const all = ['a', 'b', 'c', 'd', 'e'];
  const calls = [];
  const fetchPage = async (offset, limit) => {
    calls.push([offset, limit]);
    return { items: all.slice(offset, offset + limit), total: all.length };
  };
  const { result } = renderHook(() => usePaged(fetchPage, 2));
  await waitFor(() => expect(result.current.items).toEqual(['a', 'b']));
  expect(result.current.total).toBe(5);
  await act(() => result.current.more());
  expect(result.current.items).toEqual(['a', 'b', 'c', 'd']);
  await act(() => result.current.more());
  expect(result.current.items).toEqual(['a', 'b', 'c', 'd', 'e']);
  expect(calls).toEqual([
    [0, 2],
    [2, 2],
    [4, 2],
  ]);
  act(() => result.current.reload());
  await waitFor(() => expect(calls.length).toBe(4));
  await waitFor(() => expect(result.current.items).toEqual(['a', 'b']));
});
