import { isProviderError, type ProviderError } from '@feishu-exam/exam-providers';

/** The ProviderError a call fails with; anything else (a success, another error) fails the test. */
export const failureOf = (promise: Promise<unknown>): Promise<ProviderError> =>
  promise.then(
    () => {
      throw new Error('expected a failure');
    },
    (e: unknown) => {
      if (!isProviderError(e)) throw e;
      return e as ProviderError;
    },
  );
