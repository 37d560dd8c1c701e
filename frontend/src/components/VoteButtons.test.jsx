import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { expect, test, vi } from 'vitest';
import VoteButtons from './VoteButtons.jsx';

test('a plain vote says it was recorded', async () => {
  const user = userEvent.setup();
  const onVote = vi.fn().mockResolvedValue(null);
  render(<VoteButtons label="Ann" onVote={onVote} />);
  await user.click(screen.getByRole('button', { name: 'Right: Ann' }));
  expect(onVote).toHaveBeenCalledWith('up');
  expect(await screen.findByText('Thanks, recorded.')).toBeTruthy();
  expect(screen.getByRole('button', { name: 'Right: Ann' }).getAttribute('aria-pressed')).toBe('true');
});

test('a vote that taught something says what, and undo takes it back', async () => {
  const user = userEvent.setup();
  const undo = vi.fn().mockResolvedValue({});
  const onVote = vi.fn().mockResolvedValue({ note: 'Learned Ann.', undo, undone: 'Forgot Ann.' });
  render(<VoteButtons label="Ann" onVote={onVote} />);
  await user.click(screen.getByRole('button', { name: 'Right: Ann' }));
  expect(await screen.findByText(/Learned Ann\./)).toBeTruthy();
  await user.click(screen.getByRole('button', { name: 'Undo' }));
  expect(undo).toHaveBeenCalledOnce();
  expect(await screen.findByText('Forgot Ann.')).toBeTruthy();
  expect(screen.queryByRole('button', { name: 'Undo' })).toBeNull();
});

test('an undo that fails says so', async () => {
  const user = userEvent.setup();
  const undo = vi.fn().mockRejectedValue(new Error('down'));
  render(<VoteButtons label="Ann" onVote={async () => ({ note: 'Learned Ann.', undo, undone: 'x' })} />);
  await user.click(screen.getByRole('button', { name: 'Right: Ann' }));
  await user.click(await screen.findByRole('button', { name: 'Undo' }));
  expect(await screen.findByRole('alert')).toBeTruthy();
});
