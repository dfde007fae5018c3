// The environment the image, infra/compose.platform.yaml and infra/k8s/enrichment set is one this service accepts.
import { describeDeployedEnv } from '@ais/testing';
import { schema } from './config';

describeDeployedEnv('enrichment', schema);
