'use client';
// A screening form that fails in the browser with the subject in its state: the name, date of
// birth, NI number, email and card number end up in the error message, in what it logs to the
// console, in the page's URL and in Sentry's user. None of it may reach Sentry or the legacy
// endpoint: the tunnel scrubs it on the server.
import * as Sentry from '@sentry/browser';
import { useEffect, useState } from 'react';

type Subject = { name: string; dob: string; ni: string; email: string; card: string };

const empty: Subject = { name: '', dob: '', ni: '', email: '', card: '' };

export function ScreeningForm() {
  const [subject, setSubject] = useState<Subject>(empty);

  // A link from the list page carries the subject in the query: /screen?name=…&dob=…
  useEffect(() => {
    const query = new URLSearchParams(window.location.search);
    setSubject((s) => ({ ...s, name: query.get('name') ?? '', dob: query.get('dob') ?? '' }));
  }, []);

  function screenSubject(event: React.FormEvent<HTMLFormElement>) {
    event.preventDefault();
    Sentry.setUser({ id: 'officer-17', email: subject.email, username: subject.name });
    console.log('screening', JSON.stringify(subject));
    throw new Error(
      `Screening failed for ${subject.name} (${subject.dob}, ${subject.ni}, ${subject.email}, ${subject.card})`,
    );
  }

  const field = (key: keyof Subject, label: string) => (
    <label>
      {label}{' '}
      <input name={key} value={subject[key]} onChange={(e) => setSubject({ ...subject, [key]: e.target.value })} />
    </label>
  );

  return (
    <form onSubmit={screenSubject}>
      {field('name', 'Full name')}
      {field('dob', 'Date of birth')}
      {field('ni', 'NI number')}
      {field('email', 'Email')}
      {field('card', 'Card number')}
      <button type="submit">Screen</button>
    </form>
  );
}
