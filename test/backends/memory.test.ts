import { describe, expect, it } from 'vitest';
import { MemoryStorage } from '../../src/backends/memory.js';
import type { Storage } from '../../src/backends/storage.js';
import { describeStorageContract, expectKind } from './contract.js';

const _conforms: Storage = new MemoryStorage();

describeStorageContract('memory', {
  make: async () => new MemoryStorage(),
  enforcesIfAbsent: true,
});

describe('MemoryStorage', () => {
  it('keeps its own copy of saved and loaded bytes', async () => {
    const s = new MemoryStorage();
    const data = Buffer.from('abc');
    await s.save('config', data);
    data[0] = 0x7a;
    const loaded = await s.load('config');
    loaded[1] = 0x7a;
    expect((await s.load('config')).toString()).toBe('abc');
    expect(s.size).toBe(1);
  });

  it('refuses use after close', async () => {
    const s = new MemoryStorage();
    await s.close();
    await expectKind(s.load('config'), 'other');
    expect(_conforms.location).toBe('memory:');
  });
});
