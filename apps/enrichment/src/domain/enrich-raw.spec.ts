import { eventsV1 } from '@ais/contracts-proto-ts';
import { enrichedEventId, enrichRaw, PoisonEvent } from './enrich-raw';
import type { UserRule } from './categorize';

const tx = (description: string, amount: string, over: Partial<eventsV1.RawTransaction> = {}): eventsV1.RawTransaction =>
  eventsV1.RawTransaction.fromPartial({ transactionId: `t-${description}`, description, amount, currency: 'GBP', transactionType: amount.startsWith('-') ? 'DEBIT' : 'CREDIT', transactionCategory: 'PURCHASE', ...over });

const raw = (payload: eventsV1.RawDataEvent['payload'], over: Partial<eventsV1.RawDataEvent> = {}): eventsV1.RawDataEvent => ({
  ...eventsV1.RawDataEvent.fromPartial({ meta: { eventId: 'e1', eventType: 'raw.transactions' }, userId: 'u1', clientId: 'c1' }),
  payload,
  ...over,
});

describe('enrichRaw', () => {
  const items = [tx('CRD 1234 TESCO STORES 2341 LONDON GB', '-23.45'), tx('LINK ATM 23 HIGH STREET', '-20.00', { transactionCategory: 'ATM' }), tx('ACME LTD SALARY', '1850.00', { transactionCategory: 'CREDIT' })];

  it('one enrichment per transaction, aligned with the items', () => {
    const out = enrichRaw(raw({ $case: 'transactions', transactions: { transactions: items } }), []);
    expect(out.map((e) => [e.detailedCategory, e.source])).toEqual([
      ['FOOD_AND_DRINK_GROCERIES', 'merchant'],
      ['TRANSFER_OUT_WITHDRAWAL', 'rule'],
      ['INCOME_WAGES', 'rule'],
    ]);
    expect(out[0]).toMatchObject({ primaryCategory: 'FOOD_AND_DRINK', merchantKey: 'tesco', merchantName: 'Tesco', reason: 'merchant:tesco', version: '1.0.0', taxonomy: 'plaid-pfc-v1' });
    expect(enrichRaw(raw({ $case: 'pendingTransactions', pendingTransactions: { transactions: items.slice(0, 2) } }), [])).toHaveLength(2);
  });

  it('is deterministic: the same input gives equal output', () => {
    const event = raw({ $case: 'transactions', transactions: { transactions: items } });
    expect(enrichRaw(event, [])).toEqual(enrichRaw(eventsV1.RawDataEvent.decode(eventsV1.RawDataEvent.encode(event).finish()), []));
  });

  it('applies user rules given for the user, as source user', () => {
    const rules: UserRule[] = [{ id: 'r1', detailed: 'ENTERTAINMENT_OTHER_ENTERTAINMENT', merchantKey: 'tesco' }];
    const out = enrichRaw(raw({ $case: 'transactions', transactions: { transactions: items } }), rules);
    expect(out[0]).toMatchObject({ source: 'user', reason: 'user-rule:r1', detailedCategory: 'ENTERTAINMENT_OTHER_ENTERTAINMENT', primaryCategory: 'ENTERTAINMENT' });
    expect(out[1]!.source).toBe('rule');
  });

  it('other payloads pass through with no enrichments', () => {
    expect(enrichRaw(raw({ $case: 'balance', balance: eventsV1.RawBalance.fromPartial({ current: '10.00', currency: 'GBP' }) }), [])).toEqual([]);
    expect(enrichRaw(raw({ $case: 'accounts', accounts: { accounts: [eventsV1.RawAccount.fromPartial({ accountId: 'a' })] } }), [])).toEqual([]);
  });

  it('rejects what it cannot handle with a code and a reason', () => {
    const poison = (e: eventsV1.RawDataEvent): PoisonEvent => {
      try {
        enrichRaw(e, []);
      } catch (error) {
        return error as PoisonEvent;
      }
      throw new Error('no error');
    };
    expect(poison(raw(undefined))).toMatchObject({ code: 'unknown_payload' });
    expect(poison(raw({ $case: 'balance', balance: eventsV1.RawBalance.fromPartial({}) }, { userId: '' }))).toMatchObject({ code: 'missing_user_id' });
    expect(poison(raw({ $case: 'transactions', transactions: { transactions: [items[0]!, tx('X', '12,50')] } }))).toMatchObject({ code: 'invalid_amount', message: expect.stringContaining('transactions[1].amount') });
  });

  it('derives the enriched event id from the raw event id (stable, UUID-shaped, distinct)', () => {
    expect(enrichedEventId('a')).toBe(enrichedEventId('a'));
    expect(enrichedEventId('a')).not.toBe(enrichedEventId('b'));
    expect(enrichedEventId('a')).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});
