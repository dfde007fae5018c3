/**
 * From the generated raw-event types (proto/ais/events/v1/raw_events.proto) to the domain's inputs. Type-only
 * imports: the domain stays free of transports. `RawTransaction` is already a `FetchedTransaction`.
 */
import type { eventsV1 } from '@ais/contracts-proto-ts';
import type { BalanceValues } from './balance';
import type { FetchedTransaction } from './dedupe';
import type { FetchedAccount } from './identity';

export function fromRawAccount(a: eventsV1.RawAccount): FetchedAccount {
  const n = a.accountNumber;
  return {
    kind: 'account',
    accountId: a.accountId,
    providerId: a.providerId,
    displayName: a.displayName,
    currency: a.currency,
    type: a.accountType,
    number: n?.number ?? '',
    sortCode: n?.sortCode ?? '',
    iban: n?.iban ?? '',
    routingNumber: n?.routingNumber ?? '',
    bsb: n?.bsb ?? '',
    swiftBic: n?.swiftBic ?? '',
  };
}

export function fromRawCard(c: eventsV1.RawCard): FetchedAccount {
  return {
    kind: 'card',
    accountId: c.accountId,
    providerId: c.providerId,
    displayName: c.displayName,
    currency: c.currency,
    type: c.cardType,
    partialCardNumber: c.partialCardNumber,
    nameOnCard: c.nameOnCard,
    cardNetwork: c.cardNetwork,
    validFrom: c.validFrom,
    validTo: c.validTo,
  };
}

export function fromRawTransaction(t: eventsV1.RawTransaction): FetchedTransaction {
  return t;
}

export function fromRawBalance(b: eventsV1.RawBalance): BalanceValues & { updateTimestamp?: Date | undefined } {
  return {
    currency: b.currency,
    current: b.current,
    available: b.available,
    overdraft: b.overdraft,
    creditLimit: b.creditLimit,
    updateTimestamp: b.updateTimestamp,
  };
}
