import type { Catalog } from '../../src/host/catalog.js';
import type { RuntimesInfo } from '../../src/schemas/runtimes.js';

/** A Catalog with a fixed answer: GET /v1/runtimes through app.inject. */
export class FakeCatalog implements Catalog {
  calls = 0;
  constructor(public info: RuntimesInfo) {}
  async describe(): Promise<RuntimesInfo> {
    this.calls++;
    return this.info;
  }
}
