import { useQuery } from '@apollo/client/react';
import { useState, type FormEvent } from 'react';
import { ErrorBanner } from '../ErrorBanner';
import { AuditEventsQuery } from '../operations';

interface Filters {
  actorId: string;
  jobId: string;
  action: string;
  from: string;
  to: string;
}
const EMPTY: Filters = { actorId: '', jobId: '', action: '', from: '', to: '' };

/** `datetime-local` values are local time without a zone; the API wants an instant. */
const instant = (local: string): string | undefined => (local ? new Date(local).toISOString() : undefined);

/** Auditors and admins: who did what, when, why, and from where. */
export function AuditTrail() {
  const [draft, setDraft] = useState<Filters>(EMPTY);
  const [applied, setApplied] = useState<Filters>(EMPTY);
  const variables = {
    first: 50,
    actorId: applied.actorId || undefined,
    jobId: applied.jobId || undefined,
    action: applied.action || undefined,
    from: instant(applied.from),
    to: instant(applied.to),
  };
  const { data, error, loading, fetchMore } = useQuery(AuditEventsQuery, { variables, fetchPolicy: 'network-only' });
  const events = data?.auditEvents.edges.map((e) => e.node) ?? [];
  const page = data?.auditEvents.pageInfo;

  function apply(e: FormEvent) {
    e.preventDefault();
    setApplied(draft);
  }
  const field = (name: keyof Filters, label: string, type = 'text') => (
    <label>
      {label}
      <input data-testid={`filter-${name}`} type={type} value={draft[name]} onChange={(e) => setDraft({ ...draft, [name]: e.target.value })} />
    </label>
  );

  return (
    <section>
      <h2>Audit trail</h2>
      <form onSubmit={apply} className="filters">
        {field('actorId', 'Who (user id)')}
        {field('jobId', 'Job id')}
        {field('action', 'Action')}
        {field('from', 'From', 'datetime-local')}
        {field('to', 'To', 'datetime-local')}
        <button type="submit" data-testid="apply-filters">Filter</button>
        <button type="button" onClick={() => (setDraft(EMPTY), setApplied(EMPTY))}>Clear</button>
      </form>
      {error && <ErrorBanner error={error} />}
      {loading && !data && <p>Loading…</p>}
      {data && events.length === 0 && <p data-testid="no-events">No events match.</p>}
      {events.length > 0 && (
        <table data-testid="audit-events">
          <thead>
            <tr><th>When</th><th>Who</th><th>What</th><th>Why</th><th>Where</th></tr>
          </thead>
          <tbody>
            {events.map((e) => (
              <tr key={e.id} data-testid="audit-event" data-action={e.action} data-actor={e.actorId}>
                <td>{new Date(e.occurredAt).toLocaleString()}</td>
                <td>
                  <strong>{e.actorEmail ?? e.actorId}</strong>
                  {e.actorEmail && <><br /><small>{e.actorId}</small></>}
                  {e.sessionId && <><br /><small>session {e.sessionId}</small></>}
                  {e.tokenIssuedAt && <><br /><small>token issued {new Date(e.tokenIssuedAt).toLocaleTimeString()}</small></>}
                  {e.impersonatorId && <><br /><small>impersonated by {e.impersonatorId}</small></>}
                </td>
                <td>{e.action}{e.jobId && <><br /><a href={`#/jobs/${e.jobId}`}><small>{e.jobId}</small></a></>}</td>
                <td data-testid="audit-reason">{e.reason ?? '—'}</td>
                <td><small>{e.ip ?? '—'}<br />{e.userAgent ?? ''}<br />{e.requestId && `request ${e.requestId}`}</small></td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {page?.hasNextPage && (
        <button type="button" onClick={() => void fetchMore({
          variables: { after: page.endCursor },
          updateQuery: (prev, { fetchMoreResult }) => ({
            ...fetchMoreResult,
            auditEvents: { ...fetchMoreResult.auditEvents, edges: [...prev.auditEvents.edges, ...fetchMoreResult.auditEvents.edges] },
          }),
        })}>
          Load more
        </button>
      )}
    </section>
  );
}
