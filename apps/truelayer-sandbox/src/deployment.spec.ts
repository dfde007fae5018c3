// The environment the image, infra/compose.platform.yaml and infra/k8s/truelayer-sandbox set is one this service accepts.
import { describeDeployedEnv } from '@ais/testing';
import { configSchema as schema } from './config';

describeDeployedEnv('truelayer-sandbox', schema);
