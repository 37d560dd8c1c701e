import { Link } from 'react-router';

/** A page whose data is not here yet: a way back, and the error if loading failed. */
export default function PageLoading({ back, backLabel, error }) {
  return (
    <section className="page">
      <Link to={back}>← {backLabel}</Link>
      {error ? (
        <p className="general-error" role="alert">
          {error}
        </p>
      ) : (
        <p>Loading…</p>
      )}
    </section>
  );
}
