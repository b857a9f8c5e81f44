/**
 * Group commit for calls that arrive together: items submitted in the same turn
 * of the event loop are written by one `write` call (one transaction, one disk
 * sync). If a batch fails, each item is tried alone, so an error reaches only the
 * caller whose item caused it.
 */
export class Batcher<In, Out> {
  readonly #write: (items: In[]) => Promise<Out[]>;
  #queue: { item: In; resolve: (out: Out) => void; reject: (err: unknown) => void }[] = [];

  constructor(write: (items: In[]) => Promise<Out[]>) {
    this.#write = write;
  }

  submit(item: In): Promise<Out> {
    return new Promise((resolve, reject) => {
      if (this.#queue.push({ item, resolve, reject }) === 1) queueMicrotask(() => void this.#flush());
    });
  }

  async #flush(): Promise<void> {
    const batch = this.#queue;
    this.#queue = [];
    try {
      const outs = await this.#write(batch.map((entry) => entry.item));
      batch.forEach((entry, i) => entry.resolve(outs[i]!));
    } catch (err) {
      if (batch.length === 1) return batch[0]!.reject(err);
      for (const entry of batch) {
        await this.#write([entry.item]).then(([out]) => entry.resolve(out!), entry.reject);
      }
    }
  }
}
