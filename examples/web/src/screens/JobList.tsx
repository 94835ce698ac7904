import { useQuery, useSubscription } from '@apollo/client/react';
import { ErrorBanner } from '../ErrorBanner';
import { FINAL_STATUSES, JobsQuery, JobUpdatedSubscription } from '../operations';

/** Keeps one job's cache entry current; Apollo's cache then re-renders every view of it. */
function Live({ id }: { id: string }) {
  const { error } = useSubscription(JobUpdatedSubscription, { variables: { id } });
  return error ? <ErrorBanner error={error} /> : <span className="live" title="live">●</span>;
}

export function JobList() {
  const { data, error, loading, refetch } = useQuery(JobsQuery, { variables: { first: 50 }, fetchPolicy: 'cache-and-network', notifyOnNetworkStatusChange: true });
  const jobs = data?.jobs.edges.map((e) => e.node) ?? [];
  return (
    <section>
      <h2>
        Your jobs{' '}
        <button type="button" data-testid="refresh" onClick={() => refetch().catch(() => undefined)}>
          Refresh
        </button>
      </h2>
      {error && <ErrorBanner error={error} />}
      {loading && !data && <p>Loading…</p>}
      {data && jobs.length === 0 && <p data-testid="no-jobs">No jobs yet. Submit a URS to start one.</p>}
      {jobs.length > 0 && (
        <table data-testid="jobs">
          <thead>
            <tr><th>Title</th><th>Status</th><th>Submitted</th><th>Updated</th></tr>
          </thead>
          <tbody>
            {jobs.map((job) => (
              <tr key={job.id} data-testid="job-row" data-job-id={job.id}>
                <td><a href={`#/jobs/${job.id}`}>{job.title}</a></td>
                <td>
                  <span className={`status ${job.status}`} data-testid="job-status">{job.status}</span>{' '}
                  {!FINAL_STATUSES.has(job.status) && <Live id={job.id} />}
                </td>
                <td>{new Date(job.createdAt).toLocaleString()}</td>
                <td>{new Date(job.updatedAt).toLocaleTimeString()}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
