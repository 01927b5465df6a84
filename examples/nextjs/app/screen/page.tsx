import { ScreeningForm } from './form';

export const metadata = { title: 'Screen a subject' };

export default function ScreenPage() {
  return (
    <main>
      <h1>Screen a subject (in the browser)</h1>
      <ScreeningForm />
    </main>
  );
}
