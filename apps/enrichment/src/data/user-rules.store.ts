/**
 * Users' own categorisation rules (collection `user_rules` in enrichment's database), through the driver collection
 * of the mongoose connection. One document per rule; `_id` is derived from (client, user, rule id), so a put with
 * the same rule id replaces the rule (idempotent) and one user's rule id can never overwrite another user's rule.
 */
import type { Connection } from '@ais/platform-mongo';
import type { UserRule, UserRuleSource } from '../domain/categorize';
import type { Direction } from '../domain/rules';
import type { PfcDetailed } from '@ais/contracts-events';

export const USER_RULES_COLLECTION = 'user_rules';

export const USER_RULES_INDEXES = {
  /** rulesFor / list / count: every rule of one user, in rule-id order. */
  byUser: 'user_rules_by_user',
} as const;

/** Most rules one user may hold (each enrichment of the user's transactions scans them). */
export const MAX_RULES_PER_USER = 500;

export interface StoredUserRule {
  ruleId: string;
  clientId: string;
  userId: string;
  detailed: PfcDetailed;
  merchantKey?: string;
  descriptionContains?: string;
  direction?: Direction;
}

interface UserRuleDoc extends StoredUserRule {
  _id: string;
  updatedAt: Date;
}

export function userRuleDocId(clientId: string, userId: string, ruleId: string): string {
  return JSON.stringify([clientId, userId, ruleId]);
}

export function toDomainRule(r: StoredUserRule): UserRule {
  return {
    id: r.ruleId,
    detailed: r.detailed,
    ...(r.merchantKey ? { merchantKey: r.merchantKey } : {}),
    ...(r.descriptionContains ? { descriptionContains: r.descriptionContains } : {}),
    ...(r.direction ? { direction: r.direction } : {}),
  };
}

export class UserRuleStore implements UserRuleSource {
  readonly collection;

  constructor(conn: Connection, collectionName = USER_RULES_COLLECTION) {
    this.collection = conn.collection<UserRuleDoc>(collectionName);
  }

  async ensureIndexes(): Promise<void> {
    await this.collection.createIndex({ clientId: 1, userId: 1, ruleId: 1 }, { name: USER_RULES_INDEXES.byUser });
  }

  /** The query behind list and rulesFor (exported for the explain() test). */
  cursorFor(clientId: string, userId: string) {
    return this.collection.find({ clientId, userId }).sort({ clientId: 1, userId: 1, ruleId: 1 }).limit(MAX_RULES_PER_USER);
  }

  async list(clientId: string, userId: string): Promise<StoredUserRule[]> {
    const docs = await this.cursorFor(clientId, userId).toArray();
    return docs.map(({ _id, updatedAt: _updatedAt, ...rule }) => rule);
  }

  /** The categoriser's port: a user's rules in a deterministic order (rule id), so enrichment is replayable. */
  async rulesFor(clientId: string, userId: string): Promise<readonly UserRule[]> {
    return (await this.list(clientId, userId)).map(toDomainRule);
  }

  async count(clientId: string, userId: string): Promise<number> {
    return this.collection.countDocuments({ clientId, userId });
  }

  /** Creates or replaces (same client, user and rule id). Returns whether the rule already existed. */
  async put(rule: StoredUserRule, now: Date): Promise<{ replaced: boolean }> {
    const _id = userRuleDocId(rule.clientId, rule.userId, rule.ruleId);
    const doc: UserRuleDoc = { _id, ...rule, updatedAt: now };
    const res = await this.collection.replaceOne({ _id }, doc, { upsert: true });
    return { replaced: res.matchedCount === 1 };
  }

  async exists(clientId: string, userId: string, ruleId: string): Promise<boolean> {
    return (await this.collection.countDocuments({ _id: userRuleDocId(clientId, userId, ruleId) }, { limit: 1 })) === 1;
  }

  /** Erasure: every rule of the user (`user_rules_by_user`). Returns how many. */
  async deleteUser(clientId: string, userId: string): Promise<number> {
    return (await this.collection.deleteMany({ clientId, userId })).deletedCount;
  }

  async delete(clientId: string, userId: string, ruleId: string): Promise<boolean> {
    const res = await this.collection.deleteOne({ _id: userRuleDocId(clientId, userId, ruleId) });
    return res.deletedCount === 1;
  }
}
