/** One request's outcome in a batch: its answer, or why it failed. */
export type BatchOutcome = { readonly answer: unknown } | { readonly error: Error };

/**
 * Requests to one node that go together: one is sent at once; those asked for
 * while it is on its way wait, and go in the next message, up to `maxBatch`.
 * A node that takes many changes at once then sends the holder one message
 * and gets one answer for each batch of them, not one for each change, and
 * a lone request waits for nothing (Nagle's rule, for changes). The batch's
 * answer holds an outcome for each request, in order; a batch that fails as
 * a whole (no answer in time, the connection lost) fails each of its requests
 * with that error.
 */
export class Batched {
  readonly #send: (bodies: readonly unknown[]) => Promise<readonly BatchOutcome[]>;
  readonly #maxBatch: number;
  #waiting: { readonly body: unknown; readonly resolve: (answer: unknown) => void; readonly reject: (error: Error) => void }[] = [];
  #sending = false;

  constructor(send: (bodies: readonly unknown[]) => Promise<readonly BatchOutcome[]>, maxBatch: number) {
    this.#send = send;
    this.#maxBatch = maxBatch;
  }

  request(body: unknown): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.#waiting.push({ body, resolve, reject });
      if (!this.#sending) void this.#next();
    });
  }

  async #next(): Promise<void> {
    this.#sending = true;
    while (this.#waiting.length > 0) {
      const batch = this.#waiting.splice(0, this.#maxBatch);
      try {
        const outcomes = await this.#send(batch.map((request) => request.body));
        batch.forEach((request, index) => {
          const outcome = outcomes[index];
          if (outcome === undefined) request.reject(new Error(`the batch's answer has ${outcomes.length} outcomes for ${batch.length} requests`));
          else if ('error' in outcome) request.reject(outcome.error);
          else request.resolve(outcome.answer);
        });
      } catch (error) {
        for (const request of batch) request.reject(error as Error);
      }
    }
    this.#sending = false;
  }
}
