import { Schema, type Connection, type Model } from 'mongoose';

export interface ProbeDoc {
  _id: string;
  origin: string;
  eventId: string;
  requestedAt: Date;
  receivedAt: Date;
  deliveries: number;
}

const schema = new Schema<ProbeDoc>(
  {
    _id: { type: String, required: true },
    origin: { type: String, required: true },
    eventId: { type: String, required: true },
    requestedAt: { type: Date, required: true },
    receivedAt: { type: Date, required: true },
    deliveries: { type: Number, required: true },
  },
  { collection: 'probes', versionKey: false },
);

export class ProbeRepository {
  private readonly model: Model<ProbeDoc>;

  constructor(conn: Connection) {
    this.model = conn.models['Probe'] ?? conn.model<ProbeDoc>('Probe', schema);
  }

  /** Records a probe delivery: first one creates the record, redeliveries of new events count up. */
  async record(probe: { probeId: string; origin: string; eventId: string; requestedAt: Date }): Promise<void> {
    await this.model.updateOne(
      { _id: probe.probeId },
      {
        $setOnInsert: { origin: probe.origin, requestedAt: probe.requestedAt },
        $set: { eventId: probe.eventId, receivedAt: new Date() },
        $inc: { deliveries: 1 },
      },
      { upsert: true },
    );
  }

  async get(probeId: string): Promise<ProbeDoc | null> {
    return this.model.findById(probeId).lean<ProbeDoc>().exec();
  }
}
