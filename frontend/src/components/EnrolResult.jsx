// Refusals worded for this app (the server's words name API options).
const REASONS = {
  MULTIPLE_FACES:
    'this photo shows several faces. Use a photo of the person alone, or choose "use the largest face of each photo".',
  FACE_MISMATCH: "this face does not look like the person's other photos (a different person?).",
  DUPLICATE_IMAGE: 'this photo is enrolled already.',
  NO_FACE: 'no face was found in this photo.',
};

/** What happened to each photo of an enrolment: enrolled, or refused and why. */
export default function EnrolResult({ result, files }) {
  if (!result) return null;
  const name = (index) => files[index]?.name || `photo ${index + 1}`;
  const rows = [
    ...result.accepted.map((a) => ({ index: a.index, ok: true, text: 'enrolled' })),
    ...result.rejected.map((r) => ({ index: r.index, ok: false, text: REASONS[r.code] || r.message, code: r.code })),
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
