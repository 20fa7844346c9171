/** The readings of a Basic user-pass (src/token-endpoint/basic-credentials.ts, docs/security.md). */
import { describe, expect, it } from 'vitest';
import { basicReadings } from '../../src/token-endpoint/basic-credentials.js';

describe('basicReadings', () => {
  it('reads a form-encoded value first (RFC 6749 §2.3.1), then the raw value when it differs', () => {
    expect(basicReadings('my%3Aclient:ab%2Bcd%2Fef%3D%3D', [])).toEqual([
      { id: 'my:client', secret: 'ab+cd/ef==' },
      { id: 'my%3Aclient', secret: 'ab%2Bcd%2Fef%3D%3D' },
    ]);
    expect(basicReadings('app:ab+cd/ef==', [])).toEqual([
      { id: 'app', secret: 'ab cd/ef==' },
      { id: 'app', secret: 'ab+cd/ef==' },
    ]);
  });

  it('keeps one reading when both are the same', () => {
    expect(basicReadings('app:app-secret', [])).toEqual([{ id: 'app', secret: 'app-secret' }]);
    expect(basicReadings('spa:', [])).toEqual([{ id: 'spa', secret: '' }]);
  });

  it('reads a raw value that is not valid form-encoding raw only', () => {
    expect(basicReadings('app:50%off', [])).toEqual([{ id: 'app', secret: '50%off' }]);
  });

  it('splits raw after a configured id that contains a colon', () => {
    expect(basicReadings('my:client:ab+cd/ef==', ['my:client', 'other:id'])).toEqual([
      { id: 'my', secret: 'client:ab cd/ef==' },
      { id: 'my', secret: 'client:ab+cd/ef==' },
      { id: 'my:client', secret: 'ab+cd/ef==' },
    ]);
  });

  it('has no reading without a colon', () => {
    expect(basicReadings('no-colon', ['no'])).toEqual([]);
  });
});
