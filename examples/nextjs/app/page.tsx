import { submitScreening } from './actions';

export default function Home() {
  return (
    <main>
      <h1>Screen a subject</h1>
      <form action={submitScreening}>
        <input name="name" placeholder="Full name" />
        <input name="dob" placeholder="Date of birth" />
        <button type="submit">Screen</button>
      </form>
    </main>
  );
}
