/** A data file that is missing, truncated or not in the expected format; the message names it. */
export class DataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DataError';
  }
}
