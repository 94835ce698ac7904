import { useMutation } from '@apollo/client/react';
import { useState, type FormEvent } from 'react';
import { ErrorBanner } from '../ErrorBanner';
import { CreateJobMutation } from '../operations';

export function SubmitJob() {
  const [title, setTitle] = useState('');
  const [text, setText] = useState('');
  // One key per form fill: a retried submit (double click, flaky network) creates one job.
  const [idempotencyKey, setKey] = useState(() => crypto.randomUUID());
  const [createJob, { loading, error }] = useMutation(CreateJobMutation, { refetchQueries: ['Jobs'] });

  async function onFile(file: File | undefined) {
    if (!file) return;
    setText(await file.text());
    if (!title) setTitle(file.name.replace(/\.txt$/i, ''));
  }

  async function submit(e: FormEvent) {
    e.preventDefault();
    const res = await createJob({ variables: { input: { title, ursDocument: text, idempotencyKey } } }).catch(() => null);
    if (res?.data) {
      setKey(crypto.randomUUID());
      window.location.hash = '#/jobs';
    }
  }

  return (
    <section>
      <h2>Submit a URS</h2>
      <form onSubmit={submit} className="stack">
        <label>
          Title
          <input data-testid="title" value={title} onChange={(e) => setTitle(e.target.value)} required maxLength={200} />
        </label>
        <label>
          Upload a .txt file
          <input data-testid="file" type="file" accept=".txt,text/plain" onChange={(e) => void onFile(e.target.files?.[0])} />
        </label>
        <label>
          …or paste the URS
          <textarea data-testid="urs" value={text} onChange={(e) => setText(e.target.value)} rows={12} required placeholder="URS-001 The system shall …" />
        </label>
        {error && <ErrorBanner error={error} />}
        <button type="submit" data-testid="submit" disabled={loading}>
          {loading ? 'Submitting…' : 'Submit'}
        </button>
      </form>
    </section>
  );
}
