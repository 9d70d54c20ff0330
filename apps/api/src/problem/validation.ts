import type { ValidationError } from 'class-validator';
import { AppError, type FieldError } from './app-error';

/** Flattens class-validator's tree into `{path, message}` pairs with JSON Pointer paths. */
export function fieldErrors(errors: ValidationError[], parent = ''): FieldError[] {
  return errors.flatMap((error) => {
    const path = `${parent}/${error.property}`;
    const own = Object.values(error.constraints ?? {}).map((message) => ({ path, message }));
    return [...own, ...fieldErrors(error.children ?? [], path)];
  });
}

export function validationProblem(errors: ValidationError[]): AppError {
  const list = fieldErrors(errors);
  const detail = list.map((error) => `${error.path}: ${error.message}`).join('; ');
  return new AppError(400, 'VALIDATION_FAILED', `The request is invalid: ${detail}`.slice(0, 1000), { errors: list });
}
