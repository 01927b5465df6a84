'use server';
// Server action behind the form on the home page.
import { screenSubject } from '../lib/screening';

export async function submitScreening(form: FormData) {
  screenSubject(String(form.get('name')), String(form.get('dob')));
}
