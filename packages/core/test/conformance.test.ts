import { createInMemoryBackend, InMemoryEventStore } from '../src/index.js';
import { runConformanceSuite } from '../src/testing/index.js';

runConformanceSuite({
  name: 'in-memory',
  async create(clock) {
    const { store, queue } = createInMemoryBackend({ clock });
    return { store, queue, events: new InMemoryEventStore(store), close: async () => {} };
  },
});
