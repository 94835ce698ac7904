import { useMutation, useQuery, useSubscription } from '@apollo/client/react';
import { useState, type FormEvent } from 'react';
import { ErrorBanner } from '../ErrorBanner';
import { CancelJobMutation, FINAL_STATUSES, JobQuery, JobUpdatedSubscription } from '../operations';

export function JobDetail({ id }: { id: string }) {
  const { data, error, loading, refetch } = useQuery(JobQuery, { variables: { id }, fetchPolicy: 'cache-and-network' });
  const job = data?.job;
  const live = job !== undefined && job !== null && !FINAL_STATUSES.has(job.status);
  const sub = useSubscription(JobUpdatedSubscription, {
    variables: { id },
    skip: !live,
    // The trail gains an event with every change: read it again.
    onData: () => void refetch().catch(() => undefined),
  });
  const [reason, setReason] = useState('');
  const [cancelJob, cancel] = useMutation(CancelJobMutation);

  async function onCancel(e: FormEvent) {
    e.preventDefault();
    const res = await cancelJob({ variables: { id, reason } }).catch(() => null);
    if (res?.data) {
      setReason('');
      await refetch().catch(() => undefined);
    }
  }

  if (error) return <ErrorBanner error={error} />;
  if (loading && !data) return <p>Loading…</p>;
  if (!job) return <p data-testid="not-found">No job with this id.</p>;
  return (
    <section data-testid="job-detail">
      <p><a href="#/jobs">← Jobs</a></p>
      <h2>{job.title}</h2>
      <p>
        Status: <span className={`status ${job.status}`} data-testid="detail-status">{job.status}</span>
        {live && <span className="live" title="live"> ●</span>} · owner {job.ownerId} · submitted {new Date(job.createdAt).toLocaleString()}
      </p>
      {sub.error && <ErrorBanner error={sub.error} />}
      {job.error && <p className="error">{job.error}</p>}

      {live && (
        <form onSubmit={onCancel} className="inline">
          <input data-testid="cancel-reason" value={reason} onChange={(e) => setReason(e.target.value)} placeholder="Why cancel? (recorded in the audit trail)" required />
          <button type="submit" data-testid="cancel" disabled={cancel.loading}>Cancel job</button>
        </form>
      )}
      {cancel.error && <ErrorBanner error={cancel.error} />}

      <h3>Test cases {job.result && `(${job.result.testCases.length} from ${job.result.requirementCount} requirements)`}</h3>
      {!job.result && <p>Test cases appear when the job completes.</p>}
      {job.result && (
        <table data-testid="test-cases">
          <thead>
            <tr><th>Test case</th><th>Traces to</th><th>Steps</th><th>Expected result</th></tr>
          </thead>
          <tbody>
            {job.result.testCases.map((tc) => (
              <tr key={tc.id} data-testid="test-case">
                <td><strong>{tc.id}</strong><br />{tc.title}</td>
                <td><strong data-testid="traces-to">{tc.requirementId}</strong><br /><small>{tc.requirement}</small></td>
                <td><ol>{tc.steps.map((s, i) => <li key={i}>{s}</li>)}</ol></td>
                <td>{tc.expectedResult}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}

      <h3>History</h3>
      <ul data-testid="job-trail">
        {job.auditTrail.map((e) => (
          <li key={e.id}>
            {new Date(e.occurredAt).toLocaleString()} · <strong>{e.action}</strong> by {e.actorEmail ?? e.actorId}
            {e.reason && <> · “{e.reason}”</>}
          </li>
        ))}
      </ul>
      <details>
        <summary>URS document</summary>
        <pre>{job.ursDocument}</pre>
      </details>
    </section>
  );
}
