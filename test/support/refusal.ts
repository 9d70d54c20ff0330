import { AppError } from '../../apps/api/src/problem/app-error';

/** The AppError a promise is refused with; fails the test when it resolves or throws anything else. */
export async function refusal(promise: Promise<unknown>): Promise<AppError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}
