/** What happened to each photo of an enrolment: enrolled, or refused and why. */
export default function EnrolResult({ result, files }) {
  if (!result) return null;
  const name = (index) => files[index]?.name || `photo ${index + 1}`;
  const rows = [
    ...result.accepted.map((a) => ({ index: a.index, ok: true, text: 'enrolled' })),
    ...result.rejected.map((r) => ({ index: r.index, ok: false, text: r.message, code: r.code })),
  ].sort((a, b) => a.index - b.index);
  return (
    <ul className="enrol-result" aria-label="Photos enrolled and refused">
      {rows.map((row) => (
        <li key={row.index} className={row.ok ? 'accepted' : 'refused'} data-code={row.code || 'ENROLLED'}>
          <strong>{name(row.index)}</strong>: {row.ok ? '✓ enrolled' : `✗ refused: ${row.text}`}
        </li>
      ))}
    </ul>
  );
}
