import { useQuery } from '@apollo/client/react';
import { useEffect, useState } from 'react';
import { ErrorBanner } from './ErrorBanner';
import { ViewerQuery } from './operations';
import { AuditTrail } from './screens/AuditTrail';
import { JobDetail } from './screens/JobDetail';
import { JobList } from './screens/JobList';
import { SubmitJob } from './screens/SubmitJob';
import { useSession } from './session';

/** Hash routes: #/jobs, #/jobs/<id>, #/submit, #/audit. */
function useRoute(): string[] {
  const read = () => window.location.hash.replace(/^#\/?/, '').split('/').filter(Boolean);
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const on = () => setRoute(read());
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return route;
}

export function App() {
  const session = useSession();
  const viewer = useQuery(ViewerQuery);
  const [screen = 'jobs', id] = useRoute();
  const roles = viewer.data?.viewer.roles ?? [];
  const reviewer = roles.includes('AUDITOR') || roles.includes('ADMIN');
  return (
    <>
      <header>
        <h1>jobledger</h1>
        <nav>
          <a href="#/jobs" className={screen === 'jobs' ? 'active' : ''}>Jobs</a>
          <a href="#/submit" className={screen === 'submit' ? 'active' : ''}>Submit a URS</a>
          {reviewer && <a href="#/audit" className={screen === 'audit' ? 'active' : ''}>Audit trail</a>}
        </nav>
        <span className="who" data-testid="who">
          {viewer.data ? `${viewer.data.viewer.email ?? viewer.data.viewer.userId} · ${roles.join(', ')}` : session.label}
          <button type="button" onClick={() => session.signOut()}>Sign out</button>
        </span>
      </header>
      <main>
        {viewer.error && <ErrorBanner error={viewer.error} />}
        {screen === 'jobs' && !id && <JobList />}
        {screen === 'jobs' && id && <JobDetail id={id} />}
        {screen === 'submit' && <SubmitJob />}
        {screen === 'audit' && <AuditTrail />}
      </main>
    </>
  );
}
